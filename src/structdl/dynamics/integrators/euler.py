"""Forward (explicit) Euler: the ResNet layer ``y + h f(t, y)``."""

from __future__ import annotations

from typing import ClassVar, final

from torch import Tensor

from .. import tableau as tableaux
from .._base import Integrator, State, VectorField, state_add
from ._claims import RUNGE_KUTTA_CLAIMS
from ._common import field_evaluator

__all__ = ["Euler"]


@final
class Euler(Integrator):
    """Forward Euler step ``y₁ = y₀ + h f(t₀, y₀)``.

    Order 1, explicit, for any field (tensor or partitioned state). It preserves no geometric
    structure by itself: it is not symplectic and drifts in energy on Hamiltonian fields. On a
    gradient-flow field ``−Aᵀσ(Ax + b)`` with ``σ' ∈ [0, L]`` it is non-expansive when
    ``h ≤ 2/(L‖A‖²)``: it is the one-stage tableau ``euler`` (circle-contractivity radius 1)
    and declares the Runge–Kutta claims, which :func:`structdl.structure.guarantees` evaluates.
    No exact inverse is available
    (the inverse needs a fixed-point solve, see the i-ResNet layers of ``structdl.invertible``).

    Example:
        >>> import torch
        >>> from structdl.dynamics.physics import HarmonicOscillator
        >>> y0 = (torch.ones(1, 1), torch.zeros(1, 1))
        >>> q, p = Euler().step(HarmonicOscillator(), 0.0, y0, 0.1)
        >>> (round(q.item(), 6), round(p.item(), 6))
        (1.0, -0.1)
    """

    order: ClassVar[int] = 1
    tableau = tableaux.euler
    claims = RUNGE_KUTTA_CLAIMS

    def advance(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """``y + h f(t, y)`` on validated inputs."""
        return state_add(y, field_evaluator(field)(t, y), h)
