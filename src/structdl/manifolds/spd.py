"""Symmetric positive-definite matrices with the affine-invariant metric."""

from __future__ import annotations

from typing import ClassVar, final

import torch
from torch import Tensor

from .._errors import ShapeError
from ._linalg import sym
from .base import Manifold

__all__ = ["SPD"]


def _eig_apply(x: Tensor, fn) -> Tensor:  # noqa: ANN001
    """``V fn(Λ) Vᵀ`` for ``sym(X) = V Λ Vᵀ``, computed in float64 (ill-conditioned X)."""
    values, vectors = torch.linalg.eigh(sym(x.to(torch.float64)))
    out = (vectors * fn(values).unsqueeze(-2)) @ vectors.transpose(-1, -2)
    return out.to(x.dtype)


@final
class SPD(Manifold):
    """``SPD(n) = {X ∈ R^{n×n} : X = Xᵀ, X ≻ 0}`` with the affine-invariant metric.

    Metric ``⟨U, V⟩_X = tr(X⁻¹ U X⁻¹ V)`` (Pennec, Fillard & Ayache 2006); tangent space: the
    symmetric matrices; Riemannian gradient ``X sym(G) X``; transport ``E V Eᵀ`` with
    ``E = Y^{½} X^{−½}`` (an isometry ``T_X → T_Y``). Retractions:

    - ``"exponential"``: ``X^{½} expm(X^{−½} U X^{−½}) X^{½}`` (the geodesic);
    - ``"second_order"``: ``X + U + ½ U X⁻¹ U = ½X + ½(X + U) X⁻¹ (X + U)``, positive definite
      for every symmetric ``U``.

    The defect is the relative asymmetry ``max|X − Xᵀ| / max|X|``, plus ``1 + |λ_min|/‖X‖``
    when ``X`` is not positive definite. ``constrain`` parametrises ``X = expm(sym(Z))``
    (log-Euclidean), whose right inverse is the matrix logarithm.

    Args:
        retraction: ``"exponential"`` (default) or ``"second_order"``.

    Example:
        >>> import torch
        >>> spd = SPD()
        >>> x = spd.random_point(3, 3, generator=torch.Generator().manual_seed(0))
        >>> bool(torch.linalg.eigvalsh(x).min() > 0)
        True
    """

    point_ndim: ClassVar[int] = 2
    retractions: ClassVar[tuple[str, ...]] = ("exponential", "second_order")
    _defect_words = "relative asymmetry (+ 1 + |λ_min|/‖X‖ if not positive definite)"
    _expected = "a symmetric positive-definite matrix (X = Xᵀ, all eigenvalues > 0)"

    def _validate_point_shape(self, shape: tuple[int, ...], who: str) -> None:
        if shape[0] != shape[1]:
            raise ShapeError(
                f"SPD: {who} is not square — expected an (n, n) symmetric matrix — received "
                f"shape {shape} — pass a square matrix"
            )

    def _defect(self, x: Tensor) -> Tensor:
        scale = x.abs().amax(dim=(-2, -1)).clamp_min(torch.finfo(x.dtype).tiny)
        asym = (x - x.transpose(-1, -2)).abs().amax(dim=(-2, -1)) / scale
        lowest = torch.linalg.eigvalsh(sym(x))[..., 0]
        return torch.where(lowest > 0, asym, asym + 1.0 + lowest.abs() / scale)

    def _project(self, x: Tensor) -> Tensor:
        values, vectors = torch.linalg.eigh(sym(x))
        floor = values.abs().amax(dim=-1, keepdim=True) * torch.finfo(x.dtype).eps * x.shape[-1]
        clipped = torch.maximum(values, floor.clamp_min(torch.finfo(x.dtype).tiny))
        return sym((vectors * clipped.unsqueeze(-2)) @ vectors.transpose(-1, -2))

    def _random_from_gaussian(self, x: Tensor) -> Tensor:
        return _eig_apply(x / x.shape[-1] ** 0.5, torch.exp)

    def _proj_tangent(self, x: Tensor, u: Tensor) -> Tensor:
        return sym(u)

    def _egrad_to_rgrad(self, x: Tensor, grad: Tensor) -> Tensor:
        return sym(x @ sym(grad) @ x)

    def inner(self, x: Tensor, u: Tensor, v: Tensor) -> Tensor:
        """``tr(X⁻¹ U X⁻¹ V)`` per point."""
        left = torch.linalg.solve(x, u)
        right = torch.linalg.solve(x, v)
        return (left * right.transpose(-1, -2)).sum(dim=(-2, -1))

    def _retract_exponential(self, x: Tensor, u: Tensor) -> Tensor:
        root = _eig_apply(x, torch.sqrt)
        inv_root = _eig_apply(x, torch.rsqrt)
        return sym(root @ _eig_apply(inv_root @ u @ inv_root, torch.exp) @ root)

    def _transport(self, x: Tensor, y: Tensor, v: Tensor) -> Tensor:
        # The congruence E v Eᵀ with E = Y^{½} X^{−½} maps T_X onto T_Y isometrically for the
        # affine-invariant metric (EᵀY⁻¹E = X⁻¹): momentum keeps its Riemannian length, where
        # the identity map would carry a step sized for X into the very different geometry
        # at Y (and overshoot when an eigenvalue shrinks).
        e = _eig_apply(y, torch.sqrt) @ _eig_apply(x, torch.rsqrt)
        return sym(e @ sym(v) @ e.transpose(-1, -2))

    def _retract_second_order(self, x: Tensor, u: Tensor) -> Tensor:
        su = sym(u)
        return sym(x + su + 0.5 * su @ torch.linalg.solve(x, su))

    def from_unconstrained(self, z: Tensor) -> Tensor:
        """``expm(sym(Z))``: every symmetric ``Z`` maps to an SPD matrix."""
        return _eig_apply(z, torch.exp)

    def to_unconstrained(self, x: Tensor) -> Tensor:
        """The matrix logarithm, the right inverse of :meth:`from_unconstrained`."""
        return _eig_apply(x, torch.log)
