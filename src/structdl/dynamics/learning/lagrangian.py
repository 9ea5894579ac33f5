"""Lagrangian neural networks: a learned ``L_θ(q, v)`` and its Euler–Lagrange acceleration.

The Euler–Lagrange equation ``d/dt ∂L/∂v = ∂L/∂q`` solved for the acceleration reads::

    a = (∂²L/∂v²)⁻¹ (∂L/∂q − (∂²L/∂v∂q) v)

(Cranmer, Greydanus, Hoyer, Battaglia, Spergel & Ho, *Lagrangian neural networks*, 2020). The
derivatives of the learned scalar are taken per state with ``torch.func`` (``grad`` and
``jacrev``), batched by ``vmap``: no loop over samples. The energy ``E = v·∂L/∂v − L`` is a
first integral of the exact flow; the flow is symplectic for the form pulled back by the
Legendre map ``(q, v) ↦ (q, ∂L/∂v)``, not for the canonical form of ``(q, v)`` — so a step map
of this field declares no canonical structure (its ``FlowMap`` claims are empty), and the
energy is the quantity to monitor (``energy``).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ...structure._validate import require_int
from .._base import VectorField
from ._mlp import ScalarMLP
from ._validate import check_pair

__all__ = ["LagrangianNN"]


class LagrangianNN(VectorField):
    """Learned Lagrangian ``L_θ(q, v)``; field ``(q̇, v̇) = (v, a(q, v))`` on pairs ``(q, v)``.

    Args:
        dim: degrees of freedom ``d``.
        width: hidden width of ``L_θ`` (softplus-free tanh network, :class:`ScalarMLP`).
        depth: hidden layers.
        damping: added to ``∂²L/∂v²`` before the solve (Tikhonov), ``≥ 0``.

    Example:
        >>> import torch
        >>> field = LagrangianNN(1, width=8).double()
        >>> q, v = torch.zeros(3, 1, dtype=torch.float64), torch.ones(3, 1, dtype=torch.float64)
        >>> dq, dv = field(0.0, (q, v))
        >>> bool(torch.equal(dq, v)), tuple(dv.shape)
        (True, (3, 1))
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"partitioned"})

    def __init__(self, dim: int, width: int = 64, depth: int = 2, damping: float = 0.0) -> None:
        super().__init__()
        self.dim = require_int(dim, "dim", "LagrangianNN")
        self.net = ScalarMLP(2 * dim, width, depth)
        self.damping = float(damping)

    def lagrangian(self, q: Tensor, v: Tensor) -> Tensor:
        """``L_θ(q, v)``, shape ``(batch,)``."""
        q, v = check_pair((q, v), self.dim, self.name)
        return self.net(torch.cat((q, v), dim=1))

    def _single(self, q: Tensor, v: Tensor) -> Tensor:
        return self.net(torch.cat((q, v)).unsqueeze(0))[0]

    def _acceleration(self, q: Tensor, v: Tensor) -> Tensor:
        grad_v = torch.func.grad(self._single, argnums=1)
        force = torch.func.grad(self._single, argnums=0)(q, v)
        mass = torch.func.jacrev(grad_v, argnums=1)(q, v)
        mixed = torch.func.jacrev(grad_v, argnums=0)(q, v)
        eye = torch.eye(self.dim, dtype=q.dtype, device=q.device)
        return torch.linalg.solve(mass + self.damping * eye, force - mixed @ v)

    def forward(self, t: float | Tensor, y: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """``(v, a)`` at ``y = (q, v)``."""
        q, v = check_pair(y, self.dim, self.name)
        return v, torch.func.vmap(self._acceleration)(q, v)

    def energy(self, q: Tensor, v: Tensor) -> Tensor:
        """``E = v·∂L/∂v − L``, the first integral of the exact flow, shape ``(batch,)``."""
        q, v = check_pair((q, v), self.dim, self.name)
        momentum = torch.func.vmap(torch.func.grad(self._single, argnums=1))(q, v)
        return (v * momentum).sum(dim=1) - self.lagrangian(q, v)
