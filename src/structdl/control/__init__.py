"""Deep learning as optimal control: costates, successive approximations, deep limits.

Training an ODE network is a discrete optimal-control problem; Pontryagin's principle closes it
into a Hamiltonian boundary-value problem for state and costate, and discretise-then-optimise
with a Runge–Kutta method gives a symplectic partitioned Runge–Kutta method for the pair.
"""

from __future__ import annotations

from . import _checks  # noqa: F401  (registers the control structure checks)
from .adaptive import GRAD_MODES, SolverStats, StepUnderflowError, odeint, solve
from .discrete import VALUE_SETS, DiscreteMSA, DiscreteWeightMLP, project_to_values
from .embedded import PAIRS, EmbeddedPair, embedded_pair
from .itoh_abe import ItohAbeDescent
from .methods import StageMethod, adjoint_tableau, stage_method
from .msa import INNER_OPTIMISERS, MSA, ExtendedMSA
from .multilevel import (
    control_values,
    h1_smoothness,
    kinetic_energy,
    level_distance,
    prolongate,
    restrict,
    weight_decay,
)
from .parareal import PararealResult, parareal_backward, parareal_forward
from .pontryagin import PontryaginSolution, costates, layer_hamiltonian, pontryagin, trajectory
from .symplectic import StateCostateStep

__all__ = [
    "PararealResult",
    "control_values",
    "h1_smoothness",
    "kinetic_energy",
    "level_distance",
    "parareal_backward",
    "parareal_forward",
    "prolongate",
    "restrict",
    "weight_decay",
    "GRAD_MODES",
    "PAIRS",
    "EmbeddedPair",
    "SolverStats",
    "StepUnderflowError",
    "embedded_pair",
    "odeint",
    "solve",
    "VALUE_SETS",
    "DiscreteMSA",
    "DiscreteWeightMLP",
    "ItohAbeDescent",
    "project_to_values",
    "INNER_OPTIMISERS",
    "MSA",
    "ExtendedMSA",
    "PontryaginSolution",
    "StageMethod",
    "StateCostateStep",
    "adjoint_tableau",
    "costates",
    "layer_hamiltonian",
    "pontryagin",
    "stage_method",
    "trajectory",
]
