"""Forward (explicit) Euler: the ResNet layer ``y + h f(t, y)``."""

from __future__ import annotations

from typing import ClassVar, final

from torch import Tensor

from ...structure.properties import Property
from .._base import Integrator, State, VectorField, state_add
from ._common import field_evaluator, validate_inputs

__all__ = ["Euler"]


@final
class Euler(Integrator):
    """Forward Euler step ``y₁ = y₀ + h f(t₀, y₀)``.

    Order 1, explicit, for any field (tensor or partitioned state). It preserves no geometric
    structure by itself: it is not symplectic and drifts in energy on Hamiltonian fields. On a
    gradient-flow field ``−Aᵀσ(Ax + b)`` with ``σ' ∈ [0, L]`` it is non-expansive when
    ``h ≤ 2/(L‖A‖²)``; that conditional guarantee is derived by
    :func:`structdl.structure.guarantees`, not declared here. No exact inverse is available
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
    requires: ClassVar[frozenset[str]] = frozenset()
    preserves: ClassVar[frozenset[Property]] = frozenset()

    def step(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """Advance ``y`` from ``t`` to ``t + h`` with one Euler step."""
        validate_inputs(self, field, y, h)
        return state_add(y, field(t, y), h)

    def _step(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """:meth:`step` without validation (inputs validated by the caller)."""
        return state_add(y, field_evaluator(field, checked=False)(t, y), h)
