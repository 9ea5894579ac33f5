"""Coupling layers: one part of the input conditions an invertible map of the other part.

The features (axis 1: vector entries or image channels) are split into a kept part ``x_a``
and a changed part ``x_b`` (``parity`` 0 keeps the first half, 1 the second). With
``θ = NN(x_a, context)``,

    z_a = x_a,    z_b = τ(x_b; θ),

where ``τ`` is elementwise and invertible in ``x_b`` for every ``θ``. The Jacobian is block
triangular, so ``log|det| = Σ log|τ'(x_b; θ)|`` and the inverse needs one pass of ``NN``
(Dinh et al. 2015, 2017; Durkan et al. 2019):

- :class:`AdditiveCoupling`: ``τ = x_b + t(θ)`` — volume preserving (NICE);
- :class:`AffineCoupling`: ``τ = x_b · exp(s) + t`` with the log-scale soft-clamped,
  ``s = S·tanh(ŝ/S)``, so a scale never under- or overflows (RealNVP with a stable scale);
- :class:`SplineCoupling`: ``τ`` a monotone rational-quadratic spline on ``[−B, B]`` with
  identity tails, finite and exact outside the interval (neural spline flows).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import final

import torch
from torch import Tensor, nn

from .._errors import ConfigError, ShapeError
from ..structure._validate import require_int
from ._nets import MLPConditioner, check_context
from ._spline import rational_quadratic, spline_parameter_count
from .base import Bijection

__all__ = ["AdditiveCoupling", "AffineCoupling", "SplineCoupling"]


class _Coupling(Bijection):
    """Split, condition, transform, merge; subclasses give ``τ`` and its parameter count."""

    #: Parameters of ``τ`` per changed element.
    params_per_element: int = 1

    def __init__(
        self,
        features: int,
        *,
        parity: int = 0,
        hidden: int = 64,
        depth: int = 2,
        context_features: int = 0,
        conditioner: nn.Module | None = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.features = require_int(features, "features", owner, minimum=2)
        if parity not in (0, 1):
            raise ConfigError(
                f"{owner}: parity must be 0 or 1 — received {parity!r} — 0 keeps the first "
                f"half of the features, 1 the second"
            )
        self.parity = parity
        self.context_features = require_int(context_features, "context_features", owner, 0)
        first = features // 2
        self.sizes = (first, features - first)
        kept, changed = self.sizes if parity == 0 else self.sizes[::-1]
        self.kept, self.changed = kept, changed
        if conditioner is None:
            conditioner = MLPConditioner(
                kept, changed * self.params_per_element, hidden, depth, context_features
            )
        self.conditioner = conditioner

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.dim() < 2 or x.shape[1] != self.features:
            raise ShapeError(
                f"{type(self).__name__}: wrong input shape — expected (batch, {self.features}, …) "
                f"— received {tuple(x.shape)} — build the layer with the size of axis 1"
            )
        first, second = torch.split(x, self.sizes, dim=1)
        return (first, second) if self.parity == 0 else (second, first)

    def _merge(self, kept: Tensor, changed: Tensor) -> Tensor:
        parts = (kept, changed) if self.parity == 0 else (changed, kept)
        return torch.cat(parts, dim=1)

    def _parameters_for(self, kept: Tensor, context: Tensor | None) -> Tensor:
        check_context(context, self.context_features, kept.shape[0], type(self).__name__)
        theta = self.conditioner(kept, context) if self.context_features else self.conditioner(kept)
        # (batch, changed·P, …) → (batch, changed, …, P): parameters last for the elementwise τ.
        theta = theta.reshape(kept.shape[0], self.changed, self.params_per_element, *kept.shape[2:])
        # Vectors: already parameters-last (a no-op permute would add an autograd node).
        return theta.movedim(2, -1) if kept.dim() > 2 else theta

    @abstractmethod
    def _transform(self, x: Tensor, theta: Tensor, *, inverse: bool) -> tuple[Tensor, Tensor]:
        """``(τ(x; θ), log|τ'|)`` elementwise, or the inverse map and its log-derivative."""

    def _run(self, x: Tensor, context: Tensor | None, *, inverse: bool) -> tuple[Tensor, Tensor]:
        kept, changed = self._split(x)
        theta = self._parameters_for(kept, context)
        out, log_derivative = self._transform(changed, theta, inverse=inverse)
        if log_derivative.dim() > 2:
            log_derivative = log_derivative.reshape(x.shape[0], -1)
        return self._merge(kept, out), log_derivative.sum(dim=1)

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return self._run(x, context, inverse=False)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return self._run(z, context, inverse=True)


@final
class AdditiveCoupling(_Coupling):
    """``z_b = x_b + t(x_a, context)``: volume preserving, ``log|det| = 0`` (NICE).

    Args:
        features: size of axis 1 (≥ 2).
        parity: 0 keeps the first half, 1 the second.
        hidden: width of the default MLP conditioner.
        depth: hidden layers of the default conditioner.
        context_features: features of the context (0: unconditional).
        conditioner: a module ``(x_a[, context]) → (batch, changed, …)`` replacing the MLP.

    Example:
        >>> layer = AdditiveCoupling(4)
        >>> x = torch.randn(3, 4)
        >>> z, logdet = layer.forward_and_logdet(x)
        >>> torch.allclose(layer.inverse(z), x, atol=1e-6), logdet.abs().max().item()
        (True, 0.0)
    """

    volume_preserving = True
    params_per_element = 1

    def _transform(self, x: Tensor, theta: Tensor, *, inverse: bool) -> tuple[Tensor, Tensor]:
        shift = theta[..., 0]
        return (x - shift if inverse else x + shift), torch.zeros_like(x)


@final
class AffineCoupling(_Coupling):
    """``z_b = x_b · exp(s) + t`` with ``s = S·tanh(ŝ/S)`` from ``(ŝ, t) = NN(x_a, context)``.

    ``log|det| = Σ s``. The soft clamp keeps each scale in ``[e^{−S}, e^{S}]``, so neither
    direction can overflow and the inverse ``x_b = (z_b − t)·exp(−s)`` is as well conditioned
    as the forward map.

    Args:
        features: size of axis 1 (≥ 2).
        parity: 0 keeps the first half, 1 the second.
        hidden: width of the default MLP conditioner.
        depth: hidden layers of the default conditioner.
        context_features: features of the context (0: unconditional).
        conditioner: a module ``(x_a[, context]) → (batch, 2·changed, …)`` replacing the MLP.
        scale_bound: ``S > 0``, the largest absolute log-scale.

    Example:
        >>> layer = AffineCoupling(4, context_features=2)
        >>> x, c = torch.randn(3, 4), torch.randn(3, 2)
        >>> z, logdet = layer.forward_and_logdet(x, context=c)
        >>> torch.allclose(layer.inverse(z, context=c), x, atol=1e-6)
        True
    """

    params_per_element = 2

    def __init__(self, features: int, *, scale_bound: float = 3.0, **options: object) -> None:
        super().__init__(features, **options)  # type: ignore[arg-type]
        if not (isinstance(scale_bound, (int, float)) and 0 < scale_bound < 30):
            raise ConfigError(
                f"AffineCoupling: scale_bound must be a number in (0, 30) — received "
                f"{scale_bound!r} — the default 3 allows scales in [e^-3, e^3]"
            )
        self.scale_bound = float(scale_bound)

    def _transform(self, x: Tensor, theta: Tensor, *, inverse: bool) -> tuple[Tensor, Tensor]:
        log_scale = self.scale_bound * torch.tanh(theta[..., 0] / self.scale_bound)
        shift = theta[..., 1]
        if inverse:
            return (x - shift) * torch.exp(-log_scale), -log_scale
        return x * torch.exp(log_scale) + shift, log_scale


@final
class SplineCoupling(_Coupling):
    """``z_b = RQS(x_b; θ)``: a monotone rational-quadratic spline per element of ``x_b``.

    The spline maps ``[−B, B]`` onto itself with ``bins`` bins and is the identity outside,
    with derivative 1 at ``±B`` (C¹). Inputs outside the interval pass through exactly, with
    zero log-derivative and finite gradients.

    Args:
        features: size of axis 1 (≥ 2).
        parity: 0 keeps the first half, 1 the second.
        bins: number of spline bins ``K`` (≥ 2).
        bound: half-width ``B`` of the spline interval.
        hidden: width of the default MLP conditioner.
        depth: hidden layers of the default conditioner.
        context_features: features of the context (0: unconditional).
        conditioner: a module ``(x_a[, context]) → (batch, (3K−1)·changed, …)``.

    Example:
        >>> layer = SplineCoupling(2, bins=6, bound=3.0)
        >>> x = torch.tensor([[0.5, -0.2], [10.0, 50.0]])
        >>> z, logdet = layer.forward_and_logdet(x)
        >>> z[1].tolist(), bool(torch.isfinite(logdet).all())
        ([10.0, 50.0], True)
    """

    def __init__(
        self, features: int, *, bins: int = 8, bound: float = 3.0, **options: object
    ) -> None:
        bins = require_int(bins, "bins", "SplineCoupling", minimum=2)
        if not (isinstance(bound, (int, float)) and bound > 0):
            raise ConfigError(
                f"SplineCoupling: bound must be a positive number — received {bound!r} — pass "
                f"the half-width of the interval holding most of the data, e.g. bound=3.0"
            )
        self.params_per_element = spline_parameter_count(bins)
        super().__init__(features, **options)  # type: ignore[arg-type]
        self.bins, self.bound = bins, float(bound)

    def _transform(self, x: Tensor, theta: Tensor, *, inverse: bool) -> tuple[Tensor, Tensor]:
        return rational_quadratic(x, theta, self.bound, inverse=inverse)
