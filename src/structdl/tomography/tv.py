"""Total-variation (TV) regularised reconstruction, the classical variational baseline."""

from __future__ import annotations

import torch
from torch import Tensor

from .._errors import ConfigError
from .radon import RadonTransform

__all__ = ["total_variation", "tv_reconstruction"]


def total_variation(x: Tensor, *, eps: float = 1e-8) -> Tensor:
    r"""Smoothed isotropic total variation per image, ``Σ_ij sqrt(|∇x|_ij² + ε²)``.

    Forward differences with a zero difference across the last row/column (Neumann boundary).

    Args:
        x: images ``(B, C, H, W)``.
        eps: smoothing that keeps the gradient defined where ``∇x = 0``.

    Returns:
        ``(B,)`` tensor.
    """
    dx = torch.zeros_like(x)
    dy = torch.zeros_like(x)
    dx[..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    dy[..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    return torch.sqrt(dx * dx + dy * dy + eps * eps).sum(dim=(-3, -2, -1))


def _alphas(alpha: float | Tensor, like: Tensor) -> Tensor:
    """``alpha`` as a ``(B,)`` tensor of non-negative weights (one float or one per image).

    On ``like``'s dtype and device, ``B = like.shape[0]``.
    """
    batch = like.shape[0]
    if isinstance(alpha, Tensor):
        weights = alpha.detach().to(dtype=like.dtype, device=like.device).flatten()
        if weights.numel() != batch:
            raise ConfigError(
                f"invalid alpha — expected a float or one weight per image ({batch}) — got "
                f"{weights.numel()} weights — pass alpha as a float or a ({batch},) tensor"
            )
        if not (torch.isfinite(weights).all() and (weights >= 0).all()):
            raise ConfigError(
                "invalid alpha — expected finite weights ≥ 0 — got a negative or non-finite "
                "entry — pass e.g. torch.full((B,), 1e-2)"
            )
        return weights
    if isinstance(alpha, bool) or not (isinstance(alpha, (int, float)) and alpha >= 0):
        raise ConfigError(f"invalid alpha — expected a float ≥ 0 — got {alpha!r} — pass 1e-2")
    return torch.full((batch,), float(alpha), dtype=like.dtype, device=like.device)


def tv_reconstruction(
    op: RadonTransform,
    sinogram: Tensor,
    *,
    alpha: float | Tensor = 1e-2,
    iterations: int = 1000,
    lr: float = 1e-3,
    init: Tensor | None = None,
) -> Tensor:
    r"""Minimise ``½ ‖A x − y‖² + α TV(x)`` with Adam (the classical baseline).

    The objective is summed over pixels and detector bins; ``α`` therefore trades a sum of
    squared sinogram residuals against a sum of gradient magnitudes, and its best value depends
    on the geometry and noise level (the experiments choose it on training images).

    The images of a batch are independent problems: the objective is a sum of one term per
    image and Adam updates every pixel from its own gradient history, so a batch runs each
    problem as it would run alone (to round-off). Passing one ``α`` per image therefore
    searches several weights in a single batched run (what the experiments do to choose ``α``).

    Args:
        op: forward operator ``A``.
        sinogram: data ``y`` of shape ``(B, C, n_angles, n_detectors)``.
        alpha: regularisation weight ``α ≥ 0``, or a ``(B,)`` tensor of one weight per image.
        iterations: Adam steps.
        lr: Adam learning rate.
        init: starting images ``(B, C, n, n)``; default zero.

    Returns:
        Reconstructed images ``(B, C, n, n)`` (detached).
    """
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ConfigError(
            f"invalid iterations — expected an int ≥ 1 — got {iterations!r} — pass e.g. 1000"
        )
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ConfigError(f"invalid lr — expected a float > 0 — got {lr!r} — pass e.g. 1e-3")
    op._check_sinogram(sinogram)
    y = sinogram.detach()
    weights = _alphas(alpha, y)
    n = op.image_size
    start = (
        torch.zeros(y.shape[0], y.shape[1], n, n, dtype=y.dtype, device=y.device)
        if init is None
        else init
    )
    x = start.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([x], lr=lr)
    with torch.enable_grad():
        for _ in range(iterations):
            optimiser.zero_grad()
            residual = op(x) - y
            loss = 0.5 * (residual**2).sum() + (weights * total_variation(x)).sum()
            loss.backward()
            optimiser.step()
    return x.detach()
