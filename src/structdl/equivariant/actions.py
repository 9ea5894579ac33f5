"""Group actions on images and on feature fields over the pixel grid.

Three kinds of feature fields (see docs/methods/equivariant.md; ``(L_g f)(x) = ρ(g) f(g^{-1} x)``):

* **trivial** fields, images ``(B, C, H, W)``: ``(L_g f)(x) = f(g^{-1} x)`` — the spatial transform
  :math:`T_g` only;
* **regular** fields ``(B, C, |G|, H, W)``: ``(L_g f)(h, x) = f(g^{-1} h, g^{-1} x)`` — spatial
  transform plus the permutation of the group axis given by the Cayley table;
* **quotient** fields of ``G/H`` ``(B, C, |G|/|H|, H, W)`` indexed by left cosets ``tH``:
  ``(L_g f)(tH, x) = f(g^{-1} t H, g^{-1} x)``.

The spatial transform ``T_g`` of ``g = r^k m^f`` mirrors the last axis (``f = 1``) and then
rotates by ``2πk/n`` about the centre of the (square) grid. Multiples of 90° use
:func:`torch.rot90` and :func:`torch.flip` and are exact. Any other angle is an **approximate**
action: bilinear interpolation with :func:`torch.nn.functional.grid_sample` (zeros outside), which
is neither exactly invertible nor exactly a homomorphism, and loses the corners of the image.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F

from .._errors import ShapeError
from .groups import FiniteGroup, GroupElement, require_group

__all__ = [
    "QuotientRep",
    "RegularRep",
    "Representation",
    "TrivialRep",
    "act_image",
    "act_quotient",
    "act_regular",
    "permute_regular",
    "regular_permutation",
    "restrict_regular",
    "rotate_interpolated",
]


def _require_spatial(x: torch.Tensor, min_ndim: int, what: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim < min_ndim:
        raise ShapeError(
            f"{what} needs a tensor with at least {min_ndim} axes — expected "
            f"(..., H, W) — received {getattr(x, 'shape', type(x).__name__)} — add the "
            f"missing axes (e.g. x[None])"
        )


def rotate_interpolated(x: torch.Tensor, angle: float) -> torch.Tensor:
    """Rotate the last two axes by ``angle`` (radians) about the grid centre, bilinearly.

    Approximate: values are interpolated, pixels rotated in from outside the grid are zero. The
    orientation agrees with :func:`torch.rot90` (``angle = π/2`` reproduces ``rot90(x, 1)`` up
    to round-off in ``cos(π/2)``).

    Args:
        x: ``(..., N, N)`` square, floating point.
        angle: rotation angle in radians.
    """
    _require_spatial(x, 2, "an interpolated rotation")
    h, w = x.shape[-2:]
    if h != w:
        raise ShapeError(
            f"interpolated rotation needs a square grid — expected H == W — received {h}×{w} — "
            "crop or pad the input to a square"
        )
    if not x.is_floating_point():
        raise ShapeError(
            f"interpolated rotation needs a floating tensor — received {x.dtype} — "
            "convert with x.float()"
        )
    # Output pixel at centred position (u, v) (row, column) samples the input at R^{-1}(u, v);
    # with align_corners=False the normalised coordinate of index j is 2(j - c)/N, so the same
    # linear map applies in normalised units.
    coords = (torch.arange(h, dtype=x.dtype, device=x.device) * 2 + 1) / h - 1
    u, v = torch.meshgrid(coords, coords, indexing="ij")
    cos, sin = math.cos(angle), math.sin(angle)
    row = cos * u + sin * v
    col = -sin * u + cos * v
    grid = torch.stack([col, row], dim=-1)[None]
    flat = x.reshape(1, -1, h, w)
    out = F.grid_sample(flat, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(x.shape)


def act_image(g: GroupElement, x: torch.Tensor) -> torch.Tensor:
    """Apply ``T_g`` to the last two axes of ``x``: mirror (if ``g`` is a reflection), then rotate.

    Exact for rotations by multiples of 90°; interpolated (approximate) otherwise.

    Args:
        g: a :class:`GroupElement`.
        x: ``(..., H, W)``; must be square when ``g`` rotates by an odd number of quarter turns
            or by a non-multiple of 90°.

    Returns:
        ``T_g x`` with the same shape as ``x``.
    """
    if not isinstance(g, GroupElement):
        raise ShapeError(
            f"act_image needs a GroupElement — received {type(g).__name__} — take elements "
            "from group.elements()"
        )
    _require_spatial(x, 2, "act_image")
    h, w = x.shape[-2:]
    if g.flip:
        x = torch.flip(x, dims=(-1,))
    quarter = g.quarter_turns
    if quarter is None:
        return rotate_interpolated(x, g.angle)
    if quarter % 2 == 1 and h != w:
        raise ShapeError(
            f"a quarter turn maps an {h}×{w} grid to a {w}×{h} grid, not onto itself — expected "
            f"a square input — received {h}×{w} — crop or pad to a square"
        )
    return torch.rot90(x, quarter, dims=(-2, -1)) if quarter else x


def _permute_axis(x: torch.Tensor, perm: list[int], size: int, what: str) -> torch.Tensor:
    _require_spatial(x, 3, what)
    if x.shape[-3] != size:
        raise ShapeError(
            f"{what}: wrong group-axis size — expected {size} at axis -3 of (..., {size}, H, W) "
            f"— received shape {tuple(x.shape)} — check the group the field was built for"
        )
    return x.index_select(-3, torch.tensor(perm, device=x.device))


@functools.lru_cache(maxsize=1024)
def _regular_perm(group: FiniteGroup, g: GroupElement) -> list[int]:
    g_inv = group.inverse(g)
    return [group.index(group.compose(g_inv, h)) for h in group.elements()]


@functools.lru_cache(maxsize=1024)
def _quotient_perm(group: FiniteGroup, subgroup: FiniteGroup, g: GroupElement) -> list[int]:
    g_inv = group.inverse(g)
    coset_of = _left_coset_index(group, subgroup)
    reps = group.left_coset_representatives(subgroup)
    return [coset_of[group.index(group.compose(g_inv, t))] for t in reps]


def regular_permutation(group: FiniteGroup, g: GroupElement) -> list[int]:
    """The indices ``i(g^{-1} h)`` for ``h`` in ``group.elements()``: the regular action's
    permutation of the group axis (``L_g f (h) = f(g^{-1} h)``)."""
    return list(_regular_perm(group, group.coerce(g)))


def permute_regular(g: GroupElement, x: torch.Tensor, group: FiniteGroup) -> torch.Tensor:
    """Only the group-axis part of the regular action: ``f(h, ·) ↦ f(g^{-1} h, ·)``."""
    perm = _regular_perm(group, group.coerce(g))
    return _permute_axis(x, perm, group.order, f"regular field of {group.name}")


def act_regular(g: GroupElement, x: torch.Tensor, group: FiniteGroup) -> torch.Tensor:
    """Regular action ``(L_g f)(h, x) = f(g^{-1} h, g^{-1} x)`` on ``(..., |G|, H, W)``."""
    return act_image(group.coerce(g), permute_regular(g, x, group))


def act_quotient(
    g: GroupElement, x: torch.Tensor, group: FiniteGroup, subgroup: FiniteGroup
) -> torch.Tensor:
    """Quotient action ``(L_g f)(tH, x) = f(g^{-1} t H, g^{-1} x)`` on ``(..., |G/H|, H, W)``.

    Cosets are ordered by :meth:`FiniteGroup.left_coset_representatives`.
    """
    g = group.coerce(g)
    group.require_subgroup(subgroup)
    perm = _quotient_perm(group, subgroup, g)
    what = f"quotient field of {group.name}/{subgroup.name}"
    return act_image(g, _permute_axis(x, perm, len(perm), what))


def _left_coset_index(group: FiniteGroup, subgroup: FiniteGroup) -> dict[int, int]:
    """Map the group-axis index of each element to the index of its left coset ``tH``."""
    out = {}
    for i, t in enumerate(group.left_coset_representatives(subgroup)):
        for h in subgroup:
            out[group.index(group.compose(t, h))] = i
    return out


def restrict_regular(x: torch.Tensor, group: FiniteGroup, subgroup: FiniteGroup) -> torch.Tensor:
    """View a regular ``G``-field as ``[G:H]`` regular ``H``-fields (exact restriction).

    For right-coset representatives ``t`` (``G = ⋃ H t``) the map ``h ↦ f(h t)`` is a regular
    ``H``-field because ``(L_u f)(h t) = f(u^{-1} h t)`` for ``u ∈ H``. Layout::

        (B, C, |G|, H, W)  ->  (B, C·[G:H], |H|, H, W),  channel c·[G:H] + j  <->  coset H t_j

    Args:
        x: ``(B, C, |G|, H, W)``.
        group: ``G``.
        subgroup: ``H ≤ G``.
    """
    reps = group.right_coset_representatives(subgroup)
    order = [group.index(group.compose(h, t)) for t in reps for h in subgroup]
    what = f"regular field of {group.name}"
    y = _permute_axis(x, order, group.order, what)
    if y.ndim != 5:
        raise ShapeError(
            f"restrict_regular needs (B, C, |G|, H, W) — received {tuple(x.shape)} — add a "
            "batch axis"
        )
    b, c, _, hh, ww = y.shape
    return y.reshape(b, c * len(reps), subgroup.order, hh, ww)


class Representation(ABC):
    """How a group acts on the feature axes of a field; ``act(g, x)`` applies ``L_g``.

    Attributes:
        size: length of the group axis (``None`` for trivial fields, which have no group axis).
    """

    size: int | None

    @abstractmethod
    def act(self, g: GroupElement, x: torch.Tensor) -> torch.Tensor:
        """Apply ``L_g`` to a field ``x``."""

    @property
    def field_ndim(self) -> int:
        """Number of axes of a batched field: 4 for trivial, 5 otherwise."""
        return 4 if self.size is None else 5


class TrivialRep(Representation):
    """Images ``(B, C, H, W)``: ``(L_g f)(x) = f(g^{-1} x)``; pooled invariants also use this."""

    size = None

    def act(self, g: GroupElement, x: torch.Tensor) -> torch.Tensor:
        """Spatial transform only (:func:`act_image`)."""
        return act_image(g, x)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TrivialRep)

    def __hash__(self) -> int:
        return hash("trivial")

    def __repr__(self) -> str:
        return "TrivialRep()"


class RegularRep(Representation):
    """Regular fields ``(B, C, |G|, H, W)`` of ``group`` (:func:`act_regular`)."""

    def __init__(self, group: FiniteGroup) -> None:
        self.group = require_group(group, "RegularRep")
        self.size = group.order

    def act(self, g: GroupElement, x: torch.Tensor) -> torch.Tensor:
        """Permute the group axis by the Cayley table and transform space."""
        return act_regular(g, x, self.group)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RegularRep) and other.group == self.group

    def __hash__(self) -> int:
        return hash(("regular", self.group))

    def __repr__(self) -> str:
        return f"RegularRep({self.group.name})"


class QuotientRep(Representation):
    """Quotient fields of ``G/H`` ``(B, C, |G|/|H|, H, W)`` (:func:`act_quotient`)."""

    def __init__(self, group: FiniteGroup, subgroup: FiniteGroup) -> None:
        require_group(group, "QuotientRep").require_subgroup(subgroup)
        self.group = group
        self.subgroup = subgroup
        self.size = group.order // subgroup.order

    def act(self, g: GroupElement, x: torch.Tensor) -> torch.Tensor:
        """Permute the coset axis and transform space."""
        return act_quotient(g, x, self.group, self.subgroup)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, QuotientRep)
            and other.group == self.group
            and other.subgroup == self.subgroup
        )

    def __hash__(self) -> int:
        return hash(("quotient", self.group, self.subgroup))

    def __repr__(self) -> str:
        return f"QuotientRep({self.group.name}/{self.subgroup.name})"
