"""Explicit symplectic methods for separable Hamiltonians ``H(q, p) = T(p) + V(q)``.

Each method is a composition of two kinds of shears (exact flows of the kinetic and the
potential part), so it is explicit, symplectic, volume preserving and explicitly invertible::

    kick  (potential shear):  p ← p − τ ∂_q H(t, q)        (q unchanged)
    drift (kinetic shear):    q ← q + τ ∂_p H(t, p)        (p unchanged)

A state is the pair ``(q, p)``; the field must be of kinds ``{"partitioned", "hamiltonian",
"separable"}`` and expose ``grad_q(t, q)`` and ``grad_p(t, p)``.
"""

from __future__ import annotations

from typing import ClassVar, final

from torch import Tensor

from .._base import Integrator, State, VectorField
from .._field_base import check_option
from ._claims import EXPLICIT_SHEARS
from ._common import Gradient, separable_gradients

__all__ = ["StormerVerlet", "SymplecticEuler", "Yoshida4"]

_SEPARABLE = frozenset({"partitioned", "hamiltonian", "separable"})


#: ``(∂H/∂q, ∂H/∂p)`` of one field, see
#: :func:`~structdl.dynamics.integrators._common.separable_gradients`.
_Grads = tuple[Gradient, Gradient]


def _kick(grads: _Grads, t: float | Tensor, q: Tensor, p: Tensor, tau: float | Tensor):
    return q, p - tau * grads[0](t, q)


def _drift(grads: _Grads, t: float | Tensor, q: Tensor, p: Tensor, tau: float | Tensor):
    return q + tau * grads[1](t, p), p


