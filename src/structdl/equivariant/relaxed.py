"""Relaxed (approximately equivariant) group convolution (docs/methods/equivariant.md)."""

from __future__ import annotations

import math

import torch

from .._errors import ConfigError
from ..structure.declarations import AllOf, AttributeEquals, Claim
from ..structure.properties import Equivariant
from ._conv_base import GroupConvBase
from ._declare import EXACT_REASON
from .actions import RegularRep, TrivialRep
from .groups import FiniteGroup

__all__ = ["RelaxedGroupConv2d"]


class RelaxedGroupConv2d(GroupConvBase):
    r"""Group (or lifting) convolution whose per-element filters may deviate from weight sharing.

    .. math::

        \psi_g = L_g\bigl(\psi + \lambda\, \Delta_g\bigr), \qquad g \in G

    with a shared base filter ``ψ``, free per-element relaxation filters ``Δ_g`` and the knob
    ``λ = relaxation ≥ 0``. ``λ = 0`` is exactly :class:`GroupConv2d` (or
    :class:`LiftingConv2d` with ``lifting=True``); for ``λ > 0`` the equivariance error
    ``max_u ‖Φ(L_u f) − L_u Φ(f)‖ / ‖Φ(f)‖`` is non-zero and grows with ``λ`` (to first order,
    linearly), which lets the data decide how much symmetry to keep (Wang, Walters & Yu 2022,
    simplified to one relaxation filter per group element).

    Args:
        in_channels: input fields (images if ``lifting``).
        out_channels: output regular fields.
        kernel_size: ``k``.
        group: ``G``.
        relaxation: ``λ ≥ 0``; can be changed later through the attribute.
        lifting: the input is an image ``(B, C, H, W)`` instead of a regular field.
        stride, padding, padding_mode, bias, require_exact: as in :class:`GroupConv2d`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        group: FiniteGroup,
        *,
        relaxation: float = 0.0,
        lifting: bool = False,
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
            in_rep=TrivialRep() if lifting else RegularRep(group),
            out_rep=RegularRep(group),
            stride=stride,
            padding=padding,
            padding_mode=padding_mode,
            bias=bias,
            require_exact=require_exact,
        )
        self.lifting = bool(lifting)
        self.relaxation = relaxation
        self.weight = self._new_filter(regular=not lifting)
        self.deviation = self._new_filter(self.group.order, regular=not lifting)  # one per g
        self._prepare_bank(tuple(self.deviation.shape), regular=not lifting, per_element=True)

    @property
    def relaxation(self) -> float:
        """The knob ``λ ≥ 0`` (0: exactly equivariant)."""
        return self._relaxation

    @relaxation.setter
    def relaxation(self, value: float) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not (math.isfinite(value) and value >= 0)
        ):
            raise ConfigError(
                f"invalid relaxation — expected a finite number ≥ 0 (0 = exact equivariance) — "
                f"received {value!r} — pass e.g. 0.1"
            )
        self._relaxation = float(value)

    @property
    def claims(self) -> tuple[Claim, ...]:
        """``Equivariant(group)`` when the group is exact and the knob ``λ`` is exactly 0."""
        exact = AllOf((AttributeEquals("group.exact", True), AttributeEquals("relaxation", 0.0)))
        return (
            Claim(
                Equivariant(self.group),
                when=exact,
                reason=EXACT_REASON + "; with λ = 0 the layer is a GroupConv2d",
            ),
        )

    def filter_bank(self) -> torch.Tensor:
        """``(C_out·|G|, C_in[·|G|], k, k)``: row block ``g`` is ``L_g(ψ + λΔ_g)``."""
        # One source block per group element: ψ + λΔ_g (computed for all g at once).
        sources = self._masked(self.weight + self._relaxation * self.deviation)
        return self._transformed_stack(sources)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", relaxation={self._relaxation:g}, lifting={self.lifting}"
