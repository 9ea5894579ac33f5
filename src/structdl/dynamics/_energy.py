"""The structure matrix ``S`` of an energy system ``y' = S∇E(y)``, classified once.

Discrete-gradient methods conserve ``E`` for skew ``S`` and dissipate it when ``S + Sᵀ`` is
negative semidefinite; a field exposes the class as ``energy_structure`` (declared data that the
integrators' claims read).
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["classify_structure_matrix"]

#: Relative tolerance for "skew" and "negative semidefinite" (coefficients are O(1) numbers).
_RELATIVE = 1e-12


def classify_structure_matrix(matrix: Any) -> str:
    """``"skew"`` (``S = −Sᵀ``), ``"dissipative"`` (``S + Sᵀ ⪯ 0``) or ``"none"``.

    Example:
        >>> classify_structure_matrix([[0.0, 1.0], [-1.0, 0.0]])
        'skew'
        >>> classify_structure_matrix([[-1.0, 0.0], [0.0, 0.0]])
        'dissipative'
    """
    s = torch.as_tensor(matrix).detach().to(device="cpu", dtype=torch.float64)
    sym = s + s.T
    scale = max(1.0, float(s.abs().max()))
    if float(sym.abs().max()) <= _RELATIVE * scale:
        return "skew"
    if float(torch.linalg.eigvalsh(sym).max()) <= _RELATIVE * scale:
        return "dissipative"
    return "none"
