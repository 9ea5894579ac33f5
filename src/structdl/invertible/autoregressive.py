"""Masked autoregressive transforms: ``z_i = τ(x_i; θ_i(x_{<i}, context))`` in one pass.

The parameters of coordinate ``i`` depend only on the coordinates before it, so the Jacobian
is triangular and ``log|det| = Σ_i log|τ'(x_i; θ_i)|`` (Papamakarios et al. 2017). All
``θ_i`` come from one pass of a MADE network (Germain et al. 2015): a MLP whose weight
matrices are multiplied by binary masks built from degrees — input ``i`` has degree ``i``,
hidden units degrees in ``1 … d−1``, and an output of coordinate ``i`` sees only units of
degree ``< i``. The density direction (data → base) is one pass; the inverse (sampling) is
``d`` passes, one coordinate at a time.
"""

from __future__ import annotations

from typing import final

import torch
from torch import Tensor, nn

from .._errors import ConfigError, ShapeError
from ..structure._validate import require_int
from ._nets import check_context
from ._spline import rational_quadratic, spline_parameter_count
from .base import Bijection

__all__ = ["MADE", "MaskedAutoregressive"]

_TRANSFORMS = ("affine", "spline")


class _MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed binary mask."""

    def __init__(self, mask: Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


@final
class MADE(nn.Module):
    """Masked autoencoder: ``(batch, d) → (batch, d, P)``, output ``i`` sees ``x_{<i}`` only.

    Args:
        features: ``d``.
        params_per_feature: ``P`` outputs per coordinate.
        hidden: hidden width.
        depth: hidden layers (≥ 1).
        context_features: an unmasked context input feeding every hidden unit.

    Example:
        >>> made = MADE(3, 2)
        >>> x = torch.randn(1, 3, requires_grad=True)
        >>> made(x)[0, 0].sum().backward()
        >>> x.grad.abs().sum().item()  # the first coordinate's parameters see no input
        0.0
    """

    def __init__(
        self,
        features: int,
        params_per_feature: int,
        hidden: int = 64,
        depth: int = 2,
        context_features: int = 0,
    ) -> None:
        super().__init__()
        owner = "MADE"
        self.features = require_int(features, "features", owner)
        self.params_per_feature = require_int(params_per_feature, "params_per_feature", owner)
        require_int(hidden, "hidden", owner)
        require_int(depth, "depth", owner)
        self.context_features = context_features
        degrees_in = torch.arange(1, features + 1)
        # Hidden degrees cycle through 1 … d−1 (all 1 when d = 1: then no unit feeds an output).
        top = max(features - 1, 1)
        layers: list[nn.Module] = []
        previous = degrees_in
        for _ in range(depth):
            degrees = torch.arange(hidden) % top + 1
            layers.append(_MaskedLinear((degrees[:, None] >= previous[None, :]).float()))
            previous = degrees
        degrees_out = degrees_in.repeat_interleave(params_per_feature)
        last = _MaskedLinear((degrees_out[:, None] > previous[None, :]).float())
        with torch.no_grad():
            last.weight.mul_(1e-2)
            last.bias.zero_()
        self.hidden_layers = nn.ModuleList(layers)
        self.output_layer = last
        self.context_layer = nn.Linear(context_features, hidden) if context_features else None

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Parameters ``θ`` of shape ``(batch, d, P)``."""
        h = x
        for index, layer in enumerate(self.hidden_layers):
            h = layer(h)
            if index == 0 and self.context_layer is not None:
                h = h + self.context_layer(context.to(x.dtype))
            h = torch.relu(h)
        return self.output_layer(h).reshape(x.shape[0], self.features, self.params_per_feature)


@final
class MaskedAutoregressive(Bijection):
    """Masked autoregressive flow layer with an affine or spline transform per coordinate.

    ``transform="affine"``: ``z_i = x_i · e^{s_i} + t_i`` with ``s_i = S·tanh(ŝ_i/S)``;
    ``transform="spline"``: ``z_i = RQS(x_i; θ_i)`` on ``[−B, B]`` with identity tails.

    Args:
        features: ``d``.
        transform: ``"affine"`` or ``"spline"``.
        hidden: MADE width.
        depth: MADE hidden layers.
        context_features: features of the context (0: unconditional).
        bins: spline bins.
        bound: spline half-width ``B``.
        scale_bound: largest absolute affine log-scale ``S``.

    Example:
        >>> layer = MaskedAutoregressive(3, transform="spline")
        >>> x = torch.randn(4, 3)
        >>> torch.allclose(layer.inverse(layer(x)), x, atol=1e-5)
        True
    """

    def __init__(
        self,
        features: int,
        *,
        transform: str = "affine",
        hidden: int = 64,
        depth: int = 2,
        context_features: int = 0,
        bins: int = 8,
        bound: float = 3.0,
        scale_bound: float = 3.0,
    ) -> None:
        super().__init__()
        owner = "MaskedAutoregressive"
        if transform not in _TRANSFORMS:
            raise ConfigError(
                f"{owner}: unknown transform {transform!r} — expected one of {_TRANSFORMS} — "
                f"choose 'affine' or 'spline'"
            )
        self.features = require_int(features, "features", owner)
        self.context_features = require_int(context_features, "context_features", owner, 0)
        self.transform = transform
        self.bins = require_int(bins, "bins", owner, 2)
        if not (bound > 0 and 0 < scale_bound < 30):
            raise ConfigError(
                f"{owner}: bound and scale_bound must be positive (scale_bound < 30) — received "
                f"bound={bound!r}, scale_bound={scale_bound!r} — e.g. 3.0 and 3.0"
            )
        self.bound, self.scale_bound = float(bound), float(scale_bound)
        params = 2 if transform == "affine" else spline_parameter_count(self.bins)
        self.made = MADE(features, params, hidden, depth, context_features)

    def _check(self, x: Tensor, context: Tensor | None) -> None:
        if x.dim() != 2 or x.shape[1] != self.features:
            raise ShapeError(
                f"MaskedAutoregressive: wrong input shape — expected (batch, {self.features}) — "
                f"received {tuple(x.shape)} — flatten the input"
            )
        check_context(context, self.context_features, x.shape[0], "MaskedAutoregressive")

    def _elementwise(self, x: Tensor, theta: Tensor, *, inverse: bool) -> tuple[Tensor, Tensor]:
        if self.transform == "spline":
            return rational_quadratic(x, theta, self.bound, inverse=inverse)
        log_scale = self.scale_bound * torch.tanh(theta[..., 0] / self.scale_bound)
        if inverse:
            return (x - theta[..., 1]) * torch.exp(-log_scale), -log_scale
        return x * torch.exp(log_scale) + theta[..., 1], log_scale

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        self._check(x, context)
        z, log_derivative = self._elementwise(x, self.made(x, context), inverse=False)
        return z, log_derivative.sum(dim=1)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        self._check(z, context)
        x = torch.zeros_like(z)
        log_derivative = torch.zeros_like(z)
        # Coordinate i needs x_{<i}: d passes, each fixing one more coordinate.
        for i in range(self.features):
            theta = self.made(x, context)[:, i]
            value, log_i = self._elementwise(z[:, i], theta, inverse=True)
            x = torch.cat((x[:, :i], value[:, None], x[:, i + 1 :]), dim=1)
            log_derivative = torch.cat(
                (log_derivative[:, :i], log_i[:, None], log_derivative[:, i + 1 :]), dim=1
            )
        return x, log_derivative.sum(dim=1)