@final
class SymplecticEuler(Integrator):
    """Symplectic Euler: one kick and one drift.

    ``variant="kick-drift"`` (default): ``p₁ = p₀ − h ∂_qH(t, q₀)``, ``q₁ = q₀ + h ∂_pH(t, p₁)``.
    ``variant="drift-kick"``: ``q₁ = q₀ + h ∂_pH(t, p₀)``, ``p₁ = p₀ − h ∂_qH(t, q₁)``.

    Order 1, explicit, symplectic and volume preserving for every separable Hamiltonian; not
    symmetric (the two variants are each other's adjoints). The inverse is explicit: undo the
    shears in reverse order.

    Args:
        variant: ``"kick-drift"`` or ``"drift-kick"``.

    Example:
        >>> import torch
        >>> from structdl.dynamics.physics import HarmonicOscillator
        >>> se, ho = SymplecticEuler(), HarmonicOscillator()
        >>> y = (torch.ones(1, 1), torch.zeros(1, 1))
        >>> back = se.inverse_step(ho, 0.0, se.step(ho, 0.0, y, 0.1), 0.1)
        >>> bool(torch.allclose(back[0], y[0]) and torch.allclose(back[1], y[1]))
        True
    """

    order: ClassVar[int] = 1
    accepts = (_SEPARABLE,)
    claims = EXPLICIT_SHEARS
    VARIANTS: ClassVar[tuple[str, ...]] = ("kick-drift", "drift-kick")

    def __init__(self, variant: str = "kick-drift") -> None:
        check_option(variant, self.VARIANTS, "SymplecticEuler variant")
        self.variant = variant

    def advance(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """One kick–drift (or drift–kick) step on validated inputs."""
        grads = separable_gradients(field)
        q, p = y
        if self.variant == "kick-drift":
            q, p = _kick(grads, t, q, p, h)
            return _drift(grads, t, q, p, h)
        q, p = _drift(grads, t, q, p, h)
        return _kick(grads, t, q, p, h)

    def advance_inverse(
        self, field: VectorField, t: float | Tensor, y_next: State, h: float | Tensor
    ) -> State:
        """Exact explicit inverse: the two shears undone in reverse order."""
        grads = separable_gradients(field)
        q, p = y_next
        if self.variant == "kick-drift":
            q, p = _drift(grads, t, q, p, -h)
            return _kick(grads, t, q, p, -h)
        q, p = _kick(grads, t, q, p, -h)
        return _drift(grads, t, q, p, -h)


def _verlet(
    grads: _Grads, t: float | Tensor, q: Tensor, p: Tensor, h: float | Tensor, variant: str
) -> tuple[Tensor, Tensor]:
    half = 0.5 * h
    if variant == "kick-drift-kick":
        q, p = _kick(grads, t, q, p, half)
        q, p = _drift(grads, t + half, q, p, h)
        return _kick(grads, t + h, q, p, half)
    q, p = _drift(grads, t, q, p, half)
    q, p = _kick(grads, t + half, q, p, h)
    return _drift(grads, t + h, q, p, half)


@final
class StormerVerlet(Integrator):
    """Störmer–Verlet / leapfrog: the symmetric composition of half-kick, drift, half-kick.

    ``"kick-drift-kick"`` (velocity Verlet, default)::

        p_{½} = p₀ − (h/2) ∂_qH(t, q₀)
        q₁    = q₀ + h ∂_pH(t + h/2, p_{½})
        p₁    = p_{½} − (h/2) ∂_qH(t + h, q₁)

    and ``"drift-kick-drift"`` (position Verlet) with the roles of ``q`` and ``p`` exchanged.
    Order 2, explicit, symplectic, volume preserving and symmetric, so time-reversible: the inverse
    is the same step with ``−h`` started at ``t + h``.

    Example:
        >>> import torch
        >>> from structdl.dynamics.physics import Pendulum
        >>> sv, pend = StormerVerlet(), Pendulum()
        >>> y = (torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64))
        >>> back = sv.step(pend, 0.1, sv.step(pend, 0.0, y, 0.1), -0.1)
        >>> float((back[0] - y[0]).abs().max()) < 1e-15
        True
    """

    order: ClassVar[int] = 2
    accepts = (_SEPARABLE,)
    is_symmetric: ClassVar[bool] = True
    claims = EXPLICIT_SHEARS
    VARIANTS: ClassVar[tuple[str, ...]] = ("kick-drift-kick", "drift-kick-drift")

    def __init__(self, variant: str = "kick-drift-kick") -> None:
        check_option(variant, self.VARIANTS, "StormerVerlet variant")
        self.variant = variant

    def advance(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """One Störmer–Verlet step on validated inputs."""
        return _verlet(separable_gradients(field), t, y[0], y[1], h, self.variant)

    def advance_inverse(
        self, field: VectorField, t: float | Tensor, y_next: State, h: float | Tensor
    ) -> State:
        """Exact inverse by symmetry: ``Φ_h⁻¹ = Φ_{−h}`` (started at ``t + h``)."""
        return _verlet(separable_gradients(field), t + h, y_next[0], y_next[1], -h, self.variant)


#: Yoshida's triple-jump weights: ``2 w₁ + w₀ = 1`` and ``2 w₁³ + w₀³ = 0`` (kills the h³ error).
_W1 = 1.0 / (2.0 - 2.0 ** (1.0 / 3.0))
_W0 = -(2.0 ** (1.0 / 3.0)) / (2.0 - 2.0 ** (1.0 / 3.0))


@final
class Yoshida4(Integrator):
    """Yoshida's fourth-order triple jump ``Φ_h = V_{w₁h} ∘ V_{w₀h} ∘ V_{w₁h}`` of Verlet ``V``.

    Weights ``w₁ = 1/(2 − 2^{1/3})``, ``w₀ = −2^{1/3}/(2 − 2^{1/3})`` (Yoshida 1990). A symmetric
    composition of symmetric symplectic maps: order 4, explicit, symplectic, volume preserving and
    time-reversible (inverse = the step with ``−h`` started at ``t + h``). The middle sub-step runs
    backwards in time (``w₀ < 0``).
    """

    order: ClassVar[int] = 4
    accepts = (_SEPARABLE,)
    is_symmetric: ClassVar[bool] = True
    claims = EXPLICIT_SHEARS

    def advance(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """One triple-jump step on validated inputs."""
        return _triple_jump(separable_gradients(field), t, y[0], y[1], h)

    def advance_inverse(
        self, field: VectorField, t: float | Tensor, y_next: State, h: float | Tensor
    ) -> State:
        """Exact inverse by symmetry of the composition."""
        return _triple_jump(separable_gradients(field), t + h, y_next[0], y_next[1], -h)


def _triple_jump(
    grads: _Grads, t: float | Tensor, q: Tensor, p: Tensor, h: float | Tensor
) -> tuple[Tensor, Tensor]:
    for start, weight in ((0.0, _W1), (_W1, _W0), (_W1 + _W0, _W1)):
        q, p = _verlet(grads, t + start * h, q, p, weight * h, "kick-drift-kick")
    return q, p
