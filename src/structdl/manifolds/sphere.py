"""The unit sphere and the oblique manifold (matrices with unit-norm columns)."""

from __future__ import annotations

from typing import ClassVar, final

import torch
from torch import Tensor

from .base import Manifold

__all__ = ["Oblique", "Sphere"]

#: Below this tangent norm the exponential map uses its Taylor coefficients (no 0/0).
_SMALL = 1e-4


def _normalize(x: Tensor, dim: int) -> Tensor:
    norm = x.norm(dim=dim, keepdim=True)
    return x / norm.clamp_min(torch.finfo(x.dtype).tiny)


def _tangent(x: Tensor, u: Tensor, dim: int) -> Tensor:
    return u - x * (x * u).sum(dim=dim, keepdim=True)


def _exp(x: Tensor, u: Tensor, dim: int) -> Tensor:
    theta = u.norm(dim=dim, keepdim=True)
    small = theta < _SMALL
    safe = torch.where(small, torch.ones_like(theta), theta)
    sinc = torch.where(small, 1.0 - theta**2 / 6.0, torch.sin(safe) / safe)
    # The final normalisation removes the round-off of cos/sin, so drift cannot accumulate.
    return _normalize(torch.cos(theta) * x + sinc * u, dim)


@final
class Sphere(Manifold):
    """The unit sphere ``S^{n−1} = {x ∈ Rⁿ : ‖x‖ = 1}`` along the last axis.

    Leading axes are independent points: constraining a weight of shape ``(out, in)`` puts each
    row on the sphere (scale-invariant weights, weight normalisation with fixed gain).

    Tangent space ``{u : ⟨x, u⟩ = 0}``; Riemannian gradient ``g − ⟨x, g⟩ x``. Retractions:
    ``"projection"`` ``(x + u)/‖x + u‖`` and ``"exponential"``
    ``cos‖u‖ x + sin‖u‖ u/‖u‖`` (the geodesic). Transport: projection onto ``T_y``.

    Args:
        retraction: ``"projection"`` (default) or ``"exponential"``.

    Example:
        >>> import torch
        >>> s = Sphere()
        >>> x = s.random_point(4, 3, generator=torch.Generator().manual_seed(0))
        >>> y = s.retract(x, s.proj_tangent(x, torch.ones(4, 3)))
        >>> s.check_point(y)
        True
    """

    point_ndim: ClassVar[int] = 1
    retractions: ClassVar[tuple[str, ...]] = ("projection", "exponential")
    _defect_words = "max_i |‖x_i‖ − 1|"
    _expected = "unit-norm vectors along the last axis (‖x‖ = 1)"

    def _defect(self, x: Tensor) -> Tensor:
        return (x.norm(dim=-1) - 1.0).abs()

    def _project(self, x: Tensor) -> Tensor:
        return _normalize(x, -1)

    def _proj_tangent(self, x: Tensor, u: Tensor) -> Tensor:
        return _tangent(x, u, -1)

    def _retract_projection(self, x: Tensor, u: Tensor) -> Tensor:
        return _normalize(x + u, -1)

    def _retract_exponential(self, x: Tensor, u: Tensor) -> Tensor:
        return _exp(x, u, -1)


@final
class Oblique(Manifold):
    """The oblique manifold ``OB(n, p) = {X ∈ R^{n×p} : diag(XᵀX) = 1}`` (unit columns).

    A product of ``p`` spheres ``S^{n−1}``, one per column (Absil & Gallivan 2006). Tangent
    space ``{U : diag(XᵀU) = 0}``; Riemannian gradient ``G − X diag(XᵀG)``. Retractions per
    column as on :class:`Sphere`.

    Args:
        retraction: ``"projection"`` (default) or ``"exponential"``.

    Example:
        >>> import torch
        >>> ob = Oblique()
        >>> x = ob.random_point(5, 3, generator=torch.Generator().manual_seed(0))
        >>> bool(torch.allclose(x.norm(dim=0), torch.ones(3)))
        True
    """

    point_ndim: ClassVar[int] = 2
    retractions: ClassVar[tuple[str, ...]] = ("projection", "exponential")
    _defect_words = "max_j |‖x_j‖ − 1| over columns"
    _expected = "matrices with unit-norm columns (diag(XᵀX) = 1)"

    def _defect(self, x: Tensor) -> Tensor:
        return (x.norm(dim=-2) - 1.0).abs().amax(dim=-1)

    def _project(self, x: Tensor) -> Tensor:
        return _normalize(x, -2)

    def _proj_tangent(self, x: Tensor, u: Tensor) -> Tensor:
        return _tangent(x, u, -2)

    def _retract_projection(self, x: Tensor, u: Tensor) -> Tensor:
        return _normalize(x + u, -2)

    def _retract_exponential(self, x: Tensor, u: Tensor) -> Tensor:
        return _exp(x, u, -2)
