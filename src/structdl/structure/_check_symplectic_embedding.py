"""Symplectic embeddings ``R^{2k} → R^{2n}``: the pull-back of the form is the canonical one."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from .._errors import ShapeError
from ._check_symplectic import _ROUND_OFF, canonical_J, pullback_defects
from ._common import dtype_name, verdict
from ._jacobian import batched_jacobian
from ._validate import as_batch, call_map, require_callable, resolve_tolerance
from .result import CheckResult, tolerance

__all__ = ["check_symplectic_embedding"]


def check_symplectic_embedding(
    embedding: Callable[[Tensor], Tensor],
    latent: Tensor,
    *,
    atol: float | None = None,
) -> CheckResult:
    """Check ``D(ẑ)ᵀ J_{2n} D(ẑ) = J_{2k}`` for a map ``R^{2k} → R^{2n}`` at every sample point.

    A map ``ψ`` from a latent phase space ``ẑ = (q̂, p̂) ∈ R^{2k}`` into ``R^{2n}`` (``k ≤ n``)
    is a *symplectic embedding* when it pulls the canonical form of ``R^{2n}`` back to the
    canonical form of ``R^{2k}``: ``DψᵀJ_{2n}Dψ = J_{2k}``. Then ``ψ`` is an immersion onto a
    symplectic submanifold, and the Galerkin projection ``ż = J_{2k} ∇(H ∘ ψ)(ẑ)`` of a
    Hamiltonian system is again Hamiltonian (the decoder of a symplectic autoencoder; for
    ``k = n`` this is :func:`check_symplectic`).

    Args:
        embedding: batched map ``(m, 2k) → (m, 2n)`` with ``n ≥ k``.
        latent: sample points, shape ``(m, 2k)``.
        atol: bound on the defect of a Jacobian of size one; default
            ``tolerance(latent.dtype).exact``. At point ``i`` the bar is
            ``max(atol, 16·ε·‖Dψ(ẑ_i)‖_F²)`` (round-off of the product grows with the Jacobian).

    Returns:
        ``worst``: the largest defect ``‖DψᵀJ_{2n}Dψ − J_{2k}‖_F`` over the points, in units of
        ``atol``'s scale (the absolute defect for Jacobians of size one).

    Raises:
        ShapeError: ``latent`` is not a finite ``(m, 2k)`` tensor, or the map does not return
            ``(m, 2n)`` with ``n ≥ k``.
        ConfigError: ``embedding`` is not callable or ``atol`` invalid.

    Example:
        >>> import torch
        >>> def lift(z):  # (q̂, p̂) ↦ (q̂, 0, p̂, 0): the coordinate embedding R² → R⁴
        ...     zero = torch.zeros_like(z[:, :1])
        ...     return torch.cat((z[:, :1], zero, z[:, 1:], zero), dim=1)
        >>> check_symplectic_embedding(lift, torch.randn(3, 2, dtype=torch.float64)).ok
        True
        >>> check_symplectic_embedding(lambda z: 2 * lift(z), torch.randn(3, 2,
        ...                            dtype=torch.float64)).ok  # scales the form by 4
        False
    """
    check = "check_symplectic_embedding"
    require_callable(embedding, "embedding", check)
    latent = as_batch(latent, "latent", check, flat=True)
    m, width = latent.shape
    if width % 2:
        raise ShapeError(
            f"{check}: `latent` has an odd dimension — expected latent phase-space points "
            f"(m, 2k) = (q̂, p̂) — received shape {tuple(latent.shape)} — concatenate q̂ and p̂"
        )
    atol = resolve_tolerance(atol, tolerance(latent.dtype).exact, "atol", check)
    out = call_map(embedding, latent, check, "embedding")
    if out.dim() != 2 or out.shape[1] % 2 or out.shape[1] < width:
        raise ShapeError(
            f"{check}: `embedding` has the wrong output — expected (m, 2n) with 2n ≥ {width} "
            f"even — received output shape {tuple(out.shape)} — return flat (q, p) states"
        )
    big = canonical_J(out.shape[1] // 2, latent.dtype, latent.device)
    small = canonical_J(width // 2, latent.dtype, latent.device)
    scaled, defect, size = pullback_defects(batched_jacobian(embedding, latent), big, small, atol)
    worst_i = int(scaled.argmax())
    return verdict(
        float(scaled.max()),
        atol,
        "symplectic embedding",
        f"max_i ‖DψᵀJ_{{2n}}Dψ − J_{{2k}}‖_F over {m} points (2k = {width}, 2n = "
        f"{out.shape[1]}), scaled to the bar max(atol, {_ROUND_OFF:g}·ε·‖Dψ‖_F²) (worst at "
        f"point {worst_i}, defect {float(defect[worst_i]):.3g}, ‖Dψ‖_F² = "
        f"{float(size[worst_i]):.3g})",
        f"atol {atol:.3g} ({dtype_name(latent.dtype)})",
    )
