"""Rotating filters by arbitrary angles (groups that do not act exactly on the pixel grid).

A ``k × k`` filter ``w`` is read as the smooth function ``ψ(y) = Σ_j w_j φ(y − c_j)`` with
Gaussian bumps ``φ(y) = exp(−|y|²/(2σ²))``, ``σ = 0.7`` px, on the pixel centres ``c_j`` (only
centres in the inscribed disc are used). The rotated filter ``ψ(R_θ^{-1} y)`` is evaluated
exactly on a ``(k + 2) × (k + 2)`` grid — one margin pixel on each side holds the tails of the
bumps, so the truncation is (nearly) rotation invariant — with one ``((k+2)², k²)`` matrix per
angle and no resampling of a resampled filter. This Gaussian interpolation gives a much
smaller equivariance error than bilinear rotation of the raw weights (measured in
``tests/equivariant/test_networks.py``), but it remains an **approximation**: the image itself
is rotated by interpolation and the grid is discrete. For multiples of 90° the matrix is a
permutation of the identity-angle matrix (exact up to round-off in ``cos θ``).

The bumps are normalised to unit *mass* on the pixel lattice, ``φ(y) = exp(−|y|²/(2σ²)) / Z``
with ``Z = Σ_{n ∈ ℤ²} exp(−|n|²/(2σ²)) ≈ 3.08``: a rotated bump then spreads ``w_j`` over
pixels whose values sum to (almost exactly) ``w_j``, as an exact rotation, which moves ``w_j``
to one pixel, does. Without it every filter's response to smooth (low-frequency) inputs — and
to the mean of ReLU features — was ``Z`` times too large, so interpolated layers amplified
activations about 2× per layer at initialisation and deep C8 networks diverged. ``Z`` is one
scalar for all angles, so equivariance is unaffected.
"""

from __future__ import annotations

import functools
import math

import torch

from .groups import GroupElement

SIGMA = 0.7
#: Extra pixels on each side of the evaluated filter (holds the tails of the bumps).
MARGIN = 1
#: ``Σ_{n ∈ ℤ²} exp(−|n|²/(2σ²))`` (terms beyond |n_i| = 6 are below 1e-30): unit-mass bumps.
LATTICE_MASS = sum(math.exp(-(n * n) / (2 * SIGMA**2)) for n in range(-6, 7)) ** 2


@functools.lru_cache(maxsize=512)
def rotation_matrix(
    kernel_size: int, angle: float, *, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """``M[i, j] = φ(R_θ^{-1} y_i − c_j)``, ``y_i`` on the ``(k+2)²`` grid, ``c_j`` on ``k²``.

    ``φ`` has unit lattice mass (divided by :data:`LATTICE_MASS`), so ``Σ_i M[i, j] ≈ 1``.
    Geometry only, so it is cached per (k, θ, dtype, device): interpolated layers read it on
    every forward, and rebuilding it made a C8 training step about 1.7× slower. Do not modify
    the returned tensor in place.
    """
    idx = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    u, v = torch.meshgrid(idx, idx, indexing="ij")
    centres = torch.stack([u.flatten(), v.flatten()], dim=1)
    size = kernel_size + 2 * MARGIN
    out = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    u, v = torch.meshgrid(out, out, indexing="ij")
    pts = torch.stack([u.flatten(), v.flatten()], dim=1)
    cos, sin = math.cos(angle), math.sin(angle)
    # Same orientation as actions.rotate_interpolated (and torch.rot90).
    src = torch.stack([cos * pts[:, 0] + sin * pts[:, 1], -sin * pts[:, 0] + cos * pts[:, 1]], 1)
    dist2 = ((src[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    bumps = torch.exp(-dist2 / (2 * SIGMA**2)) / LATTICE_MASS
    return bumps.to(dtype=dtype, device=device)


def rotate_filter(g: GroupElement, weight: torch.Tensor) -> torch.Tensor:
    """``T_g`` on a ``(..., k, k)`` filter, by Gaussian interpolation: ``(..., k+2, k+2)``."""
    k = weight.shape[-1]
    size = k + 2 * MARGIN
    if g.flip:
        weight = torch.flip(weight, dims=(-1,))
    matrix = rotation_matrix(k, g.angle, dtype=weight.dtype, device=weight.device)
    flat = weight.reshape(*weight.shape[:-2], k * k) @ matrix.T
    return flat.reshape(*weight.shape[:-2], size, size)


def disc_mask(kernel_size: int) -> torch.Tensor:
    """1 on bump centres within radius ``(k − 1)/2``: they stay inside the grid when rotated."""
    idx = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    dist = torch.sqrt(idx[:, None] ** 2 + idx[None, :] ** 2)
    return (dist <= (kernel_size - 1) / 2 + 1e-9).to(torch.get_default_dtype())
