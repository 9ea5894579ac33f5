"""RevNet block: two additive shears, ``y₁ = x₁ + F(x₂)``, ``y₂ = x₂ + G(y₁)``.

Each half-step is a shear (one part shifted by a function of the other), so the block is volume
preserving (``log|det| = 0``) and explicitly invertible whatever ``F`` and ``G`` are (Gomez et
al. 2017): ``x₂ = y₂ − G(y₁)``, ``x₁ = y₁ − F(x₂)``. A symplectic-Euler step of a separable
Hamiltonian is such a pair with ``F = h∇T``, ``G = −h∇V``. ``F`` and ``G`` may hold BatchNorm
or dropout; :class:`~structdl.invertible.ReversibleSequential` keeps their statistics and masks
those of the forward pass.

The block also implements :meth:`RevNetBlock.reverse_vjp`: the inverse and the
vector–Jacobian product in one pass (``G(y₁)`` and ``F(x₂)`` are evaluated once, with their
graphs), the step that makes reversible backpropagation cost about one extra forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import final

import torch
from torch import Tensor, nn

from .._errors import ConfigError, ShapeError
from .base import Bijection

__all__ = ["RevNetBlock"]


@final
class RevNetBlock(Bijection):
    """``(x₁, x₂) ↦ (y₁, y₂) = (x₁ + F(x₂), x₂ + G(x₁ + F(x₂)))`` along axis 1.

    Volume preserving and explicitly invertible for any ``F``, ``G`` (declared by
    ``volume_preserving = True``; checked by ``check_volume_preserving`` and
    ``check_inverse``).

    Args:
        f: module mapping the second half to the shape of the first half.
        g: module mapping the first half to the shape of the second half.
        split: size of the first half along axis 1; default half of the input's width.

    Example:
        >>> block = RevNetBlock(nn.Linear(2, 2), nn.Linear(2, 2)).double()
        >>> x = torch.randn(3, 4, dtype=torch.float64)
        >>> bool(torch.allclose(block.inverse(block(x)), x))
        True
    """

    volume_preserving = True

    def __init__(self, f: nn.Module, g: nn.Module, split: int | None = None) -> None:
        super().__init__()
        if not isinstance(f, nn.Module) or not isinstance(g, nn.Module):
            raise ConfigError(
                f"RevNetBlock: f and g must be nn.Modules — received {type(f).__name__} and "
                f"{type(g).__name__} — pass e.g. nn.Linear(d, d)"
            )
        if split is not None and (
            isinstance(split, bool) or not isinstance(split, int) or split < 1
        ):
            raise ConfigError(f"RevNetBlock: split must be a positive int — received {split!r}")
        self.f, self.g, self.split = f, g, split

    def _halves(self, x: Tensor, what: str) -> Sequence[Tensor]:
        if x.dim() < 2 or x.shape[1] < 2:
            raise ShapeError(
                f"RevNetBlock: {what} must be (batch, features ≥ 2, …) — received "
                f"{tuple(x.shape)} — the block splits axis 1 into two parts"
            )
        first = x.shape[1] // 2 if self.split is None else self.split
        if first >= x.shape[1]:
            raise ShapeError(
                f"RevNetBlock: split {first} leaves nothing for the second part of {what} "
                f"{tuple(x.shape)} — use a split below {x.shape[1]}"
            )
        return x[:, :first], x[:, first:]

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        x1, x2 = self._halves(x, "input")
        y1 = x1 + self.f(x2)
        y2 = x2 + self.g(y1)
        return torch.cat((y1, y2), 1), x.new_zeros(x.shape[0])

    def _inverse(self, y: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        y1, y2 = self._halves(y, "input of the inverse")
        x2 = y2 - self.g(y1)
        x1 = y1 - self.f(x2)
        return torch.cat((x1, x2), 1), y.new_zeros(y.shape[0])

    def split_size(self, width: int) -> int:
        """Size of the first part for an input of ``width`` features."""
        return width // 2 if self.split is None else self.split

    def split_halves(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(x₁, x₂)``: the two parts of ``x`` along axis 1 (views)."""
        first, second = self._halves(x, "input")
        return first, second

    def forward_halves(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
        """``(y₁, y₂)`` from the two parts, without concatenating them (two-stream form)."""
        y1 = x1 + self.f(x2)
        return y1, x2 + self.g(y1)

    def reverse_vjp_halves(
        self, y1: Tensor, y2: Tensor, gy1: Tensor, gy2: Tensor, params: Sequence[Tensor]
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, list[Tensor | None]]:
        """Inverse and vector–Jacobian products on the two parts, in one pass.

        Given the output parts and ``∂L/∂y₁, ∂L/∂y₂``, returns ``(x₁, x₂, ∂L/∂x₁, ∂L/∂x₂,
        [∂L/∂θ for θ in params])``; ``G(y₁)`` and ``F(x₂)`` run once each, with a graph::

            x₂ = y₂ − G(y₁),   ∂L/∂y₁ += Gᵀ ∂L/∂y₂
            x₁ = y₁ − F(x₂),   ∂L/∂x₂ = ∂L/∂y₂ + Fᵀ ∂L/∂y₁,   ∂L/∂x₁ = ∂L/∂y₁
        """
        wanted = [p for p in params if p.requires_grad]
        grads: dict[int, Tensor] = {}
        with torch.enable_grad():
            y1_leaf = y1.detach().requires_grad_(True)
            g_out = self.g(y1_leaf)
            x2 = (y2 - g_out).detach()
            g_grads = torch.autograd.grad(g_out, [y1_leaf, *wanted], gy2, allow_unused=True)
            total_y1 = gy1 if g_grads[0] is None else gy1 + g_grads[0]
            x2_leaf = x2.requires_grad_(True)
            f_out = self.f(x2_leaf)
            x1 = (y1 - f_out).detach()
            f_grads = torch.autograd.grad(f_out, [x2_leaf, *wanted], total_y1, allow_unused=True)
        for p, a, b in zip(wanted, g_grads[1:], f_grads[1:], strict=True):
            grad = a if b is None else (b if a is None else a + b)
            if grad is not None:
                grads[id(p)] = grad
        grad_x2 = gy2 if f_grads[0] is None else gy2 + f_grads[0]
        return x1, x2.detach(), total_y1, grad_x2, [grads.get(id(p)) for p in params]

    def reverse_vjp(
        self, y: Tensor, grad_y: Tensor, params: Sequence[Tensor]
    ) -> tuple[Tensor, Tensor, list[Tensor | None]]:
        """Input ``x = F⁻¹(y)`` and the vector–Jacobian products at it, in one pass.

        Returns ``(x, ∂L/∂x, [∂L/∂θ for θ in params])`` given ``∂L/∂y``; ``F`` and ``G`` run once
        each with a graph (instead of once for the inverse and once more for the gradient).
        """
        y1, y2 = self._halves(y.detach(), "output")
        gy1, gy2 = self._halves(grad_y, "output gradient")
        x1, x2, gx1, gx2, grads = self.reverse_vjp_halves(y1, y2, gy1, gy2, params)
        return torch.cat((x1, x2), 1), torch.cat((gx1, gx2), 1), grads
