"""Symplecticity and volume preservation, from per-point Jacobians."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._errors import ShapeError
from ._common import dtype_name, positive_number, verdict
from ._jacobian import batched_jacobian
from ._validate import (
    as_batch,
    call_map,
    require_callable,
    resolve_tolerance,
)
from .result import CheckResult, tolerance

__all__ = ["canonical_J", "check_symplectic", "check_volume_preserving"]


def canonical_J(dim: int, dtype: torch.dtype = torch.float64, device: Any = None) -> Tensor:
    """The canonical symplectic matrix ``J = [[0, I], [−I, 0]]`` of size ``2·dim``."""
    eye = torch.eye(dim, dtype=dtype, device=device)
    zero = torch.zeros(dim, dim, dtype=dtype, device=device)
    return torch.cat([torch.cat([zero, eye], 1), torch.cat([-eye, zero], 1)], 0)


def check_symplectic(
    map: Callable[[Tensor], Tensor],
    z: Tensor,
    *,
    J: Tensor | None = None,
    rate: float = 1.0,
    atol: float | None = None,
) -> CheckResult:
    """Check ``DΦ(z)ᵀ J DΦ(z) = rate · J`` at every sample point.

    A map Φ on phase space ``z = (q, p) ∈ R^{2d}`` is symplectic when its Jacobian preserves the
    symplectic form, ``DΦᵀ J DΦ = J`` with ``J = [[0, I], [−I, 0]]``; it is conformal
    symplectic with contraction ``rate`` when ``DΦᵀ J DΦ = rate · J`` (a damped step).

    Args:
        map: batched map ``(n, 2d) → (n, 2d)``.
        z: sample points, shape ``(n, 2d)``.
        J: the structure matrix ``(2d, 2d)``; defaults to the canonical one.
        rate: expected conformal factor (1 for symplectic maps).
        atol: bound on the defect of a Jacobian of size one; default
            ``tolerance(z.dtype).exact``. At point ``i`` the bar is
            ``max(atol, 16·ε·‖DΦ(z_i)‖_F²)`` (``ε`` the dtype's machine epsilon).

    The bar grows with the Jacobian because the product ``DΦᵀJDΦ`` of a Jacobian with entries of
    size ``s`` carries round-off of size ``ε·s²`` (measured: at most ``1.5·ε·‖DΦ‖_F²`` for
    Yoshida's method on the pendulum up to ``h = 50``, where the entries reach 1e10): a true
    claim does not fail at any size, and a map that is not symplectic still fails once its
    defect exceeds what round-off can produce.

    Returns:
        ``worst`` is the largest defect over the points in units of ``atol``'s scale:
        ``max_i defect_i · atol / bar_i`` (the absolute defect for Jacobians of size one).

    Raises:
        ShapeError: ``z`` is not a finite ``(n, 2d)`` tensor, ``J`` has the wrong shape, or the
            map does not return ``(n, 2d)``.
        ConfigError: ``map`` is not callable, ``rate`` or ``atol`` invalid.
    """
    check = "check_symplectic"
    require_callable(map, "map", check)
    z = as_batch(z, "z", check, flat=True)
    n, dim = z.shape
    if dim % 2:
        raise ShapeError(
            f"{check}: `z` has an odd dimension — expected phase-space points (n, 2d) = (q, p) "
            f"— received shape {tuple(z.shape)} — concatenate q and p along dim 1"
        )
    rate = positive_number(rate, "rate", check)
    atol = resolve_tolerance(atol, tolerance(z.dtype).exact, "atol", check)
    if J is None:
        J = canonical_J(dim // 2, z.dtype, z.device)
    elif not isinstance(J, Tensor) or J.shape != (dim, dim) or not bool(torch.isfinite(J).all()):
        got = tuple(J.shape) if isinstance(J, Tensor) else type(J).__name__
        raise ShapeError(
            f"{check}: `J` is invalid — expected a finite ({dim}, {dim}) tensor — received "
            f"{got} — pass J=None for the canonical [[0, I], [-I, 0]]"
        )
    J = J.to(z.dtype)
    out = call_map(map, z, check)
    if out.shape != z.shape:
        raise ShapeError(
            f"{check}: `map` changes the shape — expected (n, 2d) → (n, 2d) with shape "
            f"{tuple(z.shape)} — received output shape {tuple(out.shape)} — check the map"
        )
    scaled, defect, size = pullback_defects(batched_jacobian(map, z), J, rate * J, atol)
    worst_i = int(scaled.argmax())
    claim = "symplecticity" if rate == 1.0 else f"conformal symplecticity (rate {rate:.4g})"
    return verdict(
        float(scaled.max()),
        atol,
        claim,
        f"max_i ‖DΦᵀJDΦ − {rate:.4g}·J‖_F over {n} points, scaled to the bar max(atol, "
        f"{_ROUND_OFF:g}·ε·‖DΦ‖_F²) (worst at point {worst_i}, defect "
        f"{float(defect[worst_i]):.3g}, ‖DΦ‖_F² = {float(size[worst_i]):.3g})",
        f"atol {atol:.3g} ({dtype_name(z.dtype)})",
    )


#: Round-off allowance, in units of ``ε·size``, of a defect computed from a Jacobian.
_ROUND_OFF = 16.0


def pullback_defects(
    jac: Tensor, form_out: Tensor, form_in: Tensor, atol: float
) -> tuple[Tensor, Tensor, Tensor]:
    """``‖DΦᵀ ω_out DΦ − ω_in‖_F`` per point, scaled to its round-off bar (:func:`_scaled`).

    The one computation behind :func:`check_symplectic` (``ω_in = rate·J``) and
    :func:`~structdl.structure.check_symplectic_embedding` (``ω_out = J_{2n}``,
    ``ω_in = J_{2k}``). Returns ``(scaled, defect, size)`` with ``size = ‖DΦ‖_F²``.
    """
    defect = torch.linalg.matrix_norm(jac.transpose(1, 2) @ form_out @ jac - form_in)
    size = torch.linalg.matrix_norm(jac).pow(2)
    return _scaled(defect, size, atol, jac.dtype), defect, size


def _scaled(defect: Tensor, size: Tensor, atol: float, dtype: torch.dtype) -> Tensor:
    """``defect · atol / bar`` with ``bar = max(atol, 16·ε·size)``: ≤ atol exactly when the
    defect is within its bar, and the defect itself when round-off is below ``atol``."""
    defect = defect.to(torch.float64)
    bar = (_ROUND_OFF * torch.finfo(dtype).eps * size.to(torch.float64)).clamp_min(atol)
    scaled = torch.where(bar > 0, defect * atol / bar, defect) if atol > 0 else defect
    return torch.where(torch.isfinite(scaled), scaled, torch.full_like(scaled, math.inf))


def check_volume_preserving(
    map: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    logdet: Callable[[Tensor], Tensor] | None = None,
    atol: float | None = None,
) -> CheckResult:
    """Check ``log|det DΦ(x)| = 0`` (or the reported log-determinant) at every sample point.

    A map preserves volume when ``|det DΦ| = 1``; a bijection that reports its log-Jacobian
    (``logdet(x)``) is checked against the autograd Jacobian instead.

    Args:
        map: batched map ``(n, …) → (n, …)`` with as many outputs as inputs per point.
        x: sample points ``(n, …)``.
        logdet: optional callable returning the claimed ``log|det DΦ(x)|``, shape ``(n,)``.
        atol: bound on ``|log|det DΦ(x_i)| − logdet_i|`` for a well-conditioned Jacobian;
            default ``tolerance(x.dtype).exact``. At point ``i`` the bar is
            ``max(atol, 16·ε·κ_i)`` with ``κ_i = σ_max/σ_min`` of ``DΦ(x_i)`` (round-off ``δ`` in
            the Jacobian moves ``log|det|`` by up to about ``κ·δ``).

    Raises:
        ShapeError: bad points, a non-square Jacobian, or a ``logdet`` of the wrong shape.
        ConfigError: a non-callable ``map`` or ``logdet``, or a bad ``atol``.
    """
    check = "check_volume_preserving"
    require_callable(map, "map", check)
    x = as_batch(x, "x", check)
    atol = resolve_tolerance(atol, tolerance(x.dtype).exact, "atol", check)
    out = call_map(map, x, check)
    n = x.shape[0]
    if out[0].numel() != x[0].numel():
        raise ShapeError(
            f"{check}: `map` has a non-square Jacobian — expected as many outputs as inputs per "
            f"point ({x[0].numel()}) — received output shape {tuple(out.shape)} — volume is "
            f"only defined for maps of a space to itself"
        )
    target = torch.zeros(n, dtype=torch.float64, device=x.device)
    if logdet is not None:
        require_callable(logdet, "logdet", check)
        claimed = logdet(x)
        if not isinstance(claimed, Tensor) or claimed.numel() != n:
            got = tuple(claimed.shape) if isinstance(claimed, Tensor) else type(claimed).__name__
            raise ShapeError(
                f"{check}: `logdet(x)` has the wrong shape — expected ({n},) — received {got} "
                f"— return one log-determinant per point"
            )
        target = claimed.detach().reshape(n).to(torch.float64)
    jac = batched_jacobian(map, x)
    # The determinant itself is formed in float64 so that only the Jacobian carries x's rounding.
    jac64 = jac.to(torch.float64).reshape(n, x[0].numel(), x[0].numel())
    sign, logabs = torch.linalg.slogdet(jac64)
    defect = torch.where(sign == 0, torch.full_like(logabs, math.inf), (logabs - target).abs())
    condition = _condition_numbers(jac64)
    scaled = _scaled(defect, condition, atol, x.dtype)
    worst_i = int(scaled.argmax())
    against = "the reported logdet" if logdet is not None else "0"
    return verdict(
        float(scaled.max()),
        atol,
        "volume preservation" if logdet is None else "log-determinant agreement",
        f"max_i |log|det DΦ(x_i)| − {against}| over {n} points, scaled to the bar max(atol, "
        f"{_ROUND_OFF:g}·ε·κ) (worst at point {worst_i}, κ = {float(condition[worst_i]):.3g})",
        f"atol {atol:.3g} ({dtype_name(x.dtype)})",
    )


def _condition_numbers(jac: Tensor) -> Tensor:
    """``σ_max/σ_min`` per point (``inf`` for a singular Jacobian)."""
    singular = torch.linalg.svdvals(jac)
    smallest = singular[..., -1]
    return torch.where(smallest > 0, singular[..., 0] / smallest, math.inf)
