"""Small batched linear-algebra helpers shared by the matrix manifolds.

Every function acts on the last two axes and broadcasts over any leading batch axes.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["newton_schulz", "polar", "qf", "qf_well_conditioned", "skew", "sym"]


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
    """One Newton–Schulz step towards the polar factor: ``Y (3I − YᵀY)/2 = Y + Y (I − YᵀY)/2``.

    For ``YᵀY = I + E`` it returns a matrix with ``YᵀY = I + O(E²)``: applied after a
    retraction whose result is orthonormal in exact arithmetic (Cayley, exponential), it removes
    the round-off of that step instead of letting it accumulate over thousands of steps. The
    products run in the input's precision; only the diagonal of the Gram matrix (the squared
    column norms, sums of ``n`` positive terms whose float32 round-off grows like ``√n·eps``)
    is accumulated in float64, at ``O(np)`` cost. The off-diagonal entries are sums of terms of
    both signs that cancel to ``O(E)``, so their float32 round-off stays ``O(eps)``, and the
    correction is added to ``Y`` rather than multiplied into it, so it is rounded only
    relative to its own small size. Cost: two products, ``O(np²)``.
    """
    gram = y.transpose(-1, -2) @ y
    # Squares rounded in float32 (relative eps each), summed in float64: error ~ eps/√n.
    norms = torch.sum(y * y, dim=-2, dtype=torch.float64)
    half_defect = gram.mul_(-0.5)  # (I − YᵀY)/2 off the diagonal
    half_defect.diagonal(dim1=-2, dim2=-1).copy_((0.5 - 0.5 * norms).to(y.dtype))
    if y.dim() == 2:
        return torch.addmm(y, y, half_defect)
    return y + y @ half_defect


def qf_well_conditioned(y: Tensor) -> Tensor:
    """:func:`qf` by Cholesky QR, for a well-conditioned tall ``Y``: ``Q = Y R⁻¹``, ``RᵀR = YᵀY``.

    The Cholesky factor has a positive diagonal, so this is the same ``Q`` as :func:`qf` in
    exact arithmetic; its loss of orthogonality grows like ``cond(Y)²·eps``. A retraction
    step ``Y = X + U`` (``X`` orthonormal, ``U`` tangent) has ``YᵀY = I + UᵀU``, so
    ``cond(Y) = √(1 + ‖U‖²)`` stays close to 1, and one Gram product, a ``p × p`` Cholesky and
    a triangular solve (``O(np²)``) replace Householder QR. If the Cholesky factorisation
    fails (a rank-deficient ``Y``), Householder QR is used instead.
    """
    gram = y.transpose(-1, -2) @ y
    upper, info = torch.linalg.cholesky_ex(gram, upper=True)
    if bool((info != 0).any()):
        return qf(y)
    return torch.linalg.solve_triangular(upper, y, upper=True, left=False)
