"""Hamiltonian neural networks: a learned energy whose symplectic gradient is the vector field.

* :class:`HamiltonianNN` — ``H_θ(q, p)`` one network on phase space (Greydanus, Dzamba &
  Yosinski 2019); ``(q̇, ṗ) = (∂_p H_θ, −∂_q H_θ)``. Non-separable, so the symplectic
  integrator for it is :class:`~structdl.dynamics.ImplicitMidpoint`.
* :class:`SeparableHamiltonianNN` — ``H_θ = T_θ(p) + V_θ(q)`` (a network each, or a learned
  quadratic kinetic energy ``½ pᵀ M p`` with ``M = L Lᵀ + εI``). Separable, so the explicit
  :class:`~structdl.dynamics.StormerVerlet` and :class:`~structdl.dynamics.Yoshida4` apply.
* :class:`DissipativeHamiltonianNN` — the port-Hamiltonian form ``ż = (J − R) ∇H_θ(z)`` with a
  learned positive semidefinite ``R = L Lᵀ``: ``dH/dt = −∇Hᵀ R ∇H ≤ 0``. Kind ``"energy"``, so
  the Itoh–Abe discrete gradient (:class:`~structdl.dynamics.ItohAbe`) keeps the decrease exact.

Every gradient is formed in closed form by :class:`~structdl.dynamics.learning.ScalarMLP` on
the whole batch (no ``create_graph`` double backward, no per-sample loop). The fields are
vector fields (*what* flows); :class:`~structdl.dynamics.learning.FlowMap` pairs one with an
integrator and declares the structure of the pair.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from ..._errors import ConfigError
from ...structure._validate import require_int
from .._base import VectorField
from ._mlp import ScalarMLP
from ._validate import canonical_rotation, check_flat, check_pair

__all__ = ["DissipativeHamiltonianNN", "HamiltonianNN", "SeparableHamiltonianNN"]


class HamiltonianNN(VectorField):
    """Learned Hamiltonian ``H_θ(q, p)`` on ``R^{2·dim}``; field ``J ∇H_θ``.

    ``q̇ = ∂H_θ/∂p``, ``ṗ = −∂H_θ/∂q``. The exact flow is symplectic and conserves ``H_θ``;
    so does the implicit midpoint rule (symplectic for every Hamiltonian).

    Args:
        dim: degrees of freedom ``d`` (``q`` and ``p`` are ``(batch, d)``).
        width: hidden width of the energy network.
        depth: hidden layers of the energy network.
        energy: ``"mlp"`` (the network alone) or ``"quadratic+mlp"`` (``½ zᵀ M z`` with
            ``M ≻ 0`` learned, plus the network: the energy keeps growing outside the data).

    Example:
        >>> import torch
        >>> from structdl.dynamics import ImplicitMidpoint
        >>> field = HamiltonianNN(1, width=16).double()
        >>> y = (torch.ones(2, 1, dtype=torch.float64), torch.zeros(2, 1, dtype=torch.float64))
        >>> q, p = ImplicitMidpoint().step(field, 0.0, y, 0.1)
        >>> q.shape
        torch.Size([2, 1])
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"partitioned", "hamiltonian"})
    ENERGY: ClassVar[tuple[str, ...]] = ("mlp", "quadratic+mlp")

    def __init__(self, dim: int, width: int = 200, depth: int = 2, energy: str = "mlp") -> None:
        super().__init__()
        self.dim = require_int(dim, "dim", "HamiltonianNN")
        if energy not in self.ENERGY:
            raise ConfigError(
                f"HamiltonianNN: unknown energy {energy!r} — expected one of {list(self.ENERGY)}"
                f" — received {energy!r} — pick one of those"
            )
        self.energy_kind = energy
        self.net: nn.Module = (
            ScalarMLP(2 * dim, width, depth)
            if energy == "mlp"
            else _QuadraticPlusNetwork(2 * dim, width, depth)
        )

    def energy(self, q: Tensor, p: Tensor) -> Tensor:
        """``H_θ(q, p)``, shape ``(batch,)``."""
        q, p = check_pair((q, p), self.dim, self.name)
        return self.net(torch.cat((q, p), dim=1))

    def forward(self, t: float | Tensor, y: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """``(∂_p H_θ, −∂_q H_θ)`` at ``y = (q, p)``."""
        q, p = check_pair(y, self.dim, self.name)
        g = self.net.gradient(torch.cat((q, p), dim=1))
        return g[:, self.dim :], -g[:, : self.dim]

    def time_derivative(self, z: Tensor) -> Tensor:
        """The field on flat states ``z = (q, p)`` of shape ``(batch, 2·dim)``."""
        z = check_flat(z, 2 * self.dim, self.name)
        return canonical_rotation(self.net.gradient(z))

    def flat_energy(self, z: Tensor) -> Tensor:
        """``H_θ(z)`` on flat states ``(batch, 2·dim)``."""
        return self.net(check_flat(z, 2 * self.dim, self.name))


class _QuadraticForm(nn.Module):
    """``½ xᵀ M x`` with ``M = L Lᵀ + εI`` (positive definite; ``L`` starts at ``scale · I``)."""

    def __init__(self, dim: int, scale: float = 1.0, floor: float = 1e-6) -> None:
        super().__init__()
        self.factor = nn.Parameter(scale * torch.eye(dim))
        self.floor = floor

    def matrix(self) -> Tensor:
        eye = torch.eye(self.factor.shape[0], dtype=self.factor.dtype, device=self.factor.device)
        return self.factor @ self.factor.T + self.floor * eye

    def forward(self, x: Tensor) -> Tensor:
        return 0.5 * ((x @ self.matrix()) * x).sum(dim=1)

    def gradient(self, x: Tensor) -> Tensor:
        return x @ self.matrix()


class _QuadraticPlusNetwork(nn.Module):
    """``½ xᵀ M x + N_θ(x)``: a quadratic well plus a network correction.

    The quadratic part sets how the energy grows outside the data (a tanh network alone
    flattens there, so its level sets open up); the network fits the rest.
    """

    def __init__(self, dim: int, width: int, depth: int) -> None:
        super().__init__()
        self.quadratic = _QuadraticForm(dim, scale=0.1)
        self.network = ScalarMLP(dim, width, depth)

    def forward(self, x: Tensor) -> Tensor:
        return self.quadratic(x) + self.network(x)

    def gradient(self, x: Tensor) -> Tensor:
        return self.quadratic.gradient(x) + self.network.gradient(x)


class SeparableHamiltonianNN(VectorField):
    """Learned separable Hamiltonian ``H_θ(q, p) = T_θ(p) + V_θ(q)``.

    ``q̇ = ∇T_θ(p)``, ``ṗ = −∇V_θ(q)``. Separable, so every splitting method of
    :mod:`structdl.dynamics` (symplectic Euler, Störmer–Verlet, Yoshida-4) is explicit and
    exactly symplectic on it, for every ``θ``.

    Args:
        dim: degrees of freedom ``d``.
        width: hidden width of the networks.
        depth: hidden layers of the networks.
        kinetic: ``"mlp"`` (a network ``T_θ(p)``) or ``"quadratic"`` (``½ pᵀ M p``, ``M ≻ 0``
            learned: the kinetic energy of a mechanical system).
        potential: ``"mlp"`` (a network ``V_θ(q)``) or ``"quadratic+mlp"`` (``½ qᵀ K q``,
            ``K ≻ 0`` learned, plus a network: the energy keeps growing outside the data).

    Example:
        >>> import torch
        >>> from structdl.dynamics import StormerVerlet
        >>> field = SeparableHamiltonianNN(2, width=8, kinetic="quadratic").double()
        >>> y = (torch.randn(3, 2, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64))
        >>> q, p = StormerVerlet().step(field, 0.0, y, 0.1)
        >>> tuple(field.energy(q, p).shape)
        (3,)
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"partitioned", "hamiltonian", "separable"})
    KINETIC: ClassVar[tuple[str, ...]] = ("mlp", "quadratic")
    POTENTIAL: ClassVar[tuple[str, ...]] = ("mlp", "quadratic+mlp")

    def __init__(
        self,
        dim: int,
        width: int = 200,
        depth: int = 2,
        kinetic: str = "mlp",
        potential: str = "mlp",
    ) -> None:
        super().__init__()
        self.dim = require_int(dim, "dim", "SeparableHamiltonianNN")
        for what, value, allowed in (
            ("kinetic", kinetic, self.KINETIC),
            ("potential", potential, self.POTENTIAL),
        ):
            if value not in allowed:
                raise ConfigError(
                    f"SeparableHamiltonianNN: unknown {what} {value!r} — expected one of "
                    f"{list(allowed)} — received {value!r} — pick one of those"
                )
        self.kinetic_kind, self.potential_kind = kinetic, potential
        self.kinetic: nn.Module = (
            ScalarMLP(dim, width, depth) if kinetic == "mlp" else _QuadraticForm(dim)
        )
        self.potential: nn.Module = (
            ScalarMLP(dim, width, depth)
            if potential == "mlp"
            else _QuadraticPlusNetwork(dim, width, depth)
        )

    def grad_q(self, t: float | Tensor, q: Tensor) -> Tensor:
        """``∂H/∂q = ∇V_θ(q)``."""
        return self.potential.gradient(check_flat(q, self.dim, self.name))

    def grad_p(self, t: float | Tensor, p: Tensor) -> Tensor:
        """``∂H/∂p = ∇T_θ(p)``."""
        return self.kinetic.gradient(check_flat(p, self.dim, self.name))

    def energy(self, q: Tensor, p: Tensor) -> Tensor:
        """``H_θ(q, p) = T_θ(p) + V_θ(q)``, shape ``(batch,)``."""
        q, p = check_pair((q, p), self.dim, self.name)
        return self.kinetic(p) + self.potential(q)

    def forward(self, t: float | Tensor, y: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """``(∇T_θ(p), −∇V_θ(q))`` at ``y = (q, p)``."""
        q, p = check_pair(y, self.dim, self.name)
        return self.kinetic.gradient(p), -self.potential.gradient(q)

    def time_derivative(self, z: Tensor) -> Tensor:
        """The field on flat states ``z = (q, p)`` of shape ``(batch, 2·dim)``."""
        z = check_flat(z, 2 * self.dim, self.name)
        dq, dp = self.forward(0.0, (z[:, : self.dim], z[:, self.dim :]))
        return torch.cat((dq, dp), dim=1)

    def flat_energy(self, z: Tensor) -> Tensor:
        """``H_θ(z)`` on flat states ``(batch, 2·dim)``."""
        z = check_flat(z, 2 * self.dim, self.name)
        return self.energy(z[:, : self.dim], z[:, self.dim :])


class DissipativeHamiltonianNN(VectorField):
    """Port-Hamiltonian field ``ż = (J − R) ∇H_θ(z)`` with ``R = L Lᵀ ⪰ 0`` learned.

    ``dH_θ/dt = ∇H_θᵀ (J − R) ∇H_θ = −‖Lᵀ∇H_θ‖² ≤ 0``: the energy never increases along the
    exact flow, and along every step of a discrete-gradient method exact for any energy
    (:class:`~structdl.dynamics.ItohAbe`), for every step size. With ``L = 0`` the field
    is Hamiltonian. States are flat tensors ``z = (q, p)`` (kind ``"energy"``).

    Args:
        dim: degrees of freedom ``d`` (states are ``(batch, 2d)``).
        width: hidden width of the energy network.
        depth: hidden layers of the energy network.
        rank: columns of ``L`` (the rank of the dissipation).

    Example:
        >>> import torch
        >>> from structdl.dynamics import ItohAbe
        >>> field = DissipativeHamiltonianNN(1, width=8).double()
        >>> z = torch.randn(4, 2, dtype=torch.float64)
        >>> z1 = ItohAbe().step(field, 0.0, z, 0.1)
        >>> bool((field.energy(z1) <= field.energy(z) + 1e-12).all())
        True
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"energy"})

    def __init__(self, dim: int, width: int = 64, depth: int = 2, rank: int = 1) -> None:
        super().__init__()
        self.dim = require_int(dim, "dim", "DissipativeHamiltonianNN")
        rank = require_int(rank, "rank", "DissipativeHamiltonianNN")
        self.net = ScalarMLP(2 * dim, width, depth)
        self.dissipation_factor = nn.Parameter(0.1 * torch.randn(2 * dim, rank))

    @property
    def structure_matrix(self) -> Tensor:
        """``S = J − L Lᵀ``, shape ``(2d, 2d)``: skew part ``J``, symmetric part ``−LLᵀ ⪯ 0``."""
        factor = self.dissipation_factor
        d = self.dim
        eye = torch.eye(d, dtype=factor.dtype, device=factor.device)
        zero = torch.zeros_like(eye)
        skew = torch.cat((torch.cat((zero, eye), 1), torch.cat((-eye, zero), 1)), 0)
        dissipation = factor @ factor.T
        # Symmetrised explicitly: a rounded product is not exactly symmetric, and the
        # classification of S + Sᵀ must see the exact negative semidefinite −2R.
        return skew - 0.5 * (dissipation + dissipation.T)

    def energy(self, z: Tensor) -> Tensor:
        """``H_θ(z)``, shape ``(batch,)``."""
        return self.net(check_flat(z, 2 * self.dim, self.name))

    def grad_energy(self, z: Tensor) -> Tensor:
        """``∇H_θ(z)``, shape ``(batch, 2d)``."""
        return self.net.gradient(check_flat(z, 2 * self.dim, self.name))

    def forward(self, t: float | Tensor, z: Tensor) -> Tensor:
        """``(J − R) ∇H_θ(z)``."""
        return self.grad_energy(z) @ self.structure_matrix.T

    def time_derivative(self, z: Tensor) -> Tensor:
        """Same as ``forward(0, z)`` (flat states)."""
        return self.forward(0.0, z)

    def flat_energy(self, z: Tensor) -> Tensor:
        """``H_θ(z)`` (flat states)."""
        return self.energy(z)
