"""Image-quality metrics: PSNR and SSIM in torch (no scikit-image needed at run time).

SSIM follows Wang et al. (2004) with the defaults of ``skimage.metrics.structural_similarity``
for float images: a 7×7 uniform window, ``K1 = 0.01``, ``K2 = 0.03``, sample covariances
(``NP / (NP − 1)``), and the mean over the windows that lie inside the image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .._errors import ConfigError, ShapeError

__all__ = ["psnr", "ssim"]


def _pair(estimate: Tensor, reference: Tensor, *, minimum_side: int = 1) -> tuple[Tensor, Tensor]:
    if not isinstance(estimate, Tensor) or not isinstance(reference, Tensor):
        raise ShapeError(
            "metrics need tensors — expected two torch tensors (..., H, W) — got "
            f"{type(estimate).__name__} and {type(reference).__name__} — wrap with torch.as_tensor"
        )
    if estimate.shape != reference.shape or estimate.dim() < 2:
        raise ShapeError(
            f"mismatched images — expected two tensors of the same shape (..., H, W) — got "
            f"{tuple(estimate.shape)} and {tuple(reference.shape)} — compare like with like"
        )
    if min(estimate.shape[-2:]) < minimum_side:
        raise ShapeError(
            f"image too small — expected H, W ≥ {minimum_side} — got {tuple(estimate.shape)} — "
            "use a smaller window or larger images"
        )
    return estimate.detach().to(torch.float64), reference.detach().to(torch.float64)


def psnr(estimate: Tensor, reference: Tensor) -> Tensor:
    r"""Peak signal-to-noise ratio per image, with the peak = max of the reference.

    ``PSNR = 10 log10(max(x_ref)² / mean((x̂ − x_ref)²))`` over the last two axes; identical
    images give ``+inf``.

    Args:
        estimate, reference: tensors ``(..., H, W)`` of the same shape.

    Returns:
        float64 tensor of shape ``(...)``.
    """
    est, ref = _pair(estimate, reference)
    mse = ((est - ref) ** 2).mean(dim=(-2, -1))
    peak = ref.amax(dim=(-2, -1))
    with torch.no_grad():
        value = 10.0 * torch.log10(peak**2 / mse)
    # 0/0 (a constant-zero reference reconstructed exactly) is a perfect match, not NaN.
    return torch.where(mse == 0, torch.full_like(value, math.inf), value)


def ssim(
    estimate: Tensor, reference: Tensor, *, data_range: float | None = None, window: int = 7
) -> Tensor:
    r"""Structural similarity per image (uniform window, sample covariances).

    .. math:: \mathrm{SSIM} = \operatorname{mean}_w
        \frac{(2 μ_x μ_y + C_1)(2 σ_{xy} + C_2)}{(μ_x² + μ_y² + C_1)(σ_x² + σ_y² + C_2)},
        \quad C_1 = (0.01 R)², C_2 = (0.03 R)².

    Args:
        estimate, reference: tensors ``(..., H, W)`` of the same shape, ``H, W ≥ window``.
        data_range: ``R``; default ``max(reference) − min(reference)`` per image.
        window: odd side of the uniform window (default 7, as scikit-image).

    Returns:
        float64 tensor of shape ``(...)``; 1 for identical images.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 3 or window % 2 == 0:
        raise ConfigError(
            f"invalid SSIM window — expected an odd int ≥ 3 — got {window!r} — pass window=7"
        )
    est, ref = _pair(estimate, reference, minimum_side=window)
    lead = est.shape[:-2]
    h, w = est.shape[-2:]
    x, y = est.reshape(-1, 1, h, w), ref.reshape(-1, 1, h, w)
    if data_range is None:
        value_range = (ref.amax(dim=(-2, -1)) - ref.amin(dim=(-2, -1))).reshape(-1, 1, 1, 1)
    else:
        if not (isinstance(data_range, (int, float)) and data_range > 0):
            raise ConfigError(
                f"invalid data_range — expected a float > 0 — got {data_range!r} — pass the "
                "dynamic range of the images, e.g. data_range=1.0"
            )
        value_range = torch.full((x.shape[0], 1, 1, 1), float(data_range), dtype=torch.float64)
    # A constant reference has zero range; fall back to 1 so the constants stay positive.
    value_range = torch.where(value_range > 0, value_range, torch.ones_like(value_range))
    c1, c2 = (0.01 * value_range) ** 2, (0.03 * value_range) ** 2

    def mean(t: Tensor) -> Tensor:
        # Valid windows only = scikit-image's filtered maps cropped by (window − 1)/2.
        return F.avg_pool2d(t, window, stride=1)

    n_points = window * window
    cov_norm = n_points / (n_points - 1)
    mx, my = mean(x), mean(y)
    vx = cov_norm * (mean(x * x) - mx * mx)
    vy = cov_norm * (mean(y * y) - my * my)
    vxy = cov_norm * (mean(x * y) - mx * my)
    numerator = (2 * mx * my + c1) * (2 * vxy + c2)
    denominator = (mx * mx + my * my + c1) * (vx + vy + c2)
    return (numerator / denominator).mean(dim=(-3, -2, -1)).reshape(lead)
