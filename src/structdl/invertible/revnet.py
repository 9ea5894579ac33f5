"""RevNet block: two additive shears, ``y₁ = x₁ + F(x₂)``, ``y₂ = x₂ + G(y₁)``.

Each half-step is a shear (one part shifted by a function of the other), so the block is volume
preserving (``log|det| = 0``) and explicitly invertible whatever ``F`` and ``G`` are (Gomez et
al. 2017): ``x₂ = y₂ − G(y₁)``, ``x₁ = y₁ − F(x₂)``. A symplectic-Euler step of a separable
Hamiltonian is such a pair with ``F = h∇T``, ``G = −h∇V``. ``F`` and ``G`` may hold BatchNorm
or dropout; :class:`~structdl.invertible.ReversibleSequential` keeps their statistics and masks
those of the forward pass.

In floating point the inverse undoes the forward map only up to the rounding of the additions.
With ``fixed_point`` (a :class:`~structdl.invertible.FixedPoint` grid) the outputs of ``F``
and ``G`` are rounded to the grid (straight-through gradient), so that on grid inputs every
addition and subtraction is exact and the inverse reconstructs the input bit for bit.

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
from ..structure.declarations import ALWAYS, Claim
from ..structure.properties import Invertible, VolumePreserving
from .base import Bijection
from .fixed_point import FixedPoint

__all__ = ["RevNetBlock"]


@final
class RevNetBlock(Bijection):
    """``(x₁, x₂) ↦ (y₁, y₂) = (x₁ + F(x₂), x₂ + G(x₁ + F(x₂)))`` along axis 1.

    Volume preserving and explicitly invertible for any ``F``, ``G`` (declared by
    ``volume_preserving = True``; checked by ``check_volume_preserving`` and
    ``check_inverse``).

    With ``fixed_point`` the shifts are rounded to its grid,
    ``y₁ = x₁ + q(F(x₂))``, ``y₂ = x₂ + q(G(y₁))`` with ``q(v) = 2^{−k}·round(2^k v)`` and
    ``∂q/∂v := 1``: still a volume-preserving shear, and for inputs on the grid with every
    state below ``2^{p−k}`` (checked after each addition, :class:`~structdl.ConfigError`
    otherwise) the inverse is exact in floating point, bit for bit. Off the grid it is not: the
    rounding is discontinuous, so a reconstruction error of one ulp can flip a rounding and
    become a grid step ``2^{−k}`` (measured: 1.1e-5 after a depth-64 stack, above plain
    float32's) — round the input onto the grid first.

    Args:
        f: module mapping the second half to the shape of the first half.
        g: module mapping the first half to the shape of the second half.
        split: size of the first half along axis 1; default half of the input's width.
        fixed_point: a :class:`FixedPoint` grid (or its ``fraction_bits``); ``None``
            (default) adds in plain floating point.

    Example:
        >>> block = RevNetBlock(nn.Linear(2, 2), nn.Linear(2, 2)).double()
        >>> x = torch.randn(3, 4, dtype=torch.float64)
        >>> bool(torch.allclose(block.inverse(block(x)), x))
        True
        >>> exact = RevNetBlock(nn.Linear(2, 2), nn.Linear(2, 2), fixed_point=16)
        >>> x = exact.fixed_point.round(torch.randn(3, 4))
        >>> torch.equal(exact.inverse(exact(x)), x)
        True
    """

    volume_preserving = True

    def __init__(
        self,
        f: nn.Module,
        g: nn.Module,
        split: int | None = None,
        *,
        fixed_point: FixedPoint | int | None = None,
    ) -> None:
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
        if fixed_point is not None and not isinstance(fixed_point, FixedPoint):
            if isinstance(fixed_point, bool) or not isinstance(fixed_point, int):
                raise ConfigError(
                    f"RevNetBlock: fixed_point must be a FixedPoint, an int (fraction bits) or "
                    f"None — received {fixed_point!r} — pass e.g. fixed_point=16"
                )
            fixed_point = FixedPoint(fixed_point)
        self.f, self.g, self.split = f, g, split
        #: The grid of exact additions, or ``None`` (plain floating point).
        self.fixed_point: FixedPoint | None = fixed_point

    @property
    def claims(self) -> tuple[Claim, ...]:
        """``Invertible`` and ``VolumePreserving`` always (shears); the reason says when the
        inverse is exact in floating point (``fixed_point``)."""
        if self.fixed_point is None:
            return super().claims
        k = self.fixed_point.fraction_bits
        return (
            Claim(
                Invertible(),
                ALWAYS,
                f"an explicit inverse, exact bit for bit on the grid 2^-{k} below 2^(p-{k})",
            ),
            Claim(VolumePreserving(), ALWAYS, "log|det| = 0 by construction (two shears)"),
        )

    def _add(self, x: Tensor, v: Tensor) -> Tensor:
        return x + v if self.fixed_point is None else self.fixed_point.shift(x, v)

    def _subtract(self, y: Tensor, v: Tensor) -> Tensor:
        return y - v if self.fixed_point is None else self.fixed_point.shift(y, v, -1.0)

    def _check(self, a: Tensor, b: Tensor) -> None:
        if self.fixed_point is not None:
            self.fixed_point.check((a, b), "RevNetBlock")

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
        y1, y2 = self.forward_halves(*self._halves(x, "input"))
        return torch.cat((y1, y2), 1), x.new_zeros(x.shape[0])

    def _inverse(self, y: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        y1, y2 = self._halves(y, "input of the inverse")
        x2 = self._subtract(y2, self.g(y1))
        x1 = self._subtract(y1, self.f(x2))
        self._check(x1, x2)
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
        y1 = self._add(x1, self.f(x2))
        y2 = self._add(x2, self.g(y1))
        self._check(y1, y2)
        return y1, y2

    def reverse_vjp_halves(
        self, y1: Tensor, y2: Tensor, gy1: Tensor, gy2: Tensor, params: Sequence[Tensor]
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, list[Tensor | None]]:
        """Inverse and vector–Jacobian products on the two parts, in one pass.

        Given the output parts and ``∂L/∂y₁, ∂L/∂y₂``, returns ``(x₁, x₂, ∂L/∂x₁, ∂L/∂x₂,
        [∂L/∂θ for θ in params])``; ``G(y₁)`` and ``F(x₂)`` run once each, with a graph::

            x₂ = y₂ − G(y₁),   ∂L/∂y₁ += Gᵀ ∂L/∂y₂
            x₁ = y₁ − F(x₂),   ∂L/∂x₂ = ∂L/∂y₂ + Fᵀ ∂L/∂y₁,   ∂L/∂x₁ = ∂L/∂y₁

        (with ``fixed_point``, ``G`` and ``F`` rounded as in the forward map; their
        straight-through gradient is the unrounded one).
        """
        wanted = [p for p in params if p.requires_grad]
        grads: dict[int, Tensor] = {}
        with torch.enable_grad():
            y1_leaf = y1.detach().requires_grad_(True)
            g_out = self.g(y1_leaf)
            x2 = self._subtract(y2.detach(), g_out.detach())
            g_grads = torch.autograd.grad(g_out, [y1_leaf, *wanted], gy2, allow_unused=True)
            total_y1 = gy1 if g_grads[0] is None else gy1 + g_grads[0]
            x2_leaf = x2.requires_grad_(True)
            f_out = self.f(x2_leaf)
            x1 = self._subtract(y1.detach(), f_out.detach())
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
