"""Learning Hamiltonian dynamics: models that are symplectic (or dissipative) by construction.

* vector fields with a learned energy — :class:`HamiltonianNN`, :class:`SeparableHamiltonianNN`,
  :class:`DissipativeHamiltonianNN` (port-Hamiltonian), :class:`PairwiseHamiltonianNN`
  (interacting bodies: per-body masses and one pair potential) — and :class:`FlowMap`, which
  pairs one with an integrator of :mod:`structdl.dynamics` and declares what the pair preserves;
* maps of phase space built from shears — :class:`LASympNet`, :class:`GSympNet` (SympNets),
  :class:`HenonNet` — symplectic for every parameter value; :class:`ExtendedSympNet`
  (E-SympNets, for parametric families: symplectic in ``(q, p)`` at every fixed parameter);
* :class:`LagrangianNN`, a learned Lagrangian with its Euler–Lagrange acceleration (by
  ``torch.func``), and :class:`MLPField`, the unstructured baseline (both claim nothing);
* :class:`SymplecticAutoencoder`: a reduced phase space embedded by a symplectic map;
  :mod:`.reduction` fits it to snapshots, builds the linear PSD basis
  (:func:`proper_symplectic_decomposition`) and the reduced system :class:`ReducedHamiltonian`;
* :mod:`.training`: derivative matching and multi-step rollout losses through an integrator.
"""

from __future__ import annotations

from . import _selfchecks, training  # noqa: F401  (_selfchecks registers structure checks)
from ._mlp import ScalarMLP
from .baseline import MLPField
from .extended_sympnets import ExtendedShear, ExtendedSympNet
from .flow_map import FlowMap
from .hnn import DissipativeHamiltonianNN, HamiltonianNN, SeparableHamiltonianNN
from .lagrangian import LagrangianNN
from .pairwise import PairwiseHamiltonianNN
from .reduction import (
    ReducedHamiltonian,
    fit_autoencoder,
    proper_symplectic_decomposition,
    psd_basis,
    reconstruction_error,
)
from .symplectic_autoencoder import SymplecticAutoencoder
from .sympnets import (
    ActivationShear,
    GradientShear,
    GSympNet,
    HenonLayer,
    HenonNet,
    LASympNet,
    LinearSymplectic,
)
from .training import fit_derivatives, fit_rollout, rollout, rollout_loss, symplectic_gradient

__all__ = [
    "ActivationShear",
    "DissipativeHamiltonianNN",
    "ExtendedShear",
    "ExtendedSympNet",
    "FlowMap",
    "GSympNet",
    "GradientShear",
    "HamiltonianNN",
    "HenonLayer",
    "HenonNet",
    "LASympNet",
    "LagrangianNN",
    "LinearSymplectic",
    "MLPField",
    "PairwiseHamiltonianNN",
    "ReducedHamiltonian",
    "ScalarMLP",
    "SeparableHamiltonianNN",
    "SymplecticAutoencoder",
    "fit_autoencoder",
    "fit_derivatives",
    "fit_rollout",
    "proper_symplectic_decomposition",
    "psd_basis",
    "reconstruction_error",
    "rollout",
    "rollout_loss",
    "symplectic_gradient",
    "training",
]
