"""Pooling over the group axis, over subgroups, and over space (docs/methods/equivariant.md).

* :class:`GroupPool` — max/mean over the whole group axis: regular → trivial field
  (invariant along the group axis, still a spatial field).
* :class:`SubgroupPool` — max/mean over the cosets of a subgroup: regular field of ``G`` →
  quotient field of ``G/H``.
* :class:`SpatialPool2d` — strided max/mean pooling whose windows sit symmetrically about the
  grid centre for every input size (exactly equivariant).
* :class:`GlobalPool` — max/mean over space (and the group axis): an invariant vector.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._errors import ConfigError, ShapeError
from ..structure._validate import require_int
from . import _validate as v
from ._declare import DeclaresEquivariance
from ._sampling import AxisPlan, axis_plan
from .actions import (
    QuotientRep,
    RegularRep,
    Representation,
    TrivialRep,
)
from .groups import FiniteGroup

__all__ = ["GlobalPool", "GroupPool", "SpatialPool2d", "SubgroupPool"]

_MODES = ("max", "mean")


def _mode(mode: object) -> str:
    if mode not in _MODES:
        raise ConfigError(
            f"unknown pooling mode — expected 'max' or 'mean' — received {mode!r} — both commute "
            "with permutations of the pooled axis"
        )
    return str(mode)


def _reduce(x: torch.Tensor, dim: int | tuple[int, ...], mode: str) -> torch.Tensor:
    if mode == "mean":
        return x.mean(dim=dim)
    return x.amax(dim=dim)


def _require_ndim(x: object, ndim: int, layout: str, owner: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != ndim:
        raise ShapeError(
            f"{owner}: wrong input — expected {layout} — received "
            f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__} — "
            "check the layer order"
        )
    return x


def _require_regular(x: object, group: FiniteGroup, owner: str) -> torch.Tensor:
    """``x`` as a batched regular field of ``group``: ``(B, C, |G|, H, W)``."""
    _require_ndim(x, 5, f"(B, C, {group.order}, H, W)", owner)
    if x.shape[2] != group.order:
        raise ShapeError(
            f"{owner}: wrong group-axis size — expected {group.order} for {group.name} — "
            f"received {x.shape[2]} — pool with the field's own group"
        )
    return x


class GroupPool(DeclaresEquivariance, nn.Module):
    r"""Pool a regular field over its group axis: ``y(x) = \max_g f(g, x)`` (or the mean).

    **Preserves**: the output is a trivial field, ``Φ(L_u f) = T_u Φ(f)``, because ``L_u``
    permutes the group axis (which max/mean ignore) and transforms space.

    Args:
        group: ``G``; input ``(B, C, |G|, H, W)``, output ``(B, C, H, W)``.
        mode: ``"max"`` or ``"mean"``.

    Example:
        >>> import torch
        >>> from structdl.equivariant import GroupPool, C4
        >>> GroupPool(C4)(torch.randn(2, 3, 4, 5, 5)).shape
        torch.Size([2, 3, 5, 5])
    """

    def __init__(self, group: FiniteGroup, mode: str = "max") -> None:
        super().__init__()
        self.group = v.require_group(group, "GroupPool")
        self.mode = _mode(mode)
        self.in_rep: Representation = RegularRep(self.group)
        self.out_rep: Representation = TrivialRep()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, |G|, H, W) -> (B, C, H, W)``."""
        return _reduce(_require_regular(x, self.group, "GroupPool"), 2, self.mode)

    def extra_repr(self) -> str:
        return f"group={self.group.name}, mode={self.mode!r}"


