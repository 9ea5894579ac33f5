"""Learning Hamiltonian dynamics: models that are symplectic (or dissipative) by construction.

* vector fields with a learned energy — :class:`HamiltonianNN`, :class:`SeparableHamiltonianNN`,
  :class:`DissipativeHamiltonianNN` (port-Hamiltonian) — and :class:`FlowMap`, which pairs one
  with an integrator of :mod:`structdl.dynamics` and declares what the pair preserves;
"""

from __future__ import annotations

from ._mlp import ScalarMLP
from .flow_map import FlowMap
from .hnn import DissipativeHamiltonianNN, HamiltonianNN, SeparableHamiltonianNN

__all__ = [
    "DissipativeHamiltonianNN",
    "FlowMap",
    "HamiltonianNN",
    "ScalarMLP",
    "SeparableHamiltonianNN",
]
