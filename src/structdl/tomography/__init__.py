"""Computed tomography: Radon transform with exact adjoint, FBP and TV baselines, metrics, and
learned proximal-gradient reconstruction with ordinary or group-equivariant proximal blocks."""

from .fbp import fbp, ramp_filter
from .learned import LearnedProximalGradient, ProximalCNN, ProximalGCNN
from .metrics import psnr, ssim
from .radon import RadonTransform, parallel_angles
from .tv import total_variation, tv_reconstruction

__all__ = [
    "LearnedProximalGradient",
    "ProximalCNN",
    "ProximalGCNN",
    "RadonTransform",
    "fbp",
    "parallel_angles",
    "psnr",
    "ramp_filter",
    "ssim",
    "total_variation",
    "tv_reconstruction",
]
