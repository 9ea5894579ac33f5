"""Equivariant non-linearities for group feature fields (docs/methods/equivariant.md)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .._errors import ConfigError
from ..structure._validate import require_int
from . import _validate as v
from ._declare import DeclaresEquivariance
from .actions import RegularRep, Representation

__all__ = ["NormNonlinearity", "PointwiseNonlinearity"]

_NAMED: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "elu": F.elu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": F.softplus,
    "gelu": F.gelu,
}


def _activation(activation: str | Callable[[torch.Tensor], torch.Tensor]) -> Callable:
    if callable(activation):
        return activation
    if activation not in _NAMED:
        raise ConfigError(
            f"unknown activation — expected a callable or one of {', '.join(sorted(_NAMED))} — "
            f"received {activation!r} — pass e.g. 'relu'"
        )
    return _NAMED[activation]


class PointwiseNonlinearity(nn.Module):
    """``y = σ(f)`` elementwise.

    **Preserves** equivariance for trivial, regular and quotient fields: ``σ`` commutes with
    permutations of the group axis and of pixels, and the exact actions are such permutations.
    (It does not commute with interpolation, so for ``exact = False`` groups it adds to the
    approximation error.)

    Args:
        activation: a name (``"relu"``, ``"leaky_relu"`` (slope 0.01), ``"elu"``, ``"tanh"``,
            ``"sigmoid"``, ``"softplus"``, ``"gelu"``) or any elementwise callable.
    """

    def __init__(self, activation: str | Callable[[torch.Tensor], torch.Tensor] = "relu") -> None:
        super().__init__()
        self.name = (
            activation
            if isinstance(activation, str)
            else getattr(activation, "__name__", "callable")
        )
        self.fn = _activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply ``σ`` to every entry."""
        return self.fn(x)

    def extra_repr(self) -> str:
        return f"activation={self.name!r}"


class NormNonlinearity(DeclaresEquivariance, nn.Module):
    r"""Norm non-linearity over the group axis: ``v ↦ σ(‖v‖ + b_c) v / ‖v‖``.

    ``v = f_c(·, x)`` is the vector of a field's values along the group axis at one pixel.

    **Preserves** equivariance for any orthogonal action on the group axis (permutations
    included), since ``‖ρ(g) v‖ = ‖v‖``; unlike pointwise maps it also suits non-permutation
    representations. ``‖v‖`` is floored at ``eps`` so that ``v = 0`` maps to ``0``.

    Args:
        num_channels: number of fields ``C``; input ``(B, C, |G|, H, W)``.
        group: ``G``.
        activation: name or callable ``σ`` (default ``"relu"``).
        eps: floor of ``‖v‖``.
    """

    def __init__(
        self,
        num_channels: int,
        group: object,
        activation: str | Callable[[torch.Tensor], torch.Tensor] = "relu",
        eps: float = 1e-12,
    ) -> None:
        super().__init__()
        self.group = v.require_group(group, "NormNonlinearity")
        self.num_channels = require_int(num_channels, "num_channels")
        self.in_rep: Representation = RegularRep(self.group)
        self.out_rep = self.in_rep
        self.fn = _activation(activation)
        self.eps = float(eps)
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rescale each group-axis vector by ``σ(‖v‖ + b)/‖v‖``."""
        v.check_field(
            x,
            self.in_rep,
            self.num_channels,
            self.group,
            "NormNonlinearity",
            device=self.bias.device,
        )
        norm = x.norm(dim=2, keepdim=True)
        scale = self.fn(norm + self.bias.view(1, -1, 1, 1, 1)) / norm.clamp_min(self.eps)
        return x * scale
