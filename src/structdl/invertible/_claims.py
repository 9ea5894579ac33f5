"""Shared claim helpers: the bi-Lipschitz claim of a map whose two constants are known."""

from __future__ import annotations

from ..structure.declarations import ALWAYS, Claim
from ..structure.properties import BiLipschitz

__all__ = ["bilipschitz_claim"]


def bilipschitz_claim(forward: float, inverse: float, reason: str) -> Claim:
    """``BiLipschitz(forward, inverse)`` that holds for the current parameters.

    The constants are read from the parameters when the claims are asked for, so the claim is
    always about the map as it is now (after training, not at initialisation).
    """
    return Claim(BiLipschitz(forward=float(forward), inverse=float(inverse)), ALWAYS, reason)
