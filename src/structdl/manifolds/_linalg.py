"""Small batched linear-algebra helpers shared by the matrix manifolds.

Every function acts on the last two axes and broadcasts over any leading batch axes.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["newton_schulz", "polar", "qf", "skew", "sym"]


def sym(a: Tensor) -> Tensor:
    """Symmetric part ``(A + Aᵀ)/2``."""
    return 0.5 * (a + a.transpose(-1, -2))


def skew(a: Tensor) -> Tensor:
    """Skew-symmetric part ``(A − Aᵀ)/2``."""
    return 0.5 * (a - a.transpose(-1, -2))


def qf(a: Tensor) -> Tensor:
    """The Q factor of ``A = QR`` with ``diag(R) > 0`` (unique for full-rank ``A``, ``n ≥ p``).

    LAPACK's Householder QR leaves the signs of ``diag(R)`` free; fixing them makes the map
    smooth and makes ``qf(Q) = Q`` for every orthonormal ``Q`` (so it is a retraction and a
    right inverse of itself on the Stiefel manifold).
    """
    q, r = torch.linalg.qr(a)
    signs = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    # A zero on the diagonal (rank deficiency) keeps Q's column as LAPACK returned it.
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    return q * signs.unsqueeze(-2)


def polar(a: Tensor) -> Tensor:
    """The orthonormal polar factor ``U Vᵀ = A (AᵀA)^{−1/2}`` of a full-rank tall ``A``.

    The closest matrix with orthonormal columns. Computed from the eigen-decomposition of the
    ``p × p`` Gram matrix in float64 rather than by an SVD of ``A``: after a retraction step
    ``A = X + U`` has clustered singular values ``√(1 + σᵢ(U)²) ≈ 1``, on which LAPACK's
    divide-and-conquer SVD can fail to converge in float32, while ``eigh`` of a symmetric
    matrix cannot. Cost ``O(np²)``.
    """
    wide = a.to(torch.float64)
    values, vectors = torch.linalg.eigh(wide.transpose(-1, -2) @ wide)
    inv_root = vectors * values.clamp_min(torch.finfo(torch.float64).tiny).rsqrt().unsqueeze(-2)
    return (wide @ (inv_root @ vectors.transpose(-1, -2))).to(a.dtype)


def newton_schulz(y: Tensor) -> Tensor:
    """One Newton–Schulz step towards the polar factor: ``Y (3I − YᵀY)/2``.

    For ``YᵀY = I + E`` it returns a matrix with ``YᵀY = I + O(E²)``: applied after a
    retraction whose result is orthonormal in exact arithmetic (Cayley, exponential), it removes
    the round-off of that step instead of letting it accumulate over thousands of steps. The
    Gram matrix is formed in float64 so that the correction itself adds no float32 round-off
    beyond the final rounding of ``Y``. Cost ``O(n p²)``.
    """
    wide = y.to(torch.float64)
    gram = wide.transpose(-1, -2) @ wide
    eye = torch.eye(y.shape[-1], dtype=torch.float64, device=y.device)
    return (wide @ (1.5 * eye - 0.5 * gram)).to(y.dtype)
