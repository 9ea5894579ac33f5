"""Lifting and group convolutions (Cohen & Welling 2016; docs/methods/equivariant.md).

Both layers build their filter bank at forward time by transforming ONE base filter tensor with
every group element (:func:`act_image` / :func:`act_regular` applied to the kernel) — no
precomputed basis, so construction costs one random initialisation of the base filter. For the
exact groups the transforms only move entries, so the bank is one gather by positions computed
at construction (see ``GroupConvBase._prepare_bank``).
"""

from __future__ import annotations

from ._conv_base import GroupConvBase
from .actions import RegularRep, TrivialRep
from .groups import FiniteGroup

__all__ = ["GroupConv2d", "LiftingConv2d"]


class LiftingConv2d(GroupConvBase):
    r"""Lifting correlation from images to regular fields of ``G`` (the first G-CNN layer).

    .. math::

        [f \star \psi](g, x) = \sum_{y} \sum_{c} f_c(x + y)\,(T_g \psi_c)(y),
        \qquad (T_g\psi)(y) = \psi(g^{-1} y)

    **Preserves** equivariance ``Φ(T_u f) = L_u Φ(f)`` from trivial to regular fields, exactly for
    ``C1, C2, C4, D1, D2, D4`` (p4 / p4m with translations) — also with stride, for every input
    size, thanks to the symmetric sampling grid — and approximately (Gaussian interpolation of
    the rotated filters, ``exact = False``) for other ``n``.

    Args:
        in_channels: image channels ``C_in``; input ``(B, C_in, H, W)``.
        out_channels: regular fields ``C_out``; output ``(B, C_out, |G|, H', W')``.
        kernel_size: ``k`` of the ``(C_out, C_in, k, k)`` base filter.
        group: ``G`` (e.g. ``C4``, ``D4``, ``C(8)``).
        stride: spatial stride.
        padding: ``"same"``, ``"valid"`` or nominal padding (made symmetric per input size).
        padding_mode: ``"zeros"``, ``"replicate"``, ``"reflect"`` or ``"circular"``.
        bias: one bias per output field.
        require_exact: refuse groups that act by interpolation.

    Example:
        >>> import torch
        >>> from structdl.equivariant import LiftingConv2d, C4
        >>> LiftingConv2d(1, 2, 3, C4)(torch.randn(1, 1, 9, 9)).shape
        torch.Size([1, 2, 4, 9, 9])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        group: FiniteGroup,
        *,
        stride: int = 1,
        padding: int | str = "same",
        padding_mode: str = "zeros",
        bias: bool = True,
        require_exact: bool = False,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            group,
            in_rep=TrivialRep(),
            out_rep=RegularRep(group),
            stride=stride,
            padding=padding,
            padding_mode=padding_mode,
            bias=bias,
            require_exact=require_exact,
        )
        self.weight = self._new_filter(regular=False)  # (C_out, C_in, k, k)
        self._prepare_bank(tuple(self.weight.shape), regular=False)


class GroupConv2d(GroupConvBase):
    r"""Group correlation between regular fields of ``G``.

    .. math::

        [f \star \psi](g, x) = \sum_{h \in G} \sum_{y} \sum_c f_c(h, x + y)\,(L_g \psi_c)(h, y),
        \qquad (L_g\psi)(h, y) = \psi(g^{-1}h, g^{-1}y)

    i.e. each output element ``g`` uses the base filter transformed spatially by ``T_g`` with its
    input group axis permuted by the Cayley table (for ``p4`` a cyclic shift of the rotation
    axis; for ``p4m`` the dihedral permutation).

    **Preserves** equivariance between regular fields, ``Φ(L_u f) = L_u Φ(f)``: exact for
    ``C1, C2, C4, D1, D2, D4`` at every stride and input size; approximate for other ``n``
    (filters rotated by Gaussian interpolation, see ``_interp``; ``exact = False``).

    Args:
        in_channels: input regular fields ``C_in``; input ``(B, C_in, |G|, H, W)``.
        out_channels: output regular fields ``C_out``; output ``(B, C_out, |G|, H', W')``.
        kernel_size: ``k`` of the ``(C_out, C_in, |G|, k, k)`` base filter.
        group: ``G``.
        stride: spatial stride.
        padding: ``"same"``, ``"valid"`` or nominal padding (made symmetric per input size).
        padding_mode: ``"zeros"``, ``"replicate"``, ``"reflect"`` or ``"circular"``.
        bias: one bias per output field.
        require_exact: refuse groups that act by interpolation.

    Example:
        >>> import torch
        >>> from structdl.equivariant import GroupConv2d, D4
        >>> GroupConv2d(2, 3, 3, D4, stride=2)(torch.randn(1, 2, 8, 10, 10)).shape
        torch.Size([1, 3, 8, 5, 5])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        group: FiniteGroup,
        *,
        stride: int = 1,
        padding: int | str = "same",
        padding_mode: str = "zeros",
        bias: bool = True,
        require_exact: bool = False,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            group,
            in_rep=RegularRep(group),
            out_rep=RegularRep(group),
            stride=stride,
            padding=padding,
            padding_mode=padding_mode,
            bias=bias,
            require_exact=require_exact,
        )
        self.weight = self._new_filter(regular=True)  # (C_out, C_in, |G|, k, k)
        self._prepare_bank(tuple(self.weight.shape), regular=True)
