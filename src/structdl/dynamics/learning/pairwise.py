"""A learned Hamiltonian of interacting bodies: per-body masses and one pair potential.

``H_θ(q, p) = Σ_i |p_i|² / (2 m_i) + Σ_{i<j} φ_θ(log |q_i − q_j|)`` for ``n`` bodies in
``space`` dimensions. It is a separable Hamiltonian (so Störmer–Verlet and Yoshida-4 are
explicit and exactly symplectic on it), and it is invariant under translations and rotations
of all bodies together, so its flow conserves the total momentum ``Σ p_i`` and the angular
momentum ``Σ q_i × p_i`` (Noether). The splitting methods keep both exactly as well: the drift
``q_i += h p_i / m_i`` moves each body along its own momentum, and the kick
``p_i −= h ∇_{q_i} V`` adds equal and opposite central forces pair by pair.

One scalar network ``φ_θ`` of one variable serves every pair, so every pair of every sample
trains it; it reads ``log r`` because an interaction that grows like ``1/r`` at close range
and fades at long range is smooth in ``log r``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..._errors import ConfigError
from ...structure._validate import require_int
from .._base import VectorField
from ._mlp import ScalarMLP
from .hnn import SeparableHamiltonianNN

__all__ = ["PairwiseHamiltonianNN"]


class _BodyKinetic(nn.Module):
    """``T(p) = Σ_i |p_i|² / (2 m_i)`` with learned masses ``m_i = exp(μ_i) > 0``."""

    def __init__(self, bodies: int, space: int) -> None:
        super().__init__()
        self.space = space
        self.log_mass = nn.Parameter(torch.zeros(bodies))

    def _inverse_mass(self) -> Tensor:
        # Coordinate-major layout: all bodies' first coordinate, then all second, ...
        return torch.exp(-self.log_mass).repeat(self.space)

    def forward(self, p: Tensor) -> Tensor:
        return 0.5 * (p * p * self._inverse_mass()).sum(dim=1)

    def gradient(self, p: Tensor) -> Tensor:
        return p * self._inverse_mass()


class _PairPotential(nn.Module):
    """``V(q) = Σ_{i<j} φ(log |q_i − q_j|)`` with ``φ`` a scalar tanh network of one input."""

    def __init__(self, bodies: int, space: int, width: int, depth: int) -> None:
        super().__init__()
        self.bodies, self.space = bodies, space
        self.phi = ScalarMLP(1, width, depth)
        first, second = torch.triu_indices(bodies, bodies, 1)
        self.register_buffer("first", first)
        self.register_buffer("second", second)

    def _separations(self, q: Tensor) -> tuple[Tensor, Tensor]:
        """``q_i − q_j`` ``(batch, pairs, space)`` and ``log |q_i − q_j|`` ``(batch·pairs, 1)``."""
        positions = q.view(q.shape[0], self.space, self.bodies).transpose(1, 2)
        difference = positions[:, self.first] - positions[:, self.second]
        squared = (difference * difference).sum(dim=-1)
        return difference, (0.5 * torch.log(squared)).reshape(-1, 1)

    def forward(self, q: Tensor) -> Tensor:
        _, log_distance = self._separations(q)
        return self.phi(log_distance).view(q.shape[0], -1).sum(dim=1)

    def gradient(self, q: Tensor) -> Tensor:
        difference, log_distance = self._separations(q)
        # ∂φ(log r)/∂q_i = φ'(log r) (q_i − q_j) / r², and the opposite for q_j.
        slope = self.phi.gradient(log_distance).view(q.shape[0], -1)
        pull = (slope / (difference * difference).sum(dim=-1)).unsqueeze(-1) * difference
        force = torch.zeros(q.shape[0], self.bodies, self.space, dtype=q.dtype, device=q.device)
        force = force.index_add(1, self.first, pull).index_add(1, self.second, -pull)
        return force.transpose(1, 2).reshape(q.shape[0], -1)


class PairwiseHamiltonianNN(SeparableHamiltonianNN):
    """``H_θ = Σ_i |p_i|²/(2 m_i) + Σ_{i<j} φ_θ(log |q_i − q_j|)`` for ``bodies`` bodies.

    ``q̇_i = p_i / m_i``, ``ṗ_i = −Σ_{j≠i} φ_θ'(log r_ij) (q_i − q_j) / r_ij²``. Separable and
    Hamiltonian: every splitting method of :mod:`structdl.dynamics` is explicit and exactly
    symplectic on it; translation and rotation invariance make the flow and those splitting
    maps conserve total momentum and angular momentum exactly.

    States use the coordinate-major layout of the HNN body tasks: ``q = (x_1 … x_n, y_1 … y_n)``
    (and a third block for ``space = 3``), ``p`` likewise.

    Args:
        bodies: number of bodies ``n`` (at least 2).
        width: hidden width of the pair network.
        depth: hidden layers of the pair network.
        space: spatial dimension (``q`` and ``p`` are ``(batch, space·n)``).

    Example:
        >>> import torch
        >>> from structdl.dynamics import StormerVerlet
        >>> field = PairwiseHamiltonianNN(3, width=8).double()
        >>> q, p = torch.randn(2, 6, dtype=torch.float64), torch.randn(2, 6, dtype=torch.float64)
        >>> q1, p1 = StormerVerlet().step(field, 0.0, (q, p), 0.01)
        >>> momentum = lambda p: p.view(2, 2, 3).sum(-1)  # Σ_i p_i per coordinate
        >>> bool(torch.allclose(momentum(p1), momentum(p), atol=1e-12))
        True
    """

    def __init__(self, bodies: int, width: int = 200, depth: int = 2, space: int = 2) -> None:
        VectorField.__init__(self)
        bodies = require_int(bodies, "bodies", "PairwiseHamiltonianNN", minimum=2)
        space = require_int(space, "space", "PairwiseHamiltonianNN")
        self.bodies, self.space = bodies, space
        self.dim = bodies * space
        self.kinetic_kind, self.potential_kind = "bodies", "pairwise"
        self.kinetic: nn.Module = _BodyKinetic(bodies, space)
        self.potential: nn.Module = _PairPotential(bodies, space, width, depth)

    def momentum(self, p: Tensor) -> Tensor:
        """Total momentum ``Σ_i p_i``, shape ``(batch, space)``."""
        return p.view(p.shape[0], self.space, self.bodies).sum(dim=-1)

    def angular_momentum(self, q: Tensor, p: Tensor) -> Tensor:
        """``Σ_i q_i × p_i`` for ``space = 2`` (shape ``(batch,)``); needs planar bodies."""
        if self.space != 2:
            raise ConfigError(
                f"{self.name}: angular_momentum is the planar q × p — expected space = 2 — "
                f"received space = {self.space} — use momentum() or planar bodies"
            )
        n = self.bodies
        return (q[:, :n] * p[:, n:] - q[:, n:] * p[:, :n]).sum(dim=1)
