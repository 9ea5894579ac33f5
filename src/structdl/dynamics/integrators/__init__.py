"""Integrators: *how* a structured vector field is discretised.

Every integrator declares ``order``, ``accepts`` (alternative sets of field kinds), its
``tableau`` where it has one, and ``claims`` (what a step preserves, and when), and checks
compatibility before computing anything. :data:`INTEGRATORS` is the registry (name → class, each
constructible with default arguments); :func:`compatible_integrators` lists the registered
integrators that accept a given field.
"""

from __future__ import annotations

from .._base import Integrator, VectorField
from .._lie_algebra import commutator, dexpinv, hat, lie_exp, so3_exp
from .discrete_gradient import AVF, ItohAbe
from .euler import Euler
from .implicit import ImplicitMidpoint
from .lie_group import RKMK, LieEuler
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
    "hat",
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
    return [name for name, cls in INTEGRATORS.items() if cls().accepts_field(field)]
