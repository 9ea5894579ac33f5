"""Deep learning as optimal control: costates, successive approximations, deep limits.

Training an ODE network is a discrete optimal-control problem; Pontryagin's principle closes it
into a Hamiltonian boundary-value problem for state and costate, and discretise-then-optimise
with a Runge–Kutta method gives a symplectic partitioned Runge–Kutta method for the pair.
"""

from __future__ import annotations

from .methods import StageMethod, adjoint_tableau, stage_method
from .pontryagin import PontryaginSolution, costates, layer_hamiltonian, pontryagin, trajectory
from .symplectic import StateCostateStep

__all__ = [
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
