"""Structure-exploiting optimisers (``torch.optim.Optimizer`` subclasses).

- Riemannian SGD and Adam step along the manifold a parameter carries
  (:class:`~structdl.manifolds.ManifoldParameter`).
- Conformal Hamiltonian optimisers (conformal-symplectic Euler and leapfrog, relativistic
  gradient descent, Hamiltonian descent) are a friction flow composed with a symplectic
  integrator step of :mod:`structdl.dynamics`; each declares ``ConformalSymplectic(rate)``.
- The port-Hamiltonian optimiser takes an energy-consistent discrete-gradient step: the
  discrete energy balance ``H₊ − H + h·D = 0`` holds for every step size.
- The exact natural gradient solves ``(F + λI) d = ∇L`` by conjugate gradient on
  Fisher-vector products; undamped, its step is invariant under linear reparametrisations.
"""

from __future__ import annotations

from . import _checks  # noqa: F401  (registers the structure checks for `structdl check`)
from .conformal import (
    ConformalSymplecticEuler,
    ConformalSymplecticLeapfrog,
    HamiltonianDescent,
    RelativisticGradientDescent,
    nesterov_phase_step,
    sgd_hyperparameters,
)
from .kfac import KFAC
from .kinetic import KineticEnergy, PowerKinetic, QuadraticKinetic, RelativisticKinetic
from .mean_field import MeanFieldNetwork, ParticleGradientDescent
from .natural_gradient import NaturalGradient
from .port_hamiltonian import PortHamiltonian
from .riemannian import RiemannianAdam, RiemannianSGD

__all__ = [
    "ConformalSymplecticEuler",
    "ConformalSymplecticLeapfrog",
    "HamiltonianDescent",
    "KFAC",
    "KineticEnergy",
    "MeanFieldNetwork",
    "NaturalGradient",
    "ParticleGradientDescent",
    "PortHamiltonian",
    "PowerKinetic",
    "QuadraticKinetic",
    "RelativisticGradientDescent",
    "RelativisticKinetic",
    "RiemannianAdam",
    "RiemannianSGD",
    "nesterov_phase_step",
    "sgd_hyperparameters",
]
