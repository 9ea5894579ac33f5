"""Runge–Kutta methods as stage data, and their adjoint (costate) tableaux.

Every integrator whose step is a (partitioned) Runge–Kutta method is read here as *stage data*:
one :class:`~structdl.dynamics.tableau.ButcherTableau` per part of the state (one part for a
tensor state, two for a pair ``(q, p)``)::

    Y_i^p = y^p + h Σ_j a^p_ij K_j^p,   K_i = f(t + c_i h, Y_i),   y₁^p = y^p + h Σ_i b^p_i K_i^p

Discretise-then-optimise turns such a method into a *partitioned* method for state and costate:
the costate ``λ`` (the gradient of the loss with respect to the state) is advanced by the
adjoint tableau ``ā_ij = b_j − b_j a_ji / b_i``, ``b̄ = b`` (Hager 2000; Sanz-Serna 2016). The
pair ``(A, Ā)`` satisfies ``b_i ā_ij + b_j a_ji = b_i b_j``: it is a symplectic partitioned
Runge–Kutta method, which is why the discrete state–costate map of one step is symplectic.
The adjoint needs every ``b_i ≠ 0``; a tableau with a zero weight is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._errors import IncompatibleSchemeError
from ..dynamics import (
    Euler,
    ImplicitMidpoint,
    Integrator,
    RungeKutta,
    StormerVerlet,
)
from ..dynamics.integrators import PartitionedRungeKutta
from ..dynamics.tableau import ButcherTableau, PartitionedTableau, euler, gauss2, lobatto_3a_3b

__all__ = ["StageMethod", "adjoint_tableau", "stage_method"]


def _require_nonzero_weights(tab: ButcherTableau) -> np.ndarray:
    _, b, _ = tab.arrays
    zero = [i for i, weight in enumerate(b) if weight == 0.0]
    if zero:
        raise IncompatibleSchemeError(
            f"tableau {tab.name!r} has zero weights b_i = 0 at stages {zero} — the adjoint "
            "partitioned Runge–Kutta method needs every b_i ≠ 0 (its coefficients are "
            "ā_ij = b_j − b_j a_ji / b_i) — received b = "
            f"{list(tab.b)} — use a method whose weights are all nonzero (euler, heun, rk4, "
            "ssp_rk3, gauss2, gauss4), or differentiate the stages directly"
        )
    return b


def adjoint_tableau(tab: ButcherTableau) -> ButcherTableau:
    """The costate tableau ``ā_ij = b_j − b_j a_ji / b_i``, ``b̄ = b``, ``c̄ = Ā𝟙``.

    Together with ``tab`` it forms a symplectic partitioned Runge–Kutta pair
    (``b_i ā_ij + b_j a_ji = b_i b_j``), checked by
    :attr:`~structdl.dynamics.tableau.PartitionedTableau.is_symplectic`.

    Raises:
        IncompatibleSchemeError: some ``b_i = 0`` (e.g. the explicit midpoint rule).

    Example:
        >>> from structdl.dynamics.tableau import PartitionedTableau, rk4
        >>> PartitionedTableau(rk4, adjoint_tableau(rk4)).is_symplectic
        True
    """
    a, _, _ = tab.arrays
    b = _require_nonzero_weights(tab)
    a_bar = b[None, :] - (b[None, :] * a.T) / b[:, None]
    return ButcherTableau(a_bar, b, a_bar.sum(axis=1), name=f"adjoint({tab.name})")


@dataclass(frozen=True)
class StageMethod:
    """A one-step method as Runge–Kutta stage data, one tableau per part of the state.

    Attributes:
        tableaux: ``(tab,)`` for a tensor state, ``(tab_q, tab_p)`` for a pair; a plain
            Runge–Kutta method on a pair uses the same tableau twice.
        name: the integrator's name.
    """

    tableaux: tuple[ButcherTableau, ...]
    name: str

    @property
    def stages(self) -> int:
        """Number of stages ``s`` (equal for every part)."""
        return self.tableaux[0].stages

    @property
    def nodes(self) -> tuple[float, ...]:
        """Stage nodes ``c`` (of the first part's tableau)."""
        return self.tableaux[0].c

    def is_explicit(self) -> bool:
        """Whether every part's ``A`` is strictly lower triangular."""
        return all(tab.is_explicit for tab in self.tableaux)

    def for_parts(self, parts: int) -> tuple[ButcherTableau, ...]:
        """The tableau of each of ``parts`` state parts."""
        if len(self.tableaux) == parts:
            return self.tableaux
        if len(self.tableaux) == 1:
            return self.tableaux * parts
        raise IncompatibleSchemeError(
            f"{self.name} is a partitioned method for pairs (q, p) — expected a state of 2 "
            f"parts — received {parts}; use it on partitioned fields only"
        )

    def check_adjoint(self) -> None:
        """Raise :class:`IncompatibleSchemeError` unless every weight ``b_i`` is nonzero."""
        for tab in self.tableaux:
            _require_nonzero_weights(tab)


def stage_method(integrator: Integrator) -> StageMethod:
    """Read ``integrator`` as Runge–Kutta stage data.

    Euler, :class:`RungeKutta` (any tableau), :class:`ImplicitMidpoint` (Gauss, one stage),
    :class:`PartitionedRungeKutta` and :class:`StormerVerlet` (the Lobatto IIIA–IIIB pair:
    kick–drift–kick is IIIA for ``q`` and IIIB for ``p``; drift–kick–drift swaps them).

    Raises:
        IncompatibleSchemeError: an integrator that is not a Runge–Kutta method (splittings,
            Lie-group, discrete-gradient methods).

    Example:
        >>> from structdl.dynamics import RungeKutta
        >>> stage_method(RungeKutta("rk4")).stages
        4
    """
    if isinstance(integrator, Euler):
        return StageMethod((euler,), integrator.name)
    if isinstance(integrator, ImplicitMidpoint):
        return StageMethod((gauss2,), integrator.name)
    if isinstance(integrator, RungeKutta):
        return StageMethod((integrator.tableau,), integrator.name)
    if isinstance(integrator, PartitionedRungeKutta):
        pair: PartitionedTableau = integrator.tableau
        return StageMethod((pair.first, pair.second), integrator.name)
    if isinstance(integrator, StormerVerlet):
        first, second = lobatto_3a_3b.first, lobatto_3a_3b.second
        if integrator.variant == "drift-kick-drift":
            first, second = second, first
        return StageMethod((first, second), f"StormerVerlet({integrator.variant})")
    raise IncompatibleSchemeError(
        f"{integrator.name} is not a Runge–Kutta method — the discrete costates are defined "
        "for (partitioned) Runge–Kutta steps — received "
        f"{type(integrator).__name__}; use Euler, RungeKutta, ImplicitMidpoint, "
        "PartitionedRungeKutta or StormerVerlet"
    )
