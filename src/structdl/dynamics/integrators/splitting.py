"""Splitting methods: compose the flows of the parts of ``f = f⁽¹⁾ + … + f⁽ᵐ⁾``.

Lie–Trotter ``Φ_h = φ⁽ᵐ⁾_h ∘ … ∘ φ⁽¹⁾_h`` (order 1) and Strang
``Φ_h = φ⁽¹⁾_{h/2} ∘ … ∘ φ⁽ᵐ⁻¹⁾_{h/2} ∘ φ⁽ᵐ⁾_h ∘ φ⁽ᵐ⁻¹⁾_{h/2} ∘ … ∘ φ⁽¹⁾_{h/2}`` (order 2,
symmetric). A composition keeps every structure that each sub-flow keeps (symplecticity, volume,
a first integral, a symmetry): with exact flows of shears the result is explicit, volume
preserving and explicitly invertible.

A split field has kind ``"split"`` and a sequence ``parts`` of vector fields. Each part is advanced
by its exact flow ``exact_flow(t, y, h)`` when it has one (such a part declares the ``claims`` of
that flow); otherwise by the ``sub_integrator`` given to the splitting method. A splitting
method claims a property when every part's sub-step keeps it
(:class:`~structdl.structure.declarations.EveryPartFlow`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, final

from torch import Tensor, nn

from ..._errors import ConfigError, IncompatibleSchemeError
from ...structure.declarations import Claim, EveryPartFlow, HasKinds, OfAttribute
from ...structure.properties import (
    Invertible,
    NonExpansive,
    Reversible,
    Symplectic,
    VolumePreserving,
)
from .._base import Integrator, State, VectorField, state_add
from .._field_base import SHEAR_FLOW_CLAIMS

#: The properties a composition keeps when every sub-step keeps them.
_COMPOSABLE = (Symplectic(), VolumePreserving(), Invertible(), NonExpansive(1.0))

__all__ = ["Drift", "Kick", "LieTrotter", "SplitField", "Strang", "separable_split"]


@final
class SplitField(VectorField):
    """The sum ``f(t, y) = Σ_k f⁽ᵏ⁾(t, y)`` of sub-fields, of kind ``"split"``.

    The kinds of the sum are ``"split"`` plus those every part shares among ``"general"`` and
    ``"partitioned"`` (the state layout), so any general integrator also applies to the sum.

    Args:
        parts: at least two vector fields on the same state layout.
    """

    def __init__(self, parts: Sequence[VectorField]) -> None:
        super().__init__()
        parts = list(parts)
        if len(parts) < 2 or not all(isinstance(p, VectorField) for p in parts):
            raise ConfigError(
                "SplitField needs at least two VectorField parts, got "
                f"{[type(p).__name__ for p in parts]}; pass e.g. SplitField([kick, drift])"
            )
        self.parts = nn.ModuleList(parts)
        shared = frozenset.intersection(*(p.kinds for p in parts)) & {"general", "partitioned"}
        self.kinds = frozenset({"split"}) | shared

    def forward(self, t: float | Tensor, y: State) -> State:
        """``Σ_k f⁽ᵏ⁾(t, y)``."""
        total = self.parts[0](t, y)
        for part in self.parts[1:]:
            total = state_add(total, part(t, y))
        return total


_OF_HAMILTONIAN = OfAttribute("hamiltonian", HasKinds(frozenset({"hamiltonian"})))


@final
class Kick(VectorField):
    """Potential shear of a separable Hamiltonian: ``q' = 0``, ``p' = −∂_qH(t, q)``.

    Exact flow ``(q, p) ↦ (q, p − h ∂_qH(t, q))`` (autonomous in ``q``, so exact for
    ``H`` independent of ``t``); symplectic and explicitly invertible.
    """

    kinds = frozenset({"partitioned", "shear"})
    claims = (*SHEAR_FLOW_CLAIMS, Claim(Symplectic(), _OF_HAMILTONIAN, "a kick of H is symplectic"))

    def __init__(self, hamiltonian: VectorField) -> None:
        super().__init__()
        self.hamiltonian = hamiltonian

    def forward(self, t: float | Tensor, y: State) -> State:
        """``(0, −∂_qH)``."""
        q, _ = y
        return q * 0.0, -self.hamiltonian.grad_q(t, q)

    def exact_flow(self, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """``(q, p − h ∂_qH(t, q))``."""
        q, p = y
        return q, p - h * self.hamiltonian.grad_q(t, q)


@final
class Drift(VectorField):
    """Kinetic shear of a separable Hamiltonian: ``q' = ∂_pH(t, p)``, ``p' = 0``."""

    kinds = frozenset({"partitioned", "shear"})
    claims = (
        *SHEAR_FLOW_CLAIMS,
        Claim(Symplectic(), _OF_HAMILTONIAN, "a drift of H is symplectic"),
    )

    def __init__(self, hamiltonian: VectorField) -> None:
        super().__init__()
        self.hamiltonian = hamiltonian

    def forward(self, t: float | Tensor, y: State) -> State:
        """``(∂_pH, 0)``."""
        _, p = y
        return self.hamiltonian.grad_p(t, p), p * 0.0

    def exact_flow(self, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """``(q + h ∂_pH(t, p), p)``."""
        q, p = y
        return q + h * self.hamiltonian.grad_p(t, p), p


def separable_split(hamiltonian: VectorField) -> SplitField:
    """Split a separable Hamiltonian field into ``[Kick, Drift]`` (``Strang`` of it is Verlet)."""
    if "separable" not in hamiltonian.kinds:
        raise IncompatibleSchemeError(
            f"separable_split needs a field of kind 'separable', got {hamiltonian.name} of kind "
            f"{sorted(hamiltonian.kinds)}"
        )
    return SplitField([Kick(hamiltonian), Drift(hamiltonian)])


class _Splitting(Integrator):
    accepts: ClassVar[tuple[frozenset[str], ...]] = (frozenset({"split"}),)
    claims: ClassVar[tuple[Claim, ...]] = tuple(
        Claim(prop, EveryPartFlow(prop), "a composition keeps what every sub-step keeps")
        for prop in _COMPOSABLE
    )

    def __init__(self, sub_integrator: Integrator | None = None) -> None:
        if sub_integrator is not None and not isinstance(sub_integrator, Integrator):
            raise ConfigError(
                f"{type(self).__name__}: sub_integrator must be an Integrator or None — expected "
                f"e.g. RungeKutta('rk4') — received {type(sub_integrator).__name__} — pass an "
                f"instance"
            )
        self.sub_integrator = sub_integrator

    @property
    def name(self) -> str:
        """Class name, with the sub-integrator if any."""
        sub = self.sub_integrator
        return type(self).__name__ + (f"({sub.name})" if sub is not None else "")

    @property
    def is_implicit(self) -> bool:
        """Implicit when the sub-integrator is."""
        return self.sub_integrator is not None and self.sub_integrator.is_implicit

    def has_inverse(self) -> bool:
        """An inverse step is attempted: exact sub-flows invert by ``−h``, other parts need a
        sub-integrator with an inverse step (a part that has neither is named in the error).
        Whether a given split field is invertible is its ``Invertible`` claim."""
        return True

    def _flow(self, part: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        if hasattr(part, "exact_flow"):
            return part.exact_flow(t, y, h)
        if self.sub_integrator is None:
            raise IncompatibleSchemeError(
                f"{self.name} cannot advance part {part.name} of kind {sorted(part.kinds)}: it "
                "has no exact_flow(t, y, h) and no sub_integrator was given; pass e.g. "
                f"{type(self).__name__}(sub_integrator=RungeKutta('rk4'))"
            )
        return self.sub_integrator.advance(part, t, y, h)

    def _inverse_flow(
        self, part: VectorField, t: float | Tensor, y: State, h: float | Tensor
    ) -> State:
        # Exact flows form a group: φ_{t+h, −h} ∘ φ_{t, h} = id.
        if hasattr(part, "exact_flow"):
            return part.exact_flow(t + h, y, -h)
        if self.sub_integrator is None or not self.sub_integrator.has_inverse():
            raise IncompatibleSchemeError(
                f"{self.name} has no exact inverse — expected parts with exact flows or a "
                f"sub-integrator with an inverse step — received part {part.name} without an "
                "exact flow — use exact shears or a symplectic sub-integrator"
            )
        return self.sub_integrator.advance_inverse(part, t, y, h)

    def _schedule(self, m: int) -> list[tuple[int, float, float]]:
        """``(part index, start offset, fraction of h)`` for each sub-step, in order."""
        raise NotImplementedError

    def advance(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """One splitting step on validated inputs."""
        for index, offset, fraction in self._schedule(len(field.parts)):
            y = self._flow(field.parts[index], t + offset * h, y, fraction * h)
        return y

    def advance_inverse(
        self, field: VectorField, t: float | Tensor, y_next: State, h: float | Tensor
    ) -> State:
        """Undo the sub-steps in reverse order (explicit for exact shears)."""
        y = y_next
        for index, offset, fraction in reversed(self._schedule(len(field.parts))):
            y = self._inverse_flow(field.parts[index], t + offset * h, y, fraction * h)
        return y


@final
class LieTrotter(_Splitting):
    """Lie–Trotter splitting ``Φ_h = φ⁽ᵐ⁾_h ∘ … ∘ φ⁽¹⁾_h`` (part 1 first). Order 1.

    Args:
        sub_integrator: integrator for parts without ``exact_flow`` (``None``: every part must
            have an exact flow).

    Example:
        >>> import torch
        >>> from structdl.dynamics.physics import HarmonicOscillator
        >>> from structdl.dynamics.integrators import SymplecticEuler
        >>> ho = HarmonicOscillator()
        >>> y = (torch.ones(1, 1), torch.zeros(1, 1))
        >>> a = LieTrotter().step(separable_split(ho), 0.0, y, 0.1)
        >>> b = SymplecticEuler("kick-drift").step(ho, 0.0, y, 0.1)
        >>> bool(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]))
        True
    """

    order: ClassVar[int] = 1

    def _schedule(self, m: int) -> list[tuple[int, float, float]]:
        return [(k, 0.0, 1.0) for k in range(m)]


@final
class Strang(_Splitting):
    """Strang splitting: half steps of parts ``1..m−1``, a full step of part ``m``, then back.

    Order 2 (``min(2, sub_integrator.order)`` with a sub-integrator) and symmetric, hence
    time-reversible when the sub-flows are exact or symmetric. ``Strang()`` on
    ``separable_split(H)`` is exactly kick–drift–kick Störmer–Verlet.

    Args:
        sub_integrator: integrator for parts without ``exact_flow``.
    """

    claims: ClassVar[tuple[Claim, ...]] = (
        *_Splitting.claims,
        Claim(
            Reversible(),
            EveryPartFlow(Reversible()),
            "a symmetric composition of reversible sub-flows is symmetric",
        ),
    )

    def __init__(self, sub_integrator: Integrator | None = None) -> None:
        super().__init__(sub_integrator)
        self.order = 2 if sub_integrator is None else min(2, sub_integrator.order)

    def _schedule(self, m: int) -> list[tuple[int, float, float]]:
        forward = [(k, 0.0, 0.5) for k in range(m - 1)]
        backward = [(k, 0.5, 0.5) for k in reversed(range(m - 1))]
        return [*forward, (m - 1, 0.0, 1.0), *backward]
