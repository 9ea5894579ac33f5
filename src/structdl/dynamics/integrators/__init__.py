"""Integrators: *how* a structured vector field is discretised.

Every integrator declares ``order``, ``requires`` (field kinds) and ``preserves`` (property tags)
and checks compatibility before computing anything. :data:`INTEGRATORS` is the registry (name →
class, each constructible with default arguments); :func:`compatible_integrators` lists the
registered integrators that accept a given field, and :func:`is_compatible` is the non-raising
test used by both (it honours integrators that accept one of several kind sets, such as the
discrete-gradient methods: ``"energy"`` fields *or* partitioned Hamiltonian fields).
"""

from __future__ import annotations

from .._base import Integrator, VectorField
from .discrete_gradient import AVF, ItohAbe, energy_structure
from .euler import Euler
from .implicit import ImplicitMidpoint
from .lie_group import RKMK, LieEuler, commutator, dexpinv, hat, lie_exp, so3_exp
from .runge_kutta import PartitionedRungeKutta, RungeKutta
from .splitting import Drift, Kick, LieTrotter, SplitField, Strang, separable_split
from .symplectic import StormerVerlet, SymplecticEuler, Yoshida4

__all__ = [
    "AVF",
    "INTEGRATORS",
    "RKMK",
    "Drift",
    "Euler",
    "ImplicitMidpoint",
    "ItohAbe",
    "Kick",
    "LieEuler",
    "LieTrotter",
    "PartitionedRungeKutta",
    "RungeKutta",
    "SplitField",
    "StormerVerlet",
    "Strang",
    "SymplecticEuler",
    "Yoshida4",
    "commutator",
    "compatible_integrators",
    "dexpinv",
    "energy_structure",
    "hat",
    "is_compatible",
    "lie_exp",
    "separable_split",
    "so3_exp",
]

#: Registry of integrator classes by name; each is constructible with default arguments.
INTEGRATORS: dict[str, type[Integrator]] = {
    cls.__name__: cls
    for cls in (
        Euler,
        RungeKutta,
        PartitionedRungeKutta,
        SymplecticEuler,
        StormerVerlet,
        Yoshida4,
        ImplicitMidpoint,
        AVF,
        ItohAbe,
        LieTrotter,
        Strang,
        LieEuler,
        RKMK,
    )
}


def is_compatible(integrator: Integrator, field: VectorField) -> bool:
    """Whether ``integrator`` accepts ``field`` (no exception; same rule as ``check_compatible``).

    An integrator accepts a field when one of its kind sets (``requires_any`` if it declares
    alternatives, else ``requires``) is a subset of ``field.kinds``.
    """
    kinds = getattr(field, "kinds", frozenset())
    alternatives = getattr(integrator, "requires_any", None) or (integrator.requires,)
    return any(frozenset(alt) <= kinds for alt in alternatives)


def compatible_integrators(field: VectorField) -> list[str]:
    """Names of the registered integrators (with default arguments) that accept ``field``.

    Example:
        >>> from structdl.dynamics.physics import Pendulum
        >>> names = compatible_integrators(Pendulum())
        >>> names[:4]
        ['Euler', 'RungeKutta', 'PartitionedRungeKutta', 'SymplecticEuler']
        >>> "LieEuler" in names
        False
    """
    return [name for name, cls in INTEGRATORS.items() if is_compatible(cls(), field)]
