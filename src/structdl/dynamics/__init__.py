"""Networks as discretised ODEs: structured vector fields, integrators, ODE networks.

A vector field says *what* flows (:mod:`.fields`, :mod:`.physics`); an integrator says *how* it
is discretised (:mod:`.integrators`); :class:`ODENet` stacks integrator steps into a network, and
:func:`structdl.structure.guarantees` derives what the combination preserves.
"""

from __future__ import annotations

from .. import structure as _structure
from ..structure.guarantees import guarantees as _guarantees_function
from . import _checks  # noqa: F401  (registers the default-object structure checks)
from ._activations import ACTIVATIONS, Activation, get_activation, leaky_relu
from ._base import FIELD_KINDS, Integrator, State, VectorField
from .fields import (
    Antisymmetric,
    GradientFlow,
    HamiltonianRidge,
    HamiltonianShear,
    HamiltonianTwoStream,
    LieAlgebraField,
    Residual,
    RidgeShear,
    SecondOrder,
    SeparableHamiltonian,
    ShearRidge,
    StructuredField,
)
from .integrators import (
    AVF,
    RKMK,
    Euler,
    ImplicitMidpoint,
    ItohAbe,
    LieEuler,
    LieTrotter,
    RungeKutta,
    SplitField,
    StormerVerlet,
    Strang,
    SymplecticEuler,
    Yoshida4,
    compatible_integrators,
    separable_split,
)
from .network import ODENet
from .physics import HarmonicOscillator, HenonHeiles, Kepler, Pendulum
from .rnn import AntisymmetricRNNCell
from .tableau import ButcherTableau

# Importing the submodule structdl.structure.guarantees (done above, by network.py) makes Python
# bind the *module* to the package attribute ``structure.guarantees``, shadowing the public
# function of the same name. Re-bind the function. The lasting fix is an eager
# ``from .guarantees import guarantees`` in structure/__init__.py; this line is then a no-op.
_structure.guarantees = _guarantees_function

__all__ = [
    "ACTIVATIONS",
    "AVF",
    "FIELD_KINDS",
    "RKMK",
    "Activation",
    "Antisymmetric",
    "AntisymmetricRNNCell",
    "ButcherTableau",
    "Euler",
    "GradientFlow",
    "HamiltonianRidge",
    "HamiltonianShear",
    "HamiltonianTwoStream",
    "HarmonicOscillator",
    "HenonHeiles",
    "ImplicitMidpoint",
    "Integrator",
    "ItohAbe",
    "Kepler",
    "LieAlgebraField",
    "LieEuler",
    "LieTrotter",
    "ODENet",
    "Pendulum",
    "Residual",
    "RidgeShear",
    "RungeKutta",
    "SecondOrder",
    "SeparableHamiltonian",
    "ShearRidge",
    "SplitField",
    "State",
    "StormerVerlet",
    "Strang",
    "StructuredField",
    "SymplecticEuler",
    "VectorField",
    "Yoshida4",
    "compatible_integrators",
    "get_activation",
    "leaky_relu",
    "separable_split",
]
