"""Conditioner networks of the couplings and flows: small MLPs and convolution stacks.

A conditioner maps the untouched part of the input (and an optional context) to the
parameters of the transform of the other part. Its last layer starts small (not zero), so a
fresh flow is close to the identity while every parameter already receives a gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._errors import ShapeError
from ..structure._validate import require_int

__all__ = ["ConvConditioner", "MLPConditioner", "check_context"]

#: Scale of the last layer's initial weights: near-identity flows that still train everywhere.
_LAST_LAYER_SCALE = 1e-2


def check_context(context: Tensor | None, features: int, batch: int, owner: str) -> None:
    """Raise :class:`ShapeError` unless ``context`` is a ``(batch, features)`` float tensor."""
    if features == 0:
        return
    if context is None:
        raise ShapeError(
            f"{owner}: a context is required — expected a tensor of shape (batch, {features}) — "
            f"received None — pass context=… to the flow or bijection"
        )
    if not isinstance(context, Tensor) or not context.is_floating_point():
        raise ShapeError(
            f"{owner}: the context must be a floating tensor of shape (batch, {features}) — "
            f"received {type(context).__name__} — convert it with torch.as_tensor(...).float()"
        )
    if context.dim() != 2 or context.shape[1] != features or context.shape[0] != batch:
        raise ShapeError(
            f"{owner}: the context has the wrong shape — expected ({batch}, {features}) — "
            f"received {tuple(context.shape)} — give one context row of {features} features per "
            f"sample"
        )


def _shrink_last(layer: nn.Module) -> None:
    with torch.no_grad():
        layer.weight.mul_(_LAST_LAYER_SCALE)
        if layer.bias is not None:
            layer.bias.zero_()


class MLPConditioner(nn.Module):
    """``(x, context) ↦ θ``: a ReLU MLP on ``cat(x, context)`` of shape ``(batch, out)``.

    Args:
        in_features: features of ``x``.
        out_features: number of outputs.
        hidden: width of the hidden layers.
        depth: number of hidden layers (≥ 1).
        context_features: features of the context (0: unconditional).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: int = 64,
        depth: int = 2,
        context_features: int = 0,
    ) -> None:
        super().__init__()
        owner = "MLPConditioner"
        require_int(in_features + context_features, "in_features + context_features", owner)
        require_int(out_features, "out_features", owner)
        require_int(hidden, "hidden", owner)
        require_int(depth, "depth", owner)
        self.context_features = context_features
        layers: list[nn.Module] = []
        width = in_features + context_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        last = nn.Linear(width, out_features)
        _shrink_last(last)
        self.net = nn.Sequential(*layers, last)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """The parameters ``θ(x, context)``."""
        if self.context_features:
            x = torch.cat((x, context.to(x.dtype)), dim=1)
        return self.net(x)


class ConvConditioner(nn.Module):
    """``(x, context) ↦ θ`` on images: 3×3, 1×1, 3×3 convolutions (same spatial size).

    The context ``(batch, k)`` is broadcast to ``k`` constant channels.

    Args:
        in_channels: channels of ``x``.
        out_channels: channels of ``θ``.
        hidden: hidden channels.
        context_features: features of the context (0: unconditional).
    """

    def __init__(
        self, in_channels: int, out_channels: int, hidden: int = 32, context_features: int = 0
    ) -> None:
        super().__init__()
        owner = "ConvConditioner"
        require_int(in_channels, "in_channels", owner)
        require_int(out_channels, "out_channels", owner)
        require_int(hidden, "hidden", owner)
        self.context_features = context_features
        last = nn.Conv2d(hidden, out_channels, 3, padding=1)
        _shrink_last(last)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels + context_features, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 1),
            nn.ReLU(),
            last,
        )

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """The parameters ``θ(x, context)`` of shape ``(batch, out_channels, H, W)``."""
        if self.context_features:
            planes = context.to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
            x = torch.cat((x, planes), dim=1)
        return self.net(x)
