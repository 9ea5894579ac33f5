"""Filtered back-projection (FBP): the classical analytic baseline for parallel-beam CT."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .radon import RadonTransform

__all__ = ["fbp", "ramp_filter"]


def _ram_lak_kernel(n_detectors: int, spacing: float, dtype: torch.dtype) -> Tensor:
    # Band-limited ramp |ν| sampled in space (Kak & Slaney, eq. 3.61): h(0) = 1/(4τ²),
    # h(kτ) = −1/(k π τ)² for odd k, 0 for even k ≠ 0. Spatial sampling avoids the DC error of a
    # naively discretised |ν| in the frequency domain.
    k = torch.arange(-(n_detectors - 1), n_detectors, dtype=torch.float64)
    kernel = torch.zeros_like(k)
    kernel[k == 0] = 1.0 / (4.0 * spacing**2)
    odd = (k.abs() % 2) == 1
    kernel[odd] = -1.0 / (math.pi * k[odd] * spacing) ** 2
    return kernel.to(dtype)


def ramp_filter(sinogram: Tensor, spacing: float, *, kernel: Tensor | None = None) -> Tensor:
    r"""Filter each projection with the band-limited ramp (Ram–Lak) filter.

    ``q(s_i) = τ Σ_j h(s_i − s_j) p(s_j)`` with ``τ`` the detector spacing and ``h`` the
    spatial Ram–Lak kernel, i.e. the discrete form of multiplying by ``|ν|`` in frequency.

    Args:
        sinogram: ``(B, C, n_angles, n_detectors)``.
        spacing: detector spacing ``τ`` in the units of the image domain.
        kernel: the sampled Ram–Lak kernel for this ``spacing`` and detector count, if the
            caller has it already (built here otherwise).
    """
    batch, channels, n_angles, n_det = sinogram.shape
    if kernel is None:
        kernel = _ram_lak_kernel(n_det, spacing, sinogram.dtype).to(sinogram.device)
    rows = sinogram.reshape(-1, 1, n_det)
    # conv1d is a correlation; the kernel is even, so correlation = convolution.
    filtered = F.conv1d(rows, kernel.view(1, 1, -1), padding=n_det - 1) * spacing
    return filtered.reshape(batch, channels, n_angles, n_det)


def _backprojection_grid(op: RadonTransform, dtype: torch.dtype) -> Tensor:
    # Sampling positions (detector coordinate, angle row) of every pixel's back-projection,
    # (1, n_angles, n², 2) in grid_sample's normalised units; geometry only.
    n = op.image_size
    centres = (torch.arange(n, dtype=torch.float64) + 0.5) * (2.0 / n) - 1.0
    py, px = torch.meshgrid(centres, centres, indexing="ij")
    theta = op.angles.to(torch.float64)
    s = px[None] * torch.cos(theta)[:, None, None] + py[None] * torch.sin(theta)[:, None, None]
    gx = s / math.sqrt(2.0)  # detector cells span [-√2, √2] in normalised units
    rows = (torch.arange(op.n_angles, dtype=torch.float64) + 0.5) * (2.0 / op.n_angles) - 1.0
    gy = rows[:, None, None].expand_as(gx)
    return torch.stack([gx, gy], dim=-1).reshape(1, op.n_angles, n * n, 2).to(dtype)


def _cached(op: RadonTransform, name: str, like: Tensor, build: Callable[[], Tensor]) -> Tensor:
    # Geometry tensors depend only on the operator, dtype and device: built once per operator
    # (learned reconstructions call FBP at every forward pass).
    key = (name, like.dtype, like.device)
    if key not in op._fbp_cache:
        op._fbp_cache[key] = build().to(device=like.device)
    return op._fbp_cache[key]


def _backproject_pixel_driven(op: RadonTransform, q: Tensor) -> Tensor:
    # x(p) = Σ_θ q_θ(⟨p, θ⟩) Δθ with linear interpolation along the detector: the smooth
    # back-projection of FBP (the exact discrete adjoint Aᵀ scatters instead, which is what
    # gradient methods need, but it is not the interpolating back-projection FBP assumes).
    n = op.image_size
    batch, channels = q.shape[:2]
    grid = _cached(op, "grid", q, lambda: _backprojection_grid(op, q.dtype))
    grid = grid.expand(batch, -1, -1, -1)
    values = F.grid_sample(q, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return values.sum(dim=2).reshape(batch, channels, n, n) * (math.pi / op.n_angles)


def fbp(op: RadonTransform, sinogram: Tensor) -> Tensor:
    r"""Filtered back-projection ``x = ∫_0^π (h * p_θ)(⟨x, θ⟩) dθ`` (ramp filter + back-projection).

    Args:
        op: the Radon transform that produced ``sinogram`` (geometry and units).
        sinogram: ``(B, C, n_angles, n_detectors)``.

    Returns:
        Images ``(B, C, n, n)``. Exact for band-limited data and infinitely many angles; with
        few angles or noisy data it shows streaks and noise (a baseline, not a regulariser).
    """
    op._check_sinogram(sinogram)
    spacing = op.detector_spacing
    kernel = _cached(
        op, "ramp", sinogram, lambda: _ram_lak_kernel(op.n_detectors, spacing, sinogram.dtype)
    )
    return _backproject_pixel_driven(op, ramp_filter(sinogram, spacing, kernel=kernel))
