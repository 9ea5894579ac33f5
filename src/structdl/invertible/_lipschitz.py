"""Lipschitz-constrained residual branches: spectral normalisation and 1-Lipschitz activations.

The branch ``g`` of an i-ResNet block is an MLP ``g = W_L ∘ φ ∘ … ∘ φ ∘ W_1`` whose first
linear map is normalised to spectral norm ``c`` and every other one to ``1``; with a
1-Lipschitz activation ``φ``, ``Lip(g) ≤ Π_l ‖W_l‖₂ ≤ c``. The normalisation divides by the
power-iteration estimate ``σ̂ = uᵀWv`` (Miyato et al. 2018; Behrmann et al. 2019):
``W ← W · min(1, c/σ̂)``. The vectors ``u, v`` are buffers updated only by
:meth:`SpectralNormLinear.update` — never inside ``forward`` — so that a recomputation (the
Neumann log-det gradient, reversible backpropagation) sees exactly the same weight.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._errors import ConfigError

__all__ = ["LipSwish", "LipschitzMLP", "SpectralNormLinear"]


def _unit(v: Tensor) -> Tensor:
    return v / v.norm().clamp_min(1e-30)


class SpectralNormLinear(nn.Module):
    """Affine map ``x ↦ W̃x + b`` with ``W̃ = W · min(1, c/σ̂(W))`` (spectral normalisation).

    ``σ̂(W) = uᵀWv`` is the power-iteration estimate of ``‖W‖₂`` (a lower bound, exact once
    converged); :meth:`exact_norm` gives the true ``‖W̃‖₂`` by singular values in float64.

    Args:
        in_features: input width.
        out_features: output width.
        coefficient: the enforced bound ``c > 0`` on ``‖W̃‖₂``.
    """

    def __init__(self, in_features: int, out_features: int, coefficient: float = 1.0) -> None:
        super().__init__()
        self.coefficient = float(coefficient)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        generator = torch.Generator().manual_seed(out_features * 7919 + in_features)
        self.register_buffer("_u", _unit(torch.randn(out_features, generator=generator)))
        self.register_buffer("_v", _unit(torch.randn(in_features, generator=generator)))
        self.update(iterations=50)

    @torch.no_grad()
    def update(self, iterations: int = 1) -> None:
        """Advance the power iteration ``v ← Wᵀu/‖·‖``, ``u ← Wv/‖·‖`` by ``iterations``."""
        weight = self.weight.detach()
        u, v = self._u.to(weight.dtype), self._v.to(weight.dtype)
        for _ in range(iterations):
            v = _unit(weight.T @ u)
            u = _unit(weight @ v)
        self._u.copy_(u)
        self._v.copy_(v)

    @torch.no_grad()
    def scale_to_bound(self) -> None:
        """Rescale ``W`` so that ``‖W‖₂ = c`` exactly (start training at the bound)."""
        self.weight.mul_(self.coefficient / torch.linalg.matrix_norm(self.weight, ord=2))
        self.update(iterations=50)

    def sigma(self) -> Tensor:
        """The estimate ``σ̂ = uᵀWv`` (differentiable in ``W``)."""
        return self._u.to(self.weight.dtype) @ self.weight @ self._v.to(self.weight.dtype)

    def normalised_weight(self) -> Tensor:
        """``W̃ = W · min(1, c/σ̂)``."""
        scale = torch.clamp(self.coefficient / self.sigma().clamp_min(1e-30), max=1.0)
        return self.weight * scale

    def exact_norm(self) -> float:
        """``‖W̃‖₂`` by singular values in float64 (the certified factor of the bound)."""
        with torch.no_grad():
            return float(torch.linalg.matrix_norm(self.normalised_weight().double(), ord=2))

    def forward(self, x: Tensor) -> Tensor:
        """``W̃x + b`` on ``(batch, in_features)``."""
        return F.linear(x, self.normalised_weight(), self.bias)


class LipSwish(nn.Module):
    """``φ(x) = x·sigmoid(βx)/1.1`` with learnable ``β > 0`` (Chen et al. 2019).

    ``sup |d/dx x·sigmoid(βx)| ≈ 1.0998`` for every ``β > 0``, so ``φ`` is 1-Lipschitz; unlike
    ReLU it is smooth, which the Newton inverse and the log-det gradient need.
    """

    def __init__(self) -> None:
        super().__init__()
        self.raw_beta = nn.Parameter(torch.tensor(0.5413))  # softplus(0.5413) ≈ 1

    def forward(self, x: Tensor) -> Tensor:
        """``x·sigmoid(βx)/1.1``."""
        beta = F.softplus(self.raw_beta)
        return x * torch.sigmoid(beta * x) / 1.1


class _ELU(nn.Module):
    """ELU, 1-Lipschitz and smooth except at 0."""

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x)


_ACTIVATIONS = {"lipswish": LipSwish, "elu": _ELU}


class LipschitzMLP(nn.Module):
    """``g(x) = W_L φ(… φ(W_1 x + b_1) …) + b_L`` with ``Lip(g) ≤ c``.

    The first layer is normalised to ``c``, the others to ``1``; ``φ`` is 1-Lipschitz, so the
    certified constant is :meth:`lipschitz_bound` ``= Π_l ‖W̃_l‖₂ ≤ c`` (up to the power
    iteration's convergence, which the bound measures exactly).

    Args:
        dim: input and output width ``d``.
        hidden: width of the hidden layers.
        n_hidden: number of hidden layers (``≥ 1``).
        coefficient: ``c``.
        activation: ``"lipswish"`` or ``"elu"``.
    """

    def __init__(
        self,
        dim: int,
        hidden: int,
        n_hidden: int = 1,
        coefficient: float = 0.9,
        activation: str = "lipswish",
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ConfigError(
                f"LipschitzMLP: unknown activation {activation!r} — expected one of "
                f"{sorted(_ACTIVATIONS)} (1-Lipschitz) — choose one of them"
            )
        widths = [dim] + [hidden] * n_hidden + [dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(SpectralNormLinear(a, b, coefficient if i == 0 else 1.0))
            if i < len(widths) - 2:
                layers.append(_ACTIVATIONS[activation]())
        self.layers = nn.Sequential(*layers)

    def linear_layers(self) -> list[SpectralNormLinear]:
        """The spectrally normalised layers, first to last."""
        return [m for m in self.layers if isinstance(m, SpectralNormLinear)]

    def update(self, iterations: int = 1) -> None:
        """Advance every layer's power iteration."""
        for layer in self.linear_layers():
            layer.update(iterations)

    def scale_to_bound(self) -> None:
        """Rescale every layer to its bound (``‖W̃_1‖₂ = c``, the others 1)."""
        for layer in self.linear_layers():
            layer.scale_to_bound()

    def lipschitz_bound(self) -> float:
        """Certified ``Lip(g) ≤ Π_l ‖W̃_l‖₂`` (exact singular values, float64)."""
        return math.prod(layer.exact_norm() for layer in self.linear_layers())

    def forward(self, x: Tensor) -> Tensor:
        """``g(x)`` on ``(batch, d)``."""
        return self.layers(x)