class SubgroupPool(DeclaresEquivariance, nn.Module):
    r"""Pool a regular ``G``-field over each left coset ``tH``: ``y(tH, x) = \max_{h∈H} f(th, x)``.

    **Preserves**: equivariance from ``RegularRep(G)`` to ``QuotientRep(G, H)``, since
    ``(L_u f)(th) = f(u^{-1}t h)`` and ``h ↦ u^{-1}th`` runs over the coset ``u^{-1}tH``.

    Example: ``SubgroupPool(D4, D1)`` pools each rotation over its mirror pair; the result is a
    ``D4/D1`` field with four cosets ``r^k D1``, on which the rotations ``C4`` act regularly —
    a p4 (``C4`` regular) field, with the mirror acting by ``k ↦ −k``.
    ``SubgroupPool(D4, C4)`` leaves two cosets (rotations / reflections).

    Args:
        group: ``G``; input ``(B, C, |G|, H, W)``.
        subgroup: ``H ≤ G``; output ``(B, C, |G|/|H|, H, W)``.
        mode: ``"max"`` or ``"mean"``.
    """

    def __init__(self, group: FiniteGroup, subgroup: FiniteGroup, mode: str = "max") -> None:
        super().__init__()
        self.group = v.require_group(group, "SubgroupPool")
        self.group.require_subgroup(subgroup)
        self.subgroup = subgroup
        self.mode = _mode(mode)
        self.in_rep: Representation = RegularRep(self.group)
        self.out_rep: Representation = QuotientRep(self.group, subgroup)
        reps = self.group.left_coset_representatives(subgroup)
        # Group-axis indices arranged as (coset, member), so pooling is one reduction.
        order = [self.group.index(self.group.compose(t, h)) for t in reps for h in subgroup]
        self.register_buffer("order", torch.tensor(order), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, |G|, H, W) -> (B, C, |G/H|, H, W)``."""
        b, c, _, h, w = _require_regular(x, self.group, "SubgroupPool").shape
        y = x.index_select(2, self.order).reshape(b, c, -1, self.subgroup.order, h, w)
        return _reduce(y, 3, self.mode)

    def extra_repr(self) -> str:
        return f"group={self.group.name}, subgroup={self.subgroup.name}, mode={self.mode!r}"


class SpatialPool2d(nn.Module):
    """Strided max/mean pooling with a symmetric sampling grid (exactly equivariant).

    Windows of size ``k_eff ∈ {k, k+1}`` with stride ``s`` and symmetric padding ``p' ≥ p`` such
    that ``(N − k_eff + 2p') ≡ 0 (mod s)`` (see :mod:`structdl.equivariant._sampling`): the
    window centres are symmetric about the grid centre for every input size ``N``, so the pooling
    commutes with the rotations and mirrors of ``D4``. E.g. ``k = s = 2`` pools 2×2 windows on
    even inputs and 3×3 windows with stride 2 on odd inputs. Max-pooling pads with ``−∞``,
    mean-pooling with zeros.

    Works on trivial ``(B, C, H, W)`` and regular/quotient ``(B, C, |G|, H, W)`` fields (the group
    axis is untouched).

    Args:
        kernel_size: nominal window ``k``.
        stride: ``s`` (default ``k``).
        padding: nominal padding ``p ≥ 0``.
        mode: ``"max"`` or ``"mean"``.
    """

    def __init__(
        self, kernel_size: int = 2, stride: int | None = None, padding: int = 0, mode: str = "max"
    ) -> None:
        super().__init__()
        self.kernel_size = require_int(kernel_size, "kernel_size")
        self.stride = require_int(kernel_size if stride is None else stride, "stride")
        self.padding = require_int(padding, "padding", minimum=0)
        self.mode = _mode(mode)

    def sampling_plan(self, height: int, width: int) -> tuple[AxisPlan, AxisPlan]:
        """Effective window, symmetric padding and output size along each axis."""
        return (
            axis_plan(height, self.kernel_size, self.stride, self.padding),
            axis_plan(width, self.kernel_size, self.stride, self.padding),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool the last two axes; leading axes are kept."""
        if not isinstance(x, torch.Tensor) or x.ndim not in (4, 5):
            raise ShapeError(
                "SpatialPool2d: wrong input — expected (B, C, H, W) or (B, C, |G|, H, W) — "
                f"received {getattr(x, 'shape', type(x).__name__)} — add a batch axis"
            )
        lead, (h, w) = x.shape[:-2], x.shape[-2:]
        plan_h, plan_w = self.sampling_plan(h, w)
        flat = x.reshape(1, -1, h, w)
        fill = float("-inf") if self.mode == "max" else 0.0
        pads = (plan_w.padding, plan_w.padding, plan_h.padding, plan_h.padding)
        flat = F.pad(flat, pads, value=fill)
        window, stride = (plan_h.window, plan_w.window), self.stride
        if self.mode == "max":
            out = F.max_pool2d(flat, window, stride)
        else:
            out = F.avg_pool2d(flat, window, stride)
        return out.reshape(*lead, *out.shape[-2:])

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"mode={self.mode!r}"
        )


class GlobalPool(nn.Module):
    """Max/mean over space and (if present) the group axis: ``(B, C, [|G|,] H, W) -> (B, C)``.

    **Preserves**: invariance, ``Φ(L_u f) = Φ(f)`` for every group element (and translation
    when the input is padded circularly); use as the head of an invariant classifier.

    Args:
        mode: ``"max"`` or ``"mean"``.
    """

    def __init__(self, mode: str = "mean") -> None:
        super().__init__()
        self.mode = _mode(mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reduce every axis after the channel axis."""
        if not isinstance(x, torch.Tensor) or x.ndim not in (4, 5):
            raise ShapeError(
                "GlobalPool: wrong input — expected (B, C, H, W) or (B, C, |G|, H, W) — "
                f"received {getattr(x, 'shape', type(x).__name__)} — add a batch axis"
            )
        return _reduce(x, tuple(range(2, x.ndim)), self.mode)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"
