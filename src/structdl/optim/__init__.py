"""Structure-exploiting optimisers (``torch.optim.Optimizer`` subclasses).

- Riemannian SGD and Adam step along the manifold a parameter carries
  (:class:`~structdl.manifolds.ManifoldParameter`).
- Conformal Hamiltonian optimisers (conformal-symplectic Euler and leapfrog, relativistic
  gradient descent, Hamiltonian descent) are a friction flow composed with a symplectic
  integrator step of :mod:`structdl.dynamics`; each declares ``ConformalSymplectic(rate)``.
"""

from __future__ import annotations

from .conformal import (
    ConformalSymplecticEuler,
    ConformalSymplecticLeapfrog,
    HamiltonianDescent,
    RelativisticGradientDescent,
    nesterov_phase_step,
    sgd_hyperparameters,
)
from .kinetic import KineticEnergy, PowerKinetic, QuadraticKinetic, RelativisticKinetic
from .riemannian import RiemannianAdam, RiemannianSGD

__all__ = [
    "ConformalSymplecticEuler",
    "ConformalSymplecticLeapfrog",
    "HamiltonianDescent",
    "KineticEnergy",
    "PowerKinetic",
    "QuadraticKinetic",
    "RelativisticGradientDescent",
    "RelativisticKinetic",
    "RiemannianAdam",
    "RiemannianSGD",
    "nesterov_phase_step",
    "sgd_hyperparameters",
]
