"""Neural fields on partitioned states ``(q, p)``, each of shape ``(batch, dim)``.

Re-exported by :mod:`structdl.dynamics.fields`. Two are Hamiltonian and separable,
``H(q, p) = T(p) + V(q)``, so explicit symplectic methods apply; the Haber–Ruthotto two-stream
field is partitioned but *not* Hamiltonian, and declares so.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

import torch
from torch import Tensor, nn

from ._activations import Activation, get_activation
from ._base import State
from ._field_base import StructuredField, linear_weight, positive_int

__all__ = ["HamiltonianTwoStream", "SecondOrder", "SeparableHamiltonian"]


class _SeparableField(StructuredField):
    """Abstract separable Hamiltonian field ``q' = ∂_p H = ∇T(p)``, ``p' = −∂_q H = −∇V(q)``."""

    kinds: ClassVar[frozenset[str]] = frozenset({"partitioned", "hamiltonian", "separable"})
    partitioned: ClassVar[bool] = True

    @abstractmethod
    def _kinetic(self, p: Tensor) -> Tensor: ...

    @abstractmethod
    def _potential(self, q: Tensor) -> Tensor: ...

    @abstractmethod
    def _grad_kinetic(self, p: Tensor) -> Tensor: ...

    @abstractmethod
    def _grad_potential(self, q: Tensor) -> Tensor: ...

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
        return self._grad_potential(q)

    def grad_p(self, t: float | Tensor, p: Tensor) -> Tensor:
        """``∂H/∂p = ∇T(p)``."""
        self.validate_part(p, "p")
        return self._grad_kinetic(p)

    def _evaluate(self, t: float | Tensor, y: State) -> State:
        q, p = y
        return self._grad_kinetic(p), -self._grad_potential(q)


class SeparableHamiltonian(_SeparableField):
    """Neural separable Hamiltonian ``H(q, p) = 1ᵀγ(Ap + a) + 1ᵀγ(Bq + b)``.

    ``q' = Aᵀσ(Ap + a)``, ``p' = −Bᵀσ(Bq + b)`` (METHODS §2.2). The exact flow is symplectic,
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
        self.dim = positive_int(dim, "dim")
        hidden = self.dim if width is None else positive_int(width, "width")
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

    def _grad_kinetic(self, p: Tensor) -> Tensor:
        return self.activation(p @ self.kinetic_weight.T + self.kinetic_bias) @ self.kinetic_weight

    def _grad_potential(self, q: Tensor) -> Tensor:
        z = q @ self.potential_weight.T + self.potential_bias
        return self.activation(z) @ self.potential_weight


class SecondOrder(_SeparableField):
    """Second-order (hyperbolic) field ``q'' = −Kᵀσ(Kq + b)`` as a first-order pair.

    With ``p = q'`` it is Hamiltonian with ``H = ½‖p‖² + 1ᵀγ(Kq + b)`` (Ruthotto & Haber 2018;
    METHODS §2.2); Störmer–Verlet on it is the "leapfrog" network.

    Args:
        dim: width ``d`` of ``q`` (and of the velocity ``p``).
        width: rows ``m`` of ``K``; ``None`` means ``m = d``.
        activation: a monotone activation (default tanh).
    """

    def __init__(self, dim: int, width: int | None = None, activation: str | Activation = "tanh"):
        super().__init__()
        self.dim = positive_int(dim, "dim")
        hidden = self.dim if width is None else positive_int(width, "width")
        self.activation = get_activation(activation)
        self.weight = linear_weight(hidden, self.dim)  # K
        self.bias = nn.Parameter(0.1 * torch.randn(hidden))

    def _kinetic(self, p: Tensor) -> Tensor:
        return 0.5 * (p * p).sum(-1)

    def _potential(self, q: Tensor) -> Tensor:
        return self.activation.antiderivative(q @ self.weight.T + self.bias).sum(-1)

    def _grad_kinetic(self, p: Tensor) -> Tensor:
        return p

    def _grad_potential(self, q: Tensor) -> Tensor:
        return self.activation(q @ self.weight.T + self.bias) @ self.weight


class HamiltonianTwoStream(StructuredField):
    """Haber–Ruthotto two-stream field ``y' = σ(Kz + b)``, ``z' = −σ(Kᵀy + b)``.

    Partitioned, but **not Hamiltonian** in general: ``J⁻¹Df`` is not symmetric (``∂y'/∂z =
    diag(σ')K`` against ``∂z'/∂y = −diag(σ')Kᵀ``), so its flow is not symplectic, and
    ``kinds`` omits "hamiltonian": ``structure.guarantees`` never claims symplecticity for it,
    and the explicit symplectic methods (which require a separable Hamiltonian) refuse it. Its
    Jacobian is block off-diagonal, so it is divergence-free. The exactly Hamiltonian form, with
    the transposes, is :class:`SeparableHamiltonian` (METHODS §2.2).

    Args:
        dim: width ``d`` of each stream ``y`` and ``z``.
        activation: name or Activation (default tanh).
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"partitioned", "divergence_free"})
    partitioned: ClassVar[bool] = True

    def __init__(self, dim: int, activation: str | Activation = "tanh"):
        super().__init__()
        self.dim = positive_int(dim, "dim")
        self.activation = get_activation(activation)
        self.weight = linear_weight(self.dim, self.dim)  # K
        self.bias = nn.Parameter(0.1 * torch.randn(self.dim))

    def _evaluate(self, t: float | Tensor, y: State) -> State:
        first, second = y
        dy = self.activation(second @ self.weight.T + self.bias)
        dz = -self.activation(first @ self.weight + self.bias)
        return dy, dz
