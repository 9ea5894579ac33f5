"""Invertible 1×1 convolution: one invertible channel-mixing matrix at every pixel.

``z[:, :, i, j] = W x[:, :, i, j]`` for a ``C × C`` matrix ``W`` (Kingma and Dhariwal 2018);
``log|det| = H·W_px·log|det W|``. With ``parametrisation="lu"`` (the default) ``W = P L U``
with pivots ``±e^{λ}`` (:mod:`._lu`): it is invertible for every parameter value, so the
inverse never fails. ``parametrisation="plain"`` learns ``W`` directly; it can drift towards a
singular matrix, so every call guards the determinant: a condition number above
``max_condition`` raises :class:`~structdl.InverseError` instead of returning garbage.
"""

from __future__ import annotations

from typing import final

import torch
from torch import Tensor, nn

from .._errors import ConfigError, InverseError, ShapeError
from ..structure._validate import require_int
from ..structure.declarations import Claim
from ._claims import bilipschitz_claim
from ._lu import LUMatrix, check_weight, matrix_lipschitz_bounds, random_orthogonal
from .base import Bijection

__all__ = ["InvertibleConv1x1"]

_PARAMETRISATIONS = ("lu", "plain")


@final
class InvertibleConv1x1(Bijection):
    """Invertible 1×1 convolution on ``(batch, C, H, W)`` images.

    Invertible; bi-Lipschitz with constants ``(‖W‖₂, ‖W⁻¹‖₂)`` (the channel map at each pixel).

    Args:
        channels: ``C``.
        parametrisation: ``"lu"`` (never singular) or ``"plain"`` (guarded determinant).
        weight: initial ``C × C`` matrix (default a random rotation); must be non-singular.
        max_condition: largest condition number accepted at construction and, for
            ``"plain"``, at every call.

    Example:
        >>> conv = InvertibleConv1x1(4)
        >>> x = torch.randn(2, 4, 3, 3)
        >>> z, logdet = conv.forward_and_logdet(x)
        >>> torch.allclose(conv.inverse(z), x, atol=1e-5), logdet.shape
        (True, torch.Size([2]))
    """

    def __init__(
        self,
        channels: int,
        *,
        parametrisation: str = "lu",
        weight: Tensor | None = None,
        max_condition: float = 1e6,
    ) -> None:
        super().__init__()
        self.channels = require_int(channels, "channels", "InvertibleConv1x1")
        if parametrisation not in _PARAMETRISATIONS:
            raise ConfigError(
                f"InvertibleConv1x1: unknown parametrisation {parametrisation!r} — expected one "
                f"of {_PARAMETRISATIONS} — use 'lu' unless you need a free matrix"
            )
        self.parametrisation = parametrisation
        self.max_condition = float(max_condition)
        if parametrisation == "lu":
            self.matrix = LUMatrix(channels, weight, max_condition=max_condition)
        else:
            start = random_orthogonal(channels) if weight is None else weight
            check_weight(start, channels, "InvertibleConv1x1", max_condition)
            self.plain_weight = nn.Parameter(start.detach().to(torch.get_default_dtype()).clone())

    def weight(self) -> Tensor:
        """The channel-mixing matrix ``W``."""
        return self.matrix.weight() if self.parametrisation == "lu" else self.plain_weight

    def _guarded(self) -> tuple[Tensor, Tensor]:
        """``(W, log|det W|)``; the plain matrix is refused when it is nearly singular."""
        if self.parametrisation == "lu":
            return self.matrix.weight(), self.matrix.logabsdet()
        weight = self.plain_weight
        singular = torch.linalg.svdvals(weight.detach().double())
        condition = float(singular[0] / singular[-1]) if float(singular[-1]) > 0 else float("inf")
        if not condition <= self.max_condition:
            raise InverseError(
                f"InvertibleConv1x1(parametrisation='plain'): the weight became singular — "
                f"expected a condition number ≤ {self.max_condition:.3g} — received "
                f"{condition:.3g} — use parametrisation='lu', which is never singular",
                residual=condition,
            )
        return weight, torch.linalg.slogdet(weight)[1]

    def lipschitz_bounds(self) -> tuple[float, float]:
        """``(‖W‖₂, ‖W⁻¹‖₂)``."""
        return matrix_lipschitz_bounds(self.weight())

    @property
    def claims(self) -> tuple[Claim, ...]:
        """``Invertible`` and ``BiLipschitz(σ_max, 1/σ_min)`` of the channel map."""
        forward, inverse = self.lipschitz_bounds()
        return (*super().claims, bilipschitz_claim(forward, inverse, "‖W‖₂ and ‖W⁻¹‖₂ per pixel"))

    def _check(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ShapeError(
                f"InvertibleConv1x1: wrong input shape — expected (batch, {self.channels}, H, W) "
                f"— received {tuple(x.shape)} — pass images with {self.channels} channels"
            )

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        self._check(x)
        weight, logabsdet = self._guarded()
        pixels = x.shape[2] * x.shape[3]
        z = torch.einsum("oc,bchw->bohw", weight, x)
        return z, (pixels * logabsdet).expand(x.shape[0])

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        self._check(z)
        weight, logabsdet = self._guarded()
        if self.parametrisation == "lu":
            inverse = self.matrix.inverse_weight()
        else:
            inverse = torch.linalg.inv(weight)
        pixels = z.shape[2] * z.shape[3]
        x = torch.einsum("oc,bchw->bohw", inverse, z)
        return x, (-pixels * logabsdet).expand(z.shape[0])
