"""Symmetric sampling grids: why strided convolution and pooling can stay exactly equivariant.

A window of size ``k`` slid with stride ``s`` over an axis of length ``N`` padded by ``p`` on both
sides has its centres at ``c_i = i·s − p + (k − 1)/2``, ``i = 0..M−1``. A rotation or mirror about
the grid centre ``(N − 1)/2`` maps this set onto itself iff ``c_0 + c_{M−1} = N − 1``, i.e. iff

    (N − k + 2p) ≡ 0  (mod s),        and then  M = (N − k + 2p)/s + 1

so that the windows exactly tile the padded axis and nothing is cut off on one side only. For
``s = 2`` the parity of ``N − k`` does not depend on ``p``: an odd window can never be centred
symmetrically on an even axis. We then use the *effective* window ``k_eff = k + 1``:

* for a convolution, the ``k × k`` kernel convolved with the 2×2 box ``¼[[1, 1], [1, 1]]``, i.e.
  the kernel evaluated at the half-integer centres by bilinear interpolation. The box is invariant
  under ``D4``, so ``T_g(K * box) = T_g(K) * box`` and the filter bank stays equivariant;
* for a pooling window, simply the ``(k + 1) × (k + 1)`` window (max or mean are symmetric).

The plan takes the smallest ``p' ≥ p`` (and ``k_eff = k`` if possible) that satisfies the
condition, separately for each axis and each input size.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .._errors import ShapeError

__all__ = ["AxisPlan", "axis_plan", "uncached_axis_plan", "widen_kernel"]


@dataclass(frozen=True)
class AxisPlan:
    """How to sample one axis: effective window, symmetric padding, output length."""

    window: int
    padding: int
    out_size: int


def uncached_axis_plan(size: int, kernel: int, stride: int, padding: int) -> AxisPlan:
    """Smallest symmetric padding ``p' ≥ padding`` and window ``k_eff ∈ {k, k+1}`` (see module).

    :func:`axis_plan` is the same function, cached.
    """
    for window in (kernel, kernel + 1):
        for pad in range(padding, padding + stride):
            span = size - window + 2 * pad
            if span >= 0 and span % stride == 0:
                return AxisPlan(window, pad, span // stride + 1)
    raise ShapeError(
        f"input too small for a symmetric sampling grid — expected an axis of at least "
        f"{kernel - 2 * padding} pixels for kernel {kernel}, padding {padding}, stride {stride} — "
        f"received {size} — use a larger input or more padding"
    )


#: :func:`uncached_axis_plan`, cached: pure in its four integers and asked on every forward.
axis_plan = functools.lru_cache(maxsize=4096)(uncached_axis_plan)


def widen_kernel(weight: torch.Tensor, *, rows: bool, cols: bool) -> torch.Tensor:
    """Convolve the kernel with the box ``[½, ½]`` along the rows and/or columns (size ``k → k+1``).

    Along both axes this is the 2×2 box ``¼[[1, 1], [1, 1]]``: the kernel evaluated at
    half-integer centres by bilinear interpolation.
    """
    if rows:
        padded = F.pad(weight, (0, 0, 1, 1))
        weight = 0.5 * (padded[..., 1:, :] + padded[..., :-1, :])
    if cols:
        padded = F.pad(weight, (1, 1))
        weight = 0.5 * (padded[..., 1:] + padded[..., :-1])
    return weight
