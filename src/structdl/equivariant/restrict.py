"""Restriction of a trained group convolution to a subgroup (e.g. a p4m layer to a p4 layer)."""

from __future__ import annotations

import torch
from torch import nn

from .._errors import IncompatibleSchemeError
from .conv import GroupConv2d, LiftingConv2d
from .groups import FiniteGroup

__all__ = ["restrict"]


@torch.no_grad()
def restrict(
    layer: LiftingConv2d | GroupConv2d, subgroup: FiniteGroup
) -> LiftingConv2d | GroupConv2d:
    r"""The same linear map, seen as a layer of the subgroup ``H ≤ G``.

    A ``G``-equivariant convolution is in particular ``H``-equivariant. Viewing every regular
    ``G``-field as ``[G:H]`` regular ``H``-fields (:func:`restrict_regular`, right cosets
    ``H t_j``), it is an ``H``-group convolution with ``m = [G:H]`` times more fields, whose base
    filter is the row block of the ``G`` filter bank at the coset representatives::

        restrict(layer, H)(restrict_regular(x)) == restrict_regular(layer(x))     (exactly)

    (for a lifting layer the input is an image and is not restricted). Exact for exact ``G``;
    for an interpolated ``G`` (e.g. ``C8 → C4``) the shared rotations are multiples of 90°, whose
    interpolated filters equal the rot90 ones up to round-off, so the outputs agree to round-off.
    ``H`` must act exactly.

    Args:
        layer: a :class:`LiftingConv2d` or :class:`GroupConv2d` of ``G``.
        subgroup: ``H ≤ G`` (e.g. ``C4`` for a ``D4`` layer).

    Returns:
        A new, independent layer of ``H`` with ``C_out·m`` output fields (and ``C_in·m`` input
        fields for a group convolution).
    """
    if not isinstance(layer, (LiftingConv2d, GroupConv2d)):
        raise IncompatibleSchemeError(
            f"restrict supports LiftingConv2d and GroupConv2d — expected one of them — received "
            f"{type(layer).__name__} — restrict each convolution of a network separately"
        )
    group = layer.group
    group.require_subgroup(subgroup)
    if not subgroup.exact:
        raise IncompatibleSchemeError(
            f"restrict to {subgroup.name}: the subgroup acts by interpolation, so its layers "
            f"re-interpolate their filters and cannot hold an arbitrary bank — expected an exact "
            f"subgroup (C1, C2, C4, D1, D2, D4) — received {subgroup.name} — restrict to one of "
            "those"
        )
    reps = group.right_coset_representatives(subgroup)
    m = len(reps)
    n = group.order
    bank = layer.filter_bank()
    rows = [c * n + group.index(t) for c in range(layer.out_channels) for t in reps]
    lifting = isinstance(layer, LiftingConv2d)
    if not lifting:
        cols = [
            c * n + group.index(group.compose(h, t))
            for c in range(layer.in_channels)
            for t in reps
            for h in subgroup
        ]
        bank = bank[:, cols]
    base = bank[rows]
    options = {
        "stride": layer.stride,
        "padding": layer.padding,
        "padding_mode": layer.padding_mode,
        "bias": layer.bias is not None,
    }
    k = bank.shape[-1]  # the bank is larger than the base filter for interpolated groups
    if lifting:
        new = LiftingConv2d(layer.in_channels, layer.out_channels * m, k, subgroup, **options)
    else:
        new = GroupConv2d(layer.in_channels * m, layer.out_channels * m, k, subgroup, **options)
        base = base.reshape(layer.out_channels * m, layer.in_channels * m, subgroup.order, k, k)
    new = new.to(device=base.device, dtype=base.dtype)
    new.weight = nn.Parameter(base.clone())
    if layer.bias is not None:
        new.bias = nn.Parameter(layer.bias.detach().repeat_interleave(m).clone())
    return new
