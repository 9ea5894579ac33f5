"""Multiscale flow for images with factored-out dimensions and a learned conditional prior.

Level ``ℓ`` of ``L`` (Dinh et al. 2017; Kingma and Dhariwal 2018)::

    h ──downsample──▶ 4C channels ──K × [ActNorm → 1×1 conv (LU) → affine coupling]──▶ h'
    h' = (h_keep, y):   y is factored out,  h_keep goes on to level ℓ + 1  (not at the last level)

The factored-out half ``y`` is not given a fixed standard normal: its prior is a Gaussian
whose mean and log-scale are predicted from the kept half (and the context),
``y | h_keep ~ N(μ(h_keep), e^{2ρ(h_keep)})``. As a bijection this is the conditional affine
map ``ε = (y − μ)·e^{−ρ}`` (log-determinant ``−Σρ``) onto a standard normal, so the whole
multiscale flow maps an image to a flat vector ``(ε_0, …, ε_{L−2}, h_L)`` whose base
distribution is the standard normal, and the learned prior is trained with the rest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import final

import torch
from torch import Tensor, nn

from .._errors import ConfigError, ShapeError
from ..structure._validate import require_int
from ._nets import ConvConditioner, check_context
from .actnorm import ActNorm
from .base import Bijection, Compose
from .conv import InvertibleConv1x1
from .coupling import AffineCoupling
from .reshape import HaarDownsample, Squeeze

__all__ = ["MultiscaleFlow"]

_DOWNSAMPLES = {"squeeze": Squeeze, "haar": HaarDownsample}


class _ConditionalPrior(nn.Module):
    """``(μ, ρ) = NN(h_keep, context)`` for the factored-out channels; ``ρ`` soft-clamped."""

    def __init__(self, kept: int, factored: int, hidden: int, context_features: int) -> None:
        super().__init__()
        self.net = ConvConditioner(kept, 2 * factored, hidden, context_features)
        self.context_features = context_features

    def forward(self, kept: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        out = self.net(kept, context) if self.context_features else self.net(kept)
        mean, raw = out.chunk(2, dim=1)
        return mean, 3.0 * torch.tanh(raw / 3.0)


@final
class MultiscaleFlow(Bijection):
    """Images ``(batch, C, H, W)`` → flat latents ``(batch, C·H·W)``, multiscale.

    Invertible (every part is); its log-determinant is the sum of the parts'.

    Args:
        shape: ``(C, H, W)`` of the images; ``H`` and ``W`` divisible by ``2^levels``.
        levels: number of scales ``L`` (each downsamples by 2 and, except the last, factors
            out half of the channels).
        steps: flow steps ``K`` per level.
        hidden: channels of the coupling and prior networks.
        context_features: features of the context (0: unconditional).
        downsample: ``"squeeze"`` or ``"haar"``.
        learned_prior: give the factored-out halves the learned conditional prior (``True``)
            or a fixed standard normal (``False``, the plain multiscale architecture).

    Example:
        >>> flow = MultiscaleFlow((1, 4, 4), levels=2, steps=1, hidden=8)
        >>> x = torch.randn(3, 1, 4, 4)
        >>> z, logdet = flow.forward_and_logdet(x)
        >>> z.shape, torch.allclose(flow.inverse(z), x, atol=1e-5)
        (torch.Size([3, 16]), True)
    """

    def __init__(
        self,
        shape: Sequence[int],
        *,
        levels: int = 2,
        steps: int = 4,
        hidden: int = 32,
        context_features: int = 0,
        downsample: str = "squeeze",
        learned_prior: bool = True,
    ) -> None:
        super().__init__()
        owner = "MultiscaleFlow"
        shape = tuple(shape)
        if len(shape) != 3:
            raise ConfigError(
                f"{owner}: shape must be (C, H, W) — received {shape!r} — pass e.g. (1, 8, 8)"
            )
        channels, height, width = (require_int(s, "shape entries", owner) for s in shape)
        self.levels = require_int(levels, "levels", owner)
        require_int(steps, "steps", owner)
        self.context_features = require_int(context_features, "context_features", owner, 0)
        if height % 2**levels or width % 2**levels:
            raise ConfigError(
                f"{owner}: H and W must be divisible by 2^levels = {2**levels} — received "
                f"{height}×{width} — lower levels or pad the images"
            )
        if downsample not in _DOWNSAMPLES:
            raise ConfigError(
                f"{owner}: unknown downsample {downsample!r} — expected one of "
                f"{sorted(_DOWNSAMPLES)} — choose 'squeeze' or 'haar'"
            )
        self.shape = shape
        self.learned_prior = bool(learned_prior)
        self.blocks = nn.ModuleList()
        self.priors = nn.ModuleList()
        #: Shapes of the factored-out pieces and of the final latent, in output order.
        self.piece_shapes: list[tuple[int, int, int]] = []
        c, h, w = channels, height, width
        for level in range(levels):
            c, h, w = 4 * c, h // 2, w // 2
            parts: list[Bijection] = [_DOWNSAMPLES[downsample]()]
            for k in range(steps):
                first = c // 2
                kept, changed = (first, c - first) if k % 2 == 0 else (c - first, first)
                parts += [
                    ActNorm(c),
                    InvertibleConv1x1(c),
                    AffineCoupling(
                        c,
                        parity=k % 2,
                        context_features=context_features,
                        conditioner=ConvConditioner(kept, 2 * changed, hidden, context_features),
                    ),
                ]
            self.blocks.append(Compose(parts))
            if level < levels - 1:
                keep = c // 2
                if self.learned_prior:
                    self.priors.append(_ConditionalPrior(keep, c - keep, hidden, context_features))
                self.piece_shapes.append((c - keep, h, w))
                c = keep
        self.piece_shapes.append((c, h, w))

    def _check(self, x: Tensor, context: Tensor | None) -> None:
        if tuple(x.shape[1:]) != self.shape:
            image = ", ".join(map(str, self.shape))
            raise ShapeError(
                f"MultiscaleFlow: wrong input shape — expected (batch, {image}) — received "
                f"{tuple(x.shape)} — pass images of the shape the flow was built for"
            )
        check_context(context, self.context_features, x.shape[0], "MultiscaleFlow")

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        self._check(x, context)
        total = x.new_zeros(x.shape[0])
        pieces = []
        h = x
        for level, block in enumerate(self.blocks):
            h, logdet = block.forward_and_logdet(h, context)
            total = total + logdet
            if level < self.levels - 1:
                keep = h.shape[1] // 2
                h, y = h[:, :keep], h[:, keep:]
                if self.learned_prior:
                    mean, log_scale = self.priors[level](h, context)
                    y = (y - mean) * torch.exp(-log_scale)
                    total = total - log_scale.flatten(1).sum(1)
                pieces.append(y.flatten(1))
        pieces.append(h.flatten(1))
        return torch.cat(pieces, dim=1), total

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        size = math.prod(self.shape)
        if z.dim() != 2 or z.shape[1] != size:
            raise ShapeError(
                f"MultiscaleFlow: wrong latent shape — expected (batch, {size}) — received "
                f"{tuple(z.shape)} — pass the flat output of the forward map"
            )
        check_context(context, self.context_features, z.shape[0], "MultiscaleFlow")
        sizes = [math.prod(s) for s in self.piece_shapes]
        flat = torch.split(z, sizes, dim=1)
        pieces = [p.reshape(z.shape[0], *s) for p, s in zip(flat, self.piece_shapes, strict=True)]
        total = z.new_zeros(z.shape[0])
        h = pieces[-1]
        for level in reversed(range(self.levels)):
            if level < self.levels - 1:
                y = pieces[level]
                if self.learned_prior:
                    mean, log_scale = self.priors[level](h, context)
                    y = y * torch.exp(log_scale) + mean
                    total = total + log_scale.flatten(1).sum(1)
                h = torch.cat((h, y), dim=1)
            h, logdet = self.blocks[level].inverse_and_logdet(h, context)
            total = total + logdet
        return h, total
