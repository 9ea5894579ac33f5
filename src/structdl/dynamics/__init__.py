"""Networks as discretised ODEs: structured vector fields, integrators, ODE networks.

A vector field says *what* flows (:mod:`.fields`, :mod:`.physics`); an integrator says *how* it
is discretised (:mod:`.integrators`); :class:`ODENet` stacks integrator steps into a network, and
:func:`structdl.structure.guarantees` derives what the combination preserves.
"""

from __future__ import annotations

from . import _selfchecks, learning  # noqa: F401  (_selfchecks registers structure checks)
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
    RidgeShearSum,
    SecondOrder,
    SeparableHamiltonian,
    SingleRidgeShear,
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
    "RidgeShearSum",
    "RungeKutta",
    "SecondOrder",
    "SeparableHamiltonian",
    "SingleRidgeShear",
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
    "learning",
    "separable_split",
]
