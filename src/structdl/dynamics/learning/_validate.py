"""Input checks shared by the learned models: one wording for every shape or value error."""

from __future__ import annotations

import torch
from torch import Tensor

from ..._errors import ConfigError, ShapeError
from ...structure._validate import require_flat_state, require_int

__all__ = ["canonical_rotation", "check_flat", "check_pair", "positive_float", "require_int"]


def positive_float(value: object, what: str, who: str) -> float:
    """Return ``value`` as a float if it is finite and > 0, else raise :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e300:
        raise ConfigError(
            f"{who}: {what} must be a finite number > 0 — expected e.g. {what}=0.1 — received "
            f"{value!r} — pass a positive float"
        )
    return float(value)


def check_flat(z: object, width: int, who: str) -> Tensor:
    """Raise :class:`ShapeError` unless ``z`` is a floating ``(batch, width)`` tensor."""
    return require_flat_state(z, width, who)


def check_pair(y: object, dim: int, who: str) -> tuple[Tensor, Tensor]:
    """Raise :class:`ShapeError` unless ``y`` is a pair ``(q, p)`` of ``(batch, dim)`` tensors."""
    if not isinstance(y, tuple) or len(y) != 2:
        raise ShapeError(
            f"{who}: wrong state — expected a pair (q, p) of (batch, {dim}) tensors — received "
            f"{type(y).__name__} — split the state into (q, p)"
        )
    q, p = (check_flat(part, dim, who) for part in y)
    if q.shape != p.shape:
        raise ShapeError(
            f"{who}: q and p differ in shape — expected equal shapes — received "
            f"{tuple(q.shape)} and {tuple(p.shape)} — pass matching halves"
        )
    return q, p


def canonical_rotation(z: Tensor) -> Tensor:
    """``J z`` for ``z = (q, p)``: ``(p, −q)`` (the Hamiltonian vector field of ``∇H = z``)."""
    d = z.shape[-1] // 2
    return torch.cat((z[..., d:], -z[..., :d]), dim=-1)
