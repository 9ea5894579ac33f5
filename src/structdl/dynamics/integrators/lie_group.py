"""Lie-group integrators for ``y' = ξ(t, y) · y`` on a homogeneous manifold (METHODS §3.4).

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

import torch
from torch import Tensor

from ..._errors import ConfigError, ShapeError
from ...structure.properties import OnManifold, Property
from .._base import Integrator, State, VectorField
from ._common import validate_inputs

__all__ = ["RKMK", "LieEuler", "commutator", "dexpinv", "hat", "lie_exp", "so3_exp"]

#: Below this angle Rodrigues' coefficients use their Taylor series (no 0/0, smooth gradients).
_SMALL_ANGLE = 1e-3


def hat(omega: Tensor) -> Tensor:
    """The skew matrix ``ω̂`` with ``ω̂ v = ω × v``; ``(…, 3) → (…, 3, 3)``."""
    x, y, z = omega.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack(
        (
            torch.stack((zero, -z, y), dim=-1),
            torch.stack((z, zero, -x), dim=-1),
            torch.stack((-y, x, zero), dim=-1),
        ),
        dim=-2,
    )


def so3_exp(omega: Tensor) -> Tensor:
    """Rodrigues' formula ``exp(ω̂) = I + (sin θ/θ) ω̂ + ((1 − cos θ)/θ²) ω̂²``, ``θ = ‖ω‖``.

    Args:
        omega: rotation vectors, shape ``(…, 3)``.

    Returns:
        rotation matrices, shape ``(…, 3, 3)``, orthogonal to round-off.
    """
    theta2 = (omega * omega).sum(-1)
    small = theta2 < _SMALL_ANGLE**2
    safe2 = torch.where(small, torch.ones_like(theta2), theta2)
    safe = torch.sqrt(safe2)
    a = torch.where(small, 1.0 - theta2 / 6.0 + theta2**2 / 120.0, torch.sin(safe) / safe)
    b = torch.where(small, 0.5 - theta2 / 24.0 + theta2**2 / 720.0, (1.0 - torch.cos(safe)) / safe2)
    k = hat(omega)
    eye = torch.eye(3, dtype=omega.dtype, device=omega.device).expand_as(k)
    return eye + a[..., None, None] * k + b[..., None, None] * (k @ k)


def _is_vector(xi: Tensor) -> bool:
    return xi.dim() == 2 and xi.shape[-1] == 3


def _check_algebra(xi: Tensor, who: str) -> None:
    if _is_vector(xi):
        return
    if xi.dim() >= 3 and xi.shape[-1] == xi.shape[-2]:
        return
    raise ShapeError(
        f"{who}: xi(t, y) must return an so(3) vector of shape (batch, 3) or a square matrix of "
        f"shape (batch, n, n), got shape {tuple(xi.shape)}"
    )


def lie_exp(u: Tensor) -> Tensor:
    """Group element ``exp(u)``: Rodrigues for so(3) vectors, ``matrix_exp`` for matrices."""
    return so3_exp(u) if _is_vector(u) else torch.linalg.matrix_exp(u)


def commutator(a: Tensor, b: Tensor) -> Tensor:
    """Lie bracket ``[a, b]``: the cross product for so(3) vectors, ``ab − ba`` for matrices."""
    if _is_vector(a):
        return torch.linalg.cross(a, b, dim=-1)
    return a @ b - b @ a


def dexpinv(u: Tensor, v: Tensor, terms: int) -> Tensor:
    """Truncated ``dexp_u⁻¹(v) = v − ½[u, v] + (1/12)[u, [u, v]] − …`` (Bernoulli numbers).

    Args:
        u: algebra element (the current increment).
        v: algebra element.
        terms: how many terms to keep (1: ``v``; 2: up to ``[u, v]``; 3: up to ``[u, [u, v]]``).
            An RKMK method of order ``p`` needs the terms up to order ``p − 2`` in ``u``.
    """
    out = v
    if terms >= 2:
        first = commutator(u, v)
        out = out - 0.5 * first
        if terms >= 3:
            out = out + commutator(u, first) / 12.0
    return out


class _LieMethod(Integrator):
    requires: ClassVar[frozenset[str]] = frozenset({"lie"})
    preserves: ClassVar[frozenset[Property]] = frozenset(
        {OnManifold("orbit of the group action (e.g. the sphere)")}
    )

    def _xi(self, field: VectorField, t: float | Tensor, y: State) -> Tensor:
        xi = field.xi(t, y)
        _check_algebra(xi, self.name)
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

    def step(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """One Lie–Euler step from ``t`` to ``t + h``."""
        validate_inputs(self, field, y, h)
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
        if order not in (2, 4):
            raise ConfigError(f"RKMK: order must be 2 or 4, got {order!r}")
        self.order = order

    @property
    def name(self) -> str:
        """``RKMK(order=p)``."""
        return f"RKMK(order={self.order})"

    def step(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """One RKMK step from ``t`` to ``t + h``."""
        validate_inputs(self, field, y, h)
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
