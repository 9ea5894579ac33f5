"""Batch normalisation of group feature fields with statistics shared over the group axis."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._errors import ConfigError, ShapeError
from ..structure._validate import require_int
from . import _validate as v
from ._declare import DeclaresEquivariance
from .actions import RegularRep, Representation, TrivialRep
from .groups import FiniteGroup

__all__ = ["GroupBatchNorm"]


class GroupBatchNorm(DeclaresEquivariance, nn.Module):
    r"""Batch norm whose mean and variance pool the batch, the group axis and space.

    .. math::

        y_c(g, x) = \gamma_c \frac{f_c(g, x) - \mu_c}{\sqrt{\sigma_c^2 + \varepsilon}} + \beta_c,
        \quad \mu_c, \sigma_c^2 \text{ over } (b, g, x)

    **Preserves** equivariance for regular, quotient and trivial fields: one scalar affine map
    per field channel commutes with any permutation of the group axis and any spatial
    transform, and the statistics are invariant under them (per-element statistics would not
    be).

    Args:
        num_channels: number of fields ``C``.
        group: ``G`` (only for bookkeeping and input checks).
        rep: ``"regular"`` (input ``(B, C, |G|, H, W)``) or ``"trivial"`` (``(B, C, H, W)``).
        eps: variance offset ``ε``.
        momentum: running-statistics momentum.
        affine: learn ``γ_c, β_c``.
    """

    def __init__(
        self,
        num_channels: int,
        group: FiniteGroup,
        *,
        rep: str = "regular",
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
    ) -> None:
        super().__init__()
        self.group = v.require_group(group, "GroupBatchNorm")
        self.num_channels = require_int(num_channels, "num_channels")
        if rep not in ("regular", "trivial"):
            raise ConfigError(
                f"unknown rep for GroupBatchNorm — expected 'regular' or 'trivial' — received "
                f"{rep!r} — use 'regular' after a lifting/group convolution"
            )
        self.in_rep: Representation = RegularRep(self.group) if rep == "regular" else TrivialRep()
        self.out_rep = self.in_rep
        self.eps, self.momentum = float(eps), float(momentum)
        self.weight = nn.Parameter(torch.ones(num_channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_channels)) if affine else None
        self.register_buffer("running_mean", torch.zeros(num_channels))
        self.register_buffer("running_var", torch.ones(num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` (batch statistics in training, running statistics in eval)."""
        v.check_field(
            x,
            self.in_rep,
            self.num_channels,
            self.group,
            "GroupBatchNorm",
            device=self.running_mean.device,
        )
        if x.shape[0] == 0:
            # Nothing to normalise, and no statistics to update (as torch's own batch norm).
            return x.clone()
        if self.training and x.numel() // self.num_channels < 2:
            raise ShapeError(
                "GroupBatchNorm: one value per channel in training mode — expected more than one "
                f"value per channel to estimate a variance — received shape {tuple(x.shape)} — "
                "use a larger batch or call .eval()"
            )
        flat = x.reshape(x.shape[0], self.num_channels, -1)
        out = F.batch_norm(
            flat,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training,
            self.momentum,
            self.eps,
        )
        return out.reshape(x.shape)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, group={self.group.name}, rep={self.in_rep!r}"
