"""ActNorm: a per-feature affine map initialised from the first batch.

``z = (x − μ) · e^{−ρ}`` per feature (vector entry or image channel), with ``μ`` and ``ρ``
learnable and set on the first forward call so that that batch has zero mean and unit
variance per feature (Kingma and Dhariwal 2018). ``log|det| = −P·Σ ρ_c`` with ``P`` the
number of pixels (1 for vectors). Bi-Lipschitz with constants ``(max e^{−ρ}, max e^{ρ})``.
"""

from __future__ import annotations

from typing import final

import torch
from torch import Tensor, nn

from .._errors import ShapeError
from ..structure._validate import require_int
from ..structure.declarations import Claim
from ._claims import bilipschitz_claim
from .base import Bijection

__all__ = ["ActNorm"]


@final
class ActNorm(Bijection):
    """Per-feature affine normalisation with data-dependent initialisation.

    The first call of the forward direction in training mode sets ``μ`` to the batch mean and
    ``ρ`` to the log of the batch standard deviation (per feature); the flag ``initialised`` is
    a buffer, so a loaded state dict is not initialised again.

    Args:
        features: number of features (axis 1) of ``(batch, features)`` or
            ``(batch, features, H, W)`` inputs.

    Example:
        >>> norm = ActNorm(3)
        >>> z = norm(torch.randn(256, 3) * 5 + 2)
        >>> bool(z.mean(0).abs().max() < 1e-5), bool((z.std(0) - 1).abs().max() < 1e-2)
        (True, True)
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = require_int(features, "features", "ActNorm")
        self.shift = nn.Parameter(torch.zeros(features))
        self.log_scale = nn.Parameter(torch.zeros(features))
        self.register_buffer("initialised", torch.tensor(False))

    def _shape(self, x: Tensor) -> tuple[int, ...]:
        if x.dim() not in (2, 4) or x.shape[1] != self.features:
            raise ShapeError(
                f"ActNorm: wrong input shape — expected (batch, {self.features}) or (batch, "
                f"{self.features}, H, W) — received {tuple(x.shape)} — build ActNorm with the "
                f"number of features on axis 1"
            )
        return (1, self.features) + (1,) * (x.dim() - 2)

    def _initialise(self, x: Tensor) -> None:
        dims = [d for d in range(x.dim()) if d != 1]
        with torch.no_grad():
            self.shift.copy_(x.mean(dim=dims))
            std = x.std(dim=dims) if x.numel() > self.features else torch.ones_like(self.shift)
            self.log_scale.copy_(std.clamp_min(1e-6).log())
            self.initialised.fill_(True)

    def lipschitz_bounds(self) -> tuple[float, float]:
        """``(max e^{−ρ}, max e^{ρ})``."""
        rho = self.log_scale.detach().double()
        return float((-rho).exp().max()), float(rho.exp().max())

    @property
    def claims(self) -> tuple[Claim, ...]:
        """``Invertible`` and ``BiLipschitz`` with the current scales."""
        forward, inverse = self.lipschitz_bounds()
        return (*super().claims, bilipschitz_claim(forward, inverse, "largest scale each way"))

    def _logdet(self, x: Tensor) -> Tensor:
        pixels = x[0, 0].numel()
        return (-pixels * self.log_scale.sum()).expand(x.shape[0])

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        shape = self._shape(x)
        if self.training and not bool(self.initialised):
            self._initialise(x)
        z = (x - self.shift.view(shape)) * torch.exp(-self.log_scale).view(shape)
        return z, self._logdet(x)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        shape = self._shape(z)
        x = z * torch.exp(self.log_scale).view(shape) + self.shift.view(shape)
        return x, -self._logdet(z)
