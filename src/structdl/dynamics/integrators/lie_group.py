"""Lie-group integrators for ``y' = ξ(t, y) · y`` on a homogeneous manifold.

The field (kind ``"lie"``) exposes ``xi(t, y)``, an element of the Lie algebra, and
``act(g, y)``, the action of a group element ``g`` (a matrix of shape ``(batch, n, n)``) on the
state. Two representations of the algebra element are understood::

    so(3):  a 3-vector ω of shape (batch, 3)       exp by Rodrigues' formula, [a, b] = a × b
    matrix: a matrix ξ of shape (batch, n, n)      exp by torch.linalg.matrix_exp, [A, B] = AB − BA
            (so(n) for spheres / Stiefel; any matrix algebra works)

Because every update is ``y₁ = exp(u) · y₀`` with ``u`` in the algebra, the state stays on the
orbit of ``y₀`` (the sphere, the Stiefel manifold, …) up to round-off, for every step size.
"""

from __future__ import annotations

from typing import ClassVar, final

from torch import Tensor

from ..._errors import ConfigError
from ...structure.declarations import ALWAYS, Claim, FromContext
from ...structure.properties import OnManifold
from .._base import Integrator, State, VectorField
from .._lie_algebra import check_algebra, dexpinv, lie_exp

__all__ = ["RKMK", "LieEuler"]


class _LieMethod(Integrator):
    accepts: ClassVar[tuple[frozenset[str], ...]] = (frozenset({"lie"}),)
    claims: ClassVar[tuple[Claim, ...]] = (
        Claim(
            OnManifold(FromContext("field.manifold")),
            ALWAYS,
            "y₁ = exp(u)·y₀ with u in the Lie algebra stays on the orbit of y₀ (the field's "
            "manifold)",
        ),
    )

    def _xi(self, field: VectorField, t: float | Tensor, y: State) -> Tensor:
        xi = field.xi(t, y)
        check_algebra(xi, self.name)
        return xi

    def _advance(self, field: VectorField, u: Tensor, y: State) -> State:
        return field.act(lie_exp(u), y)


@final
class LieEuler(_LieMethod):
    """Lie–Euler ``y₁ = exp(h ξ(t, y₀)) · y₀``.

    Order 1, explicit; the state stays exactly on the orbit (e.g. ``‖y‖ = 1`` on S²) for every
    step size, up to round-off.

    Example:
        >>> import torch
        >>> from structdl.dynamics.physics import SphereRotation
        >>> field = SphereRotation(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
        >>> y = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
        >>> y1 = LieEuler().step(field, 0.0, y, 0.3)
        >>> round(float(y1.norm()), 14)
        1.0
    """

    order: ClassVar[int] = 1

    def advance(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """One Lie–Euler step on validated inputs."""
        return self._advance(field, h * self._xi(field, t, y), y)


@final
class RKMK(_LieMethod):
    """Runge–Kutta–Munthe-Kaas: a Runge–Kutta method in the Lie algebra, mapped back by ``exp``.

    ``order=2`` (Heun in the algebra, ``dexp⁻¹ ≈ id``)::

        k₁ = ξ(t, y),  k₂ = ξ(t + h, exp(h k₁) y),  y₁ = exp(h (k₁ + k₂)/2) y

    ``order=4`` (classical RK4 in the algebra, ``dexp⁻¹`` up to ``[u, [u, ·]]``)::

        u₁ = 0,        k₁ = h ξ(t, y)
        u₂ = k₁/2,     k₂ = h dexp⁻¹_{u₂}(ξ(t + h/2, exp(u₂) y))
        u₃ = k₂/2,     k₃ = h dexp⁻¹_{u₃}(ξ(t + h/2, exp(u₃) y))
        u₄ = k₃,       k₄ = h dexp⁻¹_{u₄}(ξ(t + h, exp(u₄) y))
        y₁ = exp((k₁ + 2k₂ + 2k₃ + k₄)/6) y

    Explicit; stays on the orbit to round-off (Munthe-Kaas 1998; Hairer–Lubich–Wanner IV.8).

    Args:
        order: 2 or 4.
    """

    def __init__(self, order: int = 4) -> None:
        if isinstance(order, bool) or order not in (2, 4):
            raise ConfigError(
                f"RKMK: unsupported order — expected 2 or 4 — received {order!r} — pass order=4"
            )
        self.order = order

    @property
    def name(self) -> str:
        """``RKMK(order=p)``."""
        return f"RKMK(order={self.order})"

    def advance(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """One RKMK step on validated inputs."""
        k1 = h * self._xi(field, t, y)
        if self.order == 2:
            k2 = h * self._xi(field, t + h, self._advance(field, k1, y))
            return self._advance(field, 0.5 * (k1 + k2), y)
        u2 = 0.5 * k1
        k2 = h * dexpinv(u2, self._xi(field, t + 0.5 * h, self._advance(field, u2, y)), 3)
        u3 = 0.5 * k2
        k3 = h * dexpinv(u3, self._xi(field, t + 0.5 * h, self._advance(field, u3, y)), 3)
        u4 = k3
        k4 = h * dexpinv(u4, self._xi(field, t + h, self._advance(field, u4, y)), 3)
        return self._advance(field, (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0, y)
