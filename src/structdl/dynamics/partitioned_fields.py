"""Neural fields on partitioned states ``(q, p)``, each of shape ``(batch, dim)``.

Re-exported by :mod:`structdl.dynamics`. :class:`SeparableHamiltonian` and
:class:`SecondOrder` are Hamiltonian and separable, ``H(q, p) = T(p) + V(q)``, so explicit
symplectic methods apply; :class:`HamiltonianRidge` is a non-separable Hamiltonian split into
exactly solvable symplectic shears (:class:`HamiltonianShear`); the Haber–Ruthotto two-stream
field is partitioned but *not* Hamiltonian, and declares so.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

import torch
from torch import Tensor, nn

from ..structure._validate import require_int
from ..structure.declarations import Claim
from ..structure.properties import Symplectic
from ._activations import Activation, get_activation
from ._base import State
from ._field_base import SHEAR_FLOW_CLAIMS, StructuredField, linear_weight

__all__ = [
    "HamiltonianRidge",
    "HamiltonianShear",
    "HamiltonianTwoStream",
    "SecondOrder",
    "SeparableHamiltonian",
]


class _SeparableField(StructuredField):
    """Abstract separable Hamiltonian field ``q' = ∂_p H = ∇T(p)``, ``p' = −∂_q H = −∇V(q)``."""

    kinds: ClassVar[frozenset[str]] = frozenset({"partitioned", "hamiltonian", "separable"})
    partitioned: ClassVar[bool] = True

    @abstractmethod
    def _kinetic(self, p: Tensor) -> Tensor: ...

    @abstractmethod
    def _potential(self, q: Tensor) -> Tensor: ...

    @abstractmethod
    def kinetic_gradient(self, p: Tensor) -> Tensor:
        """``∇T(p)`` on a validated half-state (the unchecked path of :meth:`grad_p`)."""

    @abstractmethod
    def potential_gradient(self, q: Tensor) -> Tensor:
        """``∇V(q)`` on a validated half-state (the unchecked path of :meth:`grad_q`)."""

    def kinetic_energy(self, p: Tensor) -> Tensor:
        """``T(p)``, shape ``(batch,)``."""
        self.validate_part(p, "p")
        return self._kinetic(p)

    def potential_energy(self, q: Tensor) -> Tensor:
        """``V(q)``, shape ``(batch,)``."""
        self.validate_part(q, "q")
        return self._potential(q)

    def energy(self, q: Tensor, p: Tensor) -> Tensor:
        """``H(q, p) = T(p) + V(q)``, shape ``(batch,)``; conserved by the exact flow."""
        self.validate((q, p))
        return self._kinetic(p) + self._potential(q)

    def grad_q(self, t: float | Tensor, q: Tensor) -> Tensor:
        """``∂H/∂q = ∇V(q)``."""
        self.validate_part(q, "q")
        return self.potential_gradient(q)

    def grad_p(self, t: float | Tensor, p: Tensor) -> Tensor:
        """``∂H/∂p = ∇T(p)``."""
        self.validate_part(p, "p")
        return self.kinetic_gradient(p)

    def evaluate(self, t: float | Tensor, y: State) -> State:
        q, p = y
        return self.kinetic_gradient(p), -self.potential_gradient(q)


class SeparableHamiltonian(_SeparableField):
    """Neural separable Hamiltonian ``H(q, p) = 1ᵀγ(Ap + a) + 1ᵀγ(Bq + b)``.

    ``q' = Aᵀσ(Ap + a)``, ``p' = −Bᵀσ(Bq + b)``. The exact flow is symplectic,
    volume-preserving, invertible and conserves ``H``; symplectic Euler and Störmer–Verlet are
    explicit for it and preserve the first three.

    Args:
        dim: width ``d`` of ``q`` and of ``p``.
        width: neurons ``m`` of each of the two ridge sums (rows of ``A`` and ``B``); ``None``
            means ``m = d``.
        activation: a monotone activation (default tanh) — ``γ`` is its antiderivative.

    Example:
        >>> f = SeparableHamiltonian(2, width=3)
        >>> dq, dp = f(0.0, (torch.zeros(4, 2), torch.ones(4, 2)))
        >>> dq.shape, dp.shape
        (torch.Size([4, 2]), torch.Size([4, 2]))
    """

    def __init__(self, dim: int, width: int | None = None, activation: str | Activation = "tanh"):
        super().__init__()
        self.dim = require_int(dim, "dim")
        hidden = self.dim if width is None else require_int(width, "width")
        self.activation = get_activation(activation)
        self.kinetic_weight = linear_weight(hidden, self.dim)  # A
        self.kinetic_bias = nn.Parameter(0.1 * torch.randn(hidden))  # a
        self.potential_weight = linear_weight(hidden, self.dim)  # B
        self.potential_bias = nn.Parameter(0.1 * torch.randn(hidden))  # b

    def _kinetic(self, p: Tensor) -> Tensor:
        return self.activation.antiderivative(p @ self.kinetic_weight.T + self.kinetic_bias).sum(-1)

    def _potential(self, q: Tensor) -> Tensor:
        z = q @ self.potential_weight.T + self.potential_bias
        return self.activation.antiderivative(z).sum(-1)

    def kinetic_gradient(self, p: Tensor) -> Tensor:
        return self.activation(p @ self.kinetic_weight.T + self.kinetic_bias) @ self.kinetic_weight

    def potential_gradient(self, q: Tensor) -> Tensor:
        z = q @ self.potential_weight.T + self.potential_bias
        return self.activation(z) @ self.potential_weight


class SecondOrder(_SeparableField):
    """Second-order (hyperbolic) field ``q'' = −Kᵀσ(Kq + b)`` as a first-order pair.

    With ``p = q'`` it is Hamiltonian with ``H = ½‖p‖² + 1ᵀγ(Kq + b)`` (Ruthotto & Haber 2018);
    Störmer–Verlet on it is the "leapfrog" network.

    Args:
        dim: width ``d`` of ``q`` (and of the velocity ``p``).
        width: rows ``m`` of ``K``; ``None`` means ``m = d``.
        activation: a monotone activation (default tanh).
    """

    def __init__(self, dim: int, width: int | None = None, activation: str | Activation = "tanh"):
        super().__init__()
        self.dim = require_int(dim, "dim")
        hidden = self.dim if width is None else require_int(width, "width")
        self.activation = get_activation(activation)
        self.weight = linear_weight(hidden, self.dim)  # K
        self.bias = nn.Parameter(0.1 * torch.randn(hidden))

    def _kinetic(self, p: Tensor) -> Tensor:
        return 0.5 * (p * p).sum(-1)

    def _potential(self, q: Tensor) -> Tensor:
        return self.activation.antiderivative(q @ self.weight.T + self.bias).sum(-1)

    def kinetic_gradient(self, p: Tensor) -> Tensor:
        return p

    def potential_gradient(self, q: Tensor) -> Tensor:
        return self.activation(q @ self.weight.T + self.bias) @ self.weight


class HamiltonianTwoStream(StructuredField):
    """Haber–Ruthotto two-stream field ``y' = σ(Kz + b)``, ``z' = −σ(Kᵀy + b)``.

    Partitioned, but **not Hamiltonian** in general: ``J⁻¹Df`` is not symmetric (``∂y'/∂z =
    diag(σ')K`` against ``∂z'/∂y = −diag(σ')Kᵀ``), so its flow is not symplectic, and
    ``kinds`` omits "hamiltonian": ``structure.guarantees`` never claims symplecticity for it,
    and the explicit symplectic methods (which require a separable Hamiltonian) refuse it. Its
    Jacobian is block off-diagonal, so it is divergence-free. The exactly Hamiltonian form, with
    the transposes, is :class:`SeparableHamiltonian`.

    Args:
        dim: width ``d`` of each stream ``y`` and ``z``.
        activation: name or Activation (default tanh).
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"partitioned", "divergence_free"})
    partitioned: ClassVar[bool] = True

    def __init__(self, dim: int, activation: str | Activation = "tanh"):
        super().__init__()
        self.dim = require_int(dim, "dim")
        self.activation = get_activation(activation)
        self.weight = linear_weight(self.dim, self.dim)  # K
        self.bias = nn.Parameter(0.1 * torch.randn(self.dim))

    def evaluate(self, t: float | Tensor, y: State) -> State:
        first, second = y
        dy = self.activation(second @ self.weight.T + self.bias)
        dz = -self.activation(first @ self.weight + self.bias)
        return dy, dz


class HamiltonianShear(StructuredField):
    """One Hamiltonian ridge ``H(q, p) = γ(uᵀq + wᵀp + c)``: a symplectic shear.

    ``q' = ∂_pH = w σ(s)``, ``p' = −∂_qH = −u σ(s)`` with ``s = uᵀq + wᵀp + c``. Since
    ``ds/dt = σ(s)(uᵀw − wᵀu) = 0`` (``zᵀJz = 0``), ``s`` is constant along the flow, whose exact
    form is the explicit shear ``(q, p) ↦ (q + h w σ(s), p − h u σ(s))``: symplectic, explicitly
    invertible, and conserving ``H`` (compare the gradient modules of SympNets).

    Args:
        dim: width ``d`` of ``q`` and of ``p``.
        activation: a monotone activation (default tanh).
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"partitioned", "hamiltonian", "shear"})
    partitioned: ClassVar[bool] = True
    #: What its exact flow keeps: a shear, and the exact flow of a Hamiltonian (symplectic).
    claims = (*SHEAR_FLOW_CLAIMS, Claim(Symplectic(), reason="the exact flow of H = γ(s)"))

    def __init__(self, dim: int, activation: str | Activation = "tanh"):
        super().__init__()
        self.dim = require_int(dim, "dim")
        self.activation = get_activation(activation)
        scale = 1.0 / (2 * self.dim) ** 0.5
        self.position_weight = nn.Parameter(scale * torch.randn(self.dim))  # u
        self.momentum_weight = nn.Parameter(scale * torch.randn(self.dim))  # w
        self.offset = nn.Parameter(0.1 * torch.randn(()))  # c

    def _ridge(self, q: Tensor, p: Tensor) -> Tensor:
        return q @ self.position_weight + p @ self.momentum_weight + self.offset

    def energy(self, q: Tensor, p: Tensor) -> Tensor:
        """``H(q, p) = γ(uᵀq + wᵀp + c)``, shape ``(batch,)``."""
        self.validate((q, p))
        return self.activation.antiderivative(self._ridge(q, p))

    def evaluate(self, t: float | Tensor, y: State) -> State:
        q, p = y
        slope = self.activation(self._ridge(q, p)).unsqueeze(-1)
        return slope * self.momentum_weight, -slope * self.position_weight

    def exact_flow(self, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """The exact time-``h`` flow ``(q + h w σ(s), p − h u σ(s))``."""
        dq, dp = self.forward(t, y)
        return y[0] + h * dq, y[1] + h * dp

    def inverse_exact_flow(self, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """Inverse of :meth:`exact_flow` (``s`` is unchanged by it)."""
        return self.exact_flow(t, y, -h)


class HamiltonianRidge(StructuredField):
    """A width-``m`` Hamiltonian ridge layer ``H(q, p) = Σ_i γ(u_iᵀq + w_iᵀp + c_i)``.

    A non-separable Hamiltonian that is a sum of :class:`HamiltonianShear` parts, each with an
    exact, explicit, symplectic flow: a splitting method over ``parts`` gives an explicit
    symplectic, exactly invertible layer; implicit midpoint and AVF apply to the
    whole field (symplectic, resp. energy-conserving).

    Args:
        dim: width ``d`` of ``q`` and of ``p``.
        n_ridges: number of ridges ``m``.
        activation: a monotone activation (default tanh).

    Example:
        >>> from structdl.dynamics import Strang
        >>> f = HamiltonianRidge(2, n_ridges=3).double()
        >>> y = (torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64))
        >>> back = Strang().inverse_step(f, 0.0, Strang().step(f, 0.0, y, 0.5), 0.5)
        >>> all(torch.allclose(a, b, atol=1e-13) for a, b in zip(back, y))
        True
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"partitioned", "hamiltonian", "split"})
    partitioned: ClassVar[bool] = True

    def __init__(self, dim: int, n_ridges: int = 4, activation: str | Activation = "tanh"):
        super().__init__()
        self.dim = require_int(dim, "dim")
        count = require_int(n_ridges, "n_ridges")
        self.ridges = nn.ModuleList(HamiltonianShear(self.dim, activation) for _ in range(count))

    @property
    def parts(self) -> tuple[HamiltonianShear, ...]:
        """The Hamiltonian shears whose sum is this field."""
        return tuple(self.ridges)  # type: ignore[arg-type]

    def energy(self, q: Tensor, p: Tensor) -> Tensor:
        """``H(q, p) = Σ_i γ(u_iᵀq + w_iᵀp + c_i)``, shape ``(batch,)``."""
        self.validate((q, p))
        return torch.stack([ridge.energy(q, p) for ridge in self.ridges]).sum(0)

    def evaluate(self, t: float | Tensor, y: State) -> State:
        flows = [ridge.evaluate(t, y) for ridge in self.ridges]
        return (
            torch.stack([dq for dq, _ in flows]).sum(0),
            torch.stack([dp for _, dp in flows]).sum(0),
        )
