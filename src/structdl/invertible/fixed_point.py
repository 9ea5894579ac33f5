"""Fixed-point arithmetic for exactly reversible additive couplings.

An additive shear ``y₁ = x₁ + F(x₂)`` is invertible in exact arithmetic, but in floating point
``fl(x₁ + F(x₂)) − F(x₂) ≠ x₁``: the addition rounds away low bits of ``x₁`` that the
subtraction cannot bring back, and a deep reversible network reconstructs its activations only
up to that round-off, amplified by the blocks it passes back through.

Keeping the states and ``F``'s output on the grid ``2^{−k}ℤ`` with magnitudes below
``2^{p−k}`` (``p`` significand bits: 24 in float32, 53 in float64) makes every addition and
subtraction exact: operands and result are integers times ``2^{−k}`` of at most ``p`` bits,
hence representable, and IEEE arithmetic returns the exact result whenever it is
representable. The inverse then reconstructs activations bit for bit (MacKay et al. 2018,
*Reversible recurrent neural networks*: fixed-point hidden states).

What it changes in the network function: ``F``'s output is rounded to the grid,
``q(v) = 2^{−k}·round(2^k v)`` (half to even), an error of at most ``2^{−k−1}`` per element;
the gradient passes straight through (``∂q/∂v := 1``, the straight-through estimator), so
training sees ``F``'s own derivative. The map stays a shear, hence a volume-preserving
bijection of ``ℝⁿ``; exactness in floating point needs inputs on the grid (round them once
with :meth:`FixedPoint.round`) and states below the bound (checked; a state reaching it raises
:class:`~structdl.ConfigError`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .._errors import ConfigError

__all__ = ["FixedPoint"]


class _RoundToGrid(torch.autograd.Function):
    """``2^{−k}·round(2^k v)`` forward, identity backward (straight-through)."""

    @staticmethod
    def forward(ctx: Any, v: Tensor, scale: float) -> Tensor:  # type: ignore[override]
        return _round(v, scale)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        return grad, None


class _ShiftOnGrid(torch.autograd.Function):
    """``x ± 2^{−k}·round(2^k v)`` forward; backward ``(g, ±g)`` (straight-through in ``v``)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, v: Tensor, scale: float, sign: float) -> Tensor:  # type: ignore[override]
        ctx.sign = sign
        return _shift(x, v, scale, sign)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:  # type: ignore[override]
        grad_x = grad if ctx.needs_input_grad[0] else None
        grad_v = None
        if ctx.needs_input_grad[1]:
            grad_v = grad if ctx.sign > 0 else -grad
        return grad_x, grad_v, None, None


def _shift(x: Tensor, v: Tensor, scale: float, sign: float) -> Tensor:
    # round(2^k v) is an integer below 2^p in the exact range; multiplying it by 2^-k inside
    # the addition is exact, so the one rounding of the sum is the only one, and none in range.
    # The sum is written over the rounded units: one allocation, as for a plain addition.
    units = (v * scale).round_()
    return torch.add(x, units, alpha=sign / scale, out=units)


def _round(v: Tensor, scale: float) -> Tensor:
    # Scaling by a power of two is exact, so only round() changes the value.
    out = v * scale
    return out.round_().mul_(1.0 / scale)


@functools.cache
def significand_bits(dtype: torch.dtype) -> int:
    """``p``: bits of the significand of ``dtype`` (24 for float32, 53 for float64)."""
    return 1 - round(math.log2(torch.finfo(dtype).eps))


@dataclass(frozen=True)
class FixedPoint:
    """The grid ``2^{−k}ℤ`` of exactly reversible additions, and its magnitude bound.

    Args:
        fraction_bits: ``k``, the bits after the binary point (grid step ``2^{−k}``). The
            exact range is ``|h| < 2^{p−k}``: 256 for ``k = 16`` in float32 (each bit less
            doubles it and doubles the rounding of ``F``'s output).

    Example:
        >>> grid = FixedPoint(16)
        >>> x = grid.round(torch.randn(4, 3))
        >>> grid.on_grid(x), grid.bound(torch.float32)
        (True, 256.0)
    """

    fraction_bits: int = 16

    def __post_init__(self) -> None:
        k = self.fraction_bits
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 50:
            raise ConfigError(
                f"FixedPoint: fraction_bits must be an int in [1, 50] — received {k!r} — "
                f"pass e.g. 16 (grid 2^-16, exact below 256 in float32)"
            )

    @property
    def scale(self) -> float:
        """``2^k``."""
        return float(2**self.fraction_bits)

    def bound(self, dtype: torch.dtype) -> float:
        """``2^{p−k}``: states must stay strictly below it for exact additions."""
        spare = significand_bits(dtype) - self.fraction_bits
        if spare < 1:
            raise ConfigError(
                f"FixedPoint: {self.fraction_bits} fraction bits leave no integer bits in "
                f"{dtype} ({significand_bits(dtype)} significand bits) — expected fewer "
                f"fraction bits than significand bits — lower fraction_bits or use float32/64"
            )
        return float(2**spare)

    def round(self, v: Tensor) -> Tensor:
        """``2^{−k}·round(2^k v)`` with a straight-through gradient."""
        if torch.is_grad_enabled() and v.requires_grad:
            return _RoundToGrid.apply(v, self.scale)
        return _round(v, self.scale)

    def shift(self, x: Tensor, v: Tensor, sign: float = 1.0) -> Tensor:
        """``x + sign·q(v)`` (``sign`` = ±1) in one pass, straight-through in ``v``.

        Exact when ``x`` is on the grid and the result is in range: the shift of an additive
        coupling, and its inverse with ``sign = −1``.
        """
        if torch.is_grad_enabled() and (x.requires_grad or v.requires_grad):
            return _ShiftOnGrid.apply(x, v, self.scale, sign)
        return _shift(x, v, self.scale, sign)

    def on_grid(self, v: Tensor) -> bool:
        """Whether every entry of ``v`` is a multiple of ``2^{−k}``."""
        with torch.no_grad():
            return bool(torch.equal(_round(v, self.scale), v))

    def check(self, parts: Iterable[Tensor], owner: str) -> None:
        """Raise :class:`~structdl.ConfigError` unless every entry is finite and below the bound."""
        for p in parts:
            if not p.numel():
                continue
            bound = self.bound(p.dtype)
            # max|p| from max p and min p: two plain reductions, no |p| temporary (an
            # infinity-norm kernel measured 10–20× slower on CPU). NaN fails the comparison.
            p = p.detach()
            top, bottom = float(p.amax()), float(p.amin())
            if top < bound and -bottom < bound:
                continue
            value = top if not top < bound else bottom
            dtype = p.dtype
            raise ConfigError(
                f"{owner}: a state reached h = {value:.6g}, outside the exact range of "
                f"fixed-point arithmetic with {self.fraction_bits} fraction bits in {dtype} — "
                f"expected every state below 2^({significand_bits(dtype)} − "
                f"{self.fraction_bits}) = {bound:g} — lower fraction_bits (each bit less "
                f"doubles the range) or keep F and G bounded"
            )
