"""Orthonormal frames: the Stiefel manifold, the Grassmann manifold and SO(n)."""

from __future__ import annotations

from typing import ClassVar, final

import torch
from torch import Tensor

from .._errors import ShapeError
from ._linalg import newton_schulz, polar, qf, qf_well_conditioned, skew
from .base import Manifold

__all__ = ["Grassmann", "SpecialOrthogonal", "Stiefel"]


def _orth_defect(x: Tensor) -> Tensor:
    # The Gram matrix in float64: a float32 product of a 30000-row frame would otherwise add
    # its own round-off (~√n·eps) to the defect being measured.
    wide = x.to(torch.float64)
    eye = torch.eye(x.shape[-1], dtype=torch.float64, device=x.device)
    return (wide.transpose(-1, -2) @ wide - eye).abs().amax(dim=(-2, -1))


def _require_tall(name: str, shape: tuple[int, ...], who: str) -> None:
    n, p = shape
    if n < p:
        raise ShapeError(
            f"{name}: {who} is wide — expected a tall matrix (n ≥ p) of orthonormal columns — "
            f"received shape {shape} — transpose it (constrain() does this for wide weights)"
        )


def _cayley(x: Tensor, u: Tensor) -> Tensor:
    """Cayley retraction ``(I − A/2)⁻¹(I + A/2) X`` with ``A = P U Xᵀ − X (P U)ᵀ``.

    ``P U = U − ½ X XᵀU`` (Wen & Yin 2013), so that ``A X = U`` for tangent ``U``. ``A`` has
    rank ``2p``: writing ``A = L Rᵀ`` with ``L = [PU, X]``, ``R = [X, −PU]``, the Woodbury
    identity gives ``Y = X + L (I − ½ RᵀL)⁻¹ RᵀX`` at cost ``O(n p²)`` (used for ``n > 2p``, so
    tall weights are cheap; squarer frames use the dense ``n × n`` solve, square ones the
    group form ``X (I − Ω/2)⁻¹(I + Ω/2)``, ``Ω = skew(XᵀU)``).

    ``A`` depends on ``U`` only through its tangent part (``A(XS) = 0`` for symmetric ``S``),
    so the map applied to an ambient ``U`` is the retraction of ``P_X U``: callers may skip the
    tangent projection (:meth:`Stiefel._retract_ambient`).
    """
    n, p = x.shape[-2], x.shape[-1]
    if n == p:
        # Square frames (the orthogonal group): A = X Ω Xᵀ with Ω = skew(XᵀU), and
        # X (I − Ω/2)⁻¹(I + Ω/2) = 2 X (I − Ω/2)⁻¹ − X: one product and one LU solve.
        a = x.transpose(-1, -2) @ u
        lhs = (a.transpose(-1, -2) - a).mul_(0.25)  # −Ω/2
        lhs.diagonal(dim1=-2, dim2=-1).add_(1.0)  # I − Ω/2
        return torch.linalg.solve(lhs, x, left=False).mul_(2.0).sub_(x)
    pu = u - 0.5 * x @ (x.transpose(-1, -2) @ u)
    left = torch.cat([pu, x], dim=-1)
    right = torch.cat([x, -pu], dim=-1)
    if n <= left.shape[-1]:
        # Square-ish frames: the dense n × n solve is smaller than the 2p × 2p one.
        a = 0.5 * left @ right.transpose(-1, -2)
        eye_n = torch.eye(n, dtype=x.dtype, device=x.device)
        return torch.linalg.solve(eye_n - a, x + a @ x)
    eye = torch.eye(left.shape[-1], dtype=x.dtype, device=x.device)
    small = eye - 0.5 * right.transpose(-1, -2) @ left
    return x + left @ torch.linalg.solve(small, right.transpose(-1, -2) @ x)


def _stiefel_exp(x: Tensor, u: Tensor) -> Tensor:
    """Geodesic of the embedded metric (Edelman, Arias & Smith 1998, eq. 2.14)::

        Y = [X, U] expm([[A, −S], [I, A]]) [expm(−A); 0],   A = XᵀU,  S = UᵀU.

    For square frames (the orthogonal group) this is ``X expm(XᵀU)``, at half the size.
    """
    p = x.shape[-1]
    if x.shape[-2] == p:
        return x @ torch.linalg.matrix_exp(skew(x.transpose(-1, -2) @ u))
    a = x.transpose(-1, -2) @ u
    s = u.transpose(-1, -2) @ u
    eye = torch.eye(p, dtype=x.dtype, device=x.device).expand_as(a)
    block = torch.cat([torch.cat([a, -s], dim=-1), torch.cat([eye, a], dim=-1)], dim=-2)
    right = torch.cat([torch.linalg.matrix_exp(-a), torch.zeros_like(a)], dim=-2)
    return torch.cat([x, u], dim=-1) @ (torch.linalg.matrix_exp(block) @ right)


class _OrthonormalFrames(Manifold):
    """What Stiefel and Grassmann share: points are tall ``n × p`` frames with ``XᵀX = I``.

    Both measure the defect ``max |XᵀX − I|``, project by the polar factor, and retract by the
    QR or polar factor of ``X + U`` finished with one Newton–Schulz step; they differ in the
    tangent space (and so in the projection of a gradient) and in what a point stands for.
    """

    point_ndim: ClassVar[int] = 2
    requires_tall: ClassVar[bool] = True

    def _validate_point_shape(self, shape: tuple[int, ...], who: str) -> None:
        _require_tall(self.name, shape, who)

    def _defect(self, x: Tensor) -> Tensor:
        return _orth_defect(x)

    def _project(self, x: Tensor) -> Tensor:
        return polar(x)

    def _retract_qr(self, x: Tensor, u: Tensor) -> Tensor:
        return newton_schulz(qf_well_conditioned(x + u))

    def _retract_polar(self, x: Tensor, u: Tensor) -> Tensor:
        return newton_schulz(polar(x + u))


@final
class Stiefel(_OrthonormalFrames):
    """The Stiefel manifold ``St(n, p) = {X ∈ R^{n×p} : XᵀX = I_p}`` (``n ≥ p``).

    Orthonormal frames; ``n = p`` gives the orthogonal group ``O(n)``. Embedded metric: tangent
    space ``{U : XᵀU + UᵀX = 0}``, Riemannian gradient ``G − X sym(XᵀG)``. Retractions:

    - ``"qr"``: ``qf(X + U)`` (Q factor with positive ``diag R``), by Cholesky QR: ``X + U`` is
      well conditioned (``(X + U)ᵀ(X + U) = I + UᵀU``);
    - ``"polar"``: the orthonormal polar factor of ``X + U``;
    - ``"cayley"``: ``(I − A/2)⁻¹(I + A/2) X`` with skew ``A`` of rank ``2p`` (Wen & Yin 2013),
      evaluated by Woodbury in ``O(np²)``;
    - ``"exponential"``: the geodesic of the embedded metric (Edelman, Arias & Smith 1998).

    Every retraction ends with one Newton–Schulz step ``Y(3I − YᵀY)/2`` (float64 Gram,
    ``O(np²)``): the Cayley and exponential maps are orthonormal in exact arithmetic only, and a
    float32 QR or SVD leaves ``|YᵀY − I| ~ √n·eps``; the step squares that defect, so round-off
    neither accumulates over thousands of steps nor grows with ``n`` — no periodic re-projection
    is needed. Transport: projection onto ``T_Y``.

    Args:
        retraction: ``"qr"`` (default), ``"polar"``, ``"cayley"`` or ``"exponential"``.

    Example:
        >>> import torch
        >>> st = Stiefel("cayley")
        >>> x = st.random_point(6, 3, generator=torch.Generator().manual_seed(0))
        >>> y = st.retract(x, st.egrad_to_rgrad(x, torch.ones(6, 3)))
        >>> st.check_point(y)
        True
    """

    retractions: ClassVar[tuple[str, ...]] = ("qr", "polar", "cayley", "exponential")
    _defect_words = "max |XᵀX − I|"
    _expected = "a tall matrix with orthonormal columns (XᵀX = I)"

    def _proj_tangent(self, x: Tensor, u: Tensor) -> Tensor:
        a = x.transpose(-1, -2) @ u
        twice_sym = a + a.transpose(-1, -2)
        if x.dim() == 2:
            return torch.addmm(u, x, twice_sym, alpha=-0.5)  # one fused pass over u
        return u - 0.5 * (x @ twice_sym)

    def _retract_ambient(self, x: Tensor, u: Tensor, method: str) -> Tensor:
        # Cayley, and the exponential on square frames (X expm(skew(XᵀU))), see only the
        # tangent part of U: the projection would be computed and then discarded.
        if method == "cayley" or (method == "exponential" and x.shape[-2] == x.shape[-1]):
            return self._retract(x, u, method)
        return super()._retract_ambient(x, u, method)

    def _retract_cayley(self, x: Tensor, u: Tensor) -> Tensor:
        return newton_schulz(_cayley(x, u))

    def _retract_exponential(self, x: Tensor, u: Tensor) -> Tensor:
        return newton_schulz(_stiefel_exp(x, u))

    def from_unconstrained(self, z: Tensor) -> Tensor:
        """``qf(Z)``: the QR factor is cheaper than the polar one on tall weights."""
        return qf(z)


@final
class Grassmann(_OrthonormalFrames):
    """The Grassmann manifold ``Gr(n, p)`` of p-dimensional subspaces of Rⁿ.

    A subspace is represented by an orthonormal basis ``X`` (``XᵀX = I``), defined up to
    ``X ↦ XQ`` with ``Q ∈ O(p)``. Tangent (horizontal) space ``{U : XᵀU = 0}``, Riemannian
    gradient ``(I − XXᵀ) G``. Retractions ``"qr"``, ``"polar"`` and ``"exponential"``
    ``X V cos Σ Vᵀ + Û sin Σ Vᵀ`` for ``U = Û Σ Vᵀ`` (Edelman, Arias & Smith 1998), the latter
    each finished with one Newton–Schulz step as on :class:`Stiefel`.

    Args:
        retraction: ``"qr"`` (default), ``"polar"`` or ``"exponential"``.

    Example:
        >>> import torch
        >>> gr = Grassmann()
        >>> x = gr.random_point(5, 2, generator=torch.Generator().manual_seed(0))
        >>> u = gr.proj_tangent(x, torch.randn(5, 2, generator=torch.Generator().manual_seed(1)))
        >>> float((x.T @ u).abs().max()) < 1e-6
        True
    """

    retractions: ClassVar[tuple[str, ...]] = ("qr", "polar", "exponential")
    _defect_words = "max |XᵀX − I| of the basis"
    _expected = "an orthonormal basis of the subspace (XᵀX = I, n ≥ p)"

    def _proj_tangent(self, x: Tensor, u: Tensor) -> Tensor:
        return u - x @ (x.transpose(-1, -2) @ u)

    def _retract_exponential(self, x: Tensor, u: Tensor) -> Tensor:
        # The SVD in float64: near convergence U ≈ 0 has clustered singular values.
        left, sigma, vh = torch.linalg.svd(u.to(torch.float64), full_matrices=False)
        v = vh.transpose(-1, -2)
        cos = torch.cos(sigma).unsqueeze(-2)
        sin = torch.sin(sigma).unsqueeze(-2)
        moved = (x.to(torch.float64) @ v) * cos @ vh + left * sin @ vh
        return newton_schulz(moved.to(x.dtype))

    def from_unconstrained(self, z: Tensor) -> Tensor:
        """``qf(Z)``: any basis of the column space represents the subspace."""
        return qf(z)


@final
class SpecialOrthogonal(Manifold):
    """The rotation group ``SO(n) = {X ∈ R^{n×n} : XᵀX = I, det X = 1}``.

    Tangent space ``{X Ω : Ω = −Ωᵀ}``, Riemannian gradient ``X skew(XᵀG)`` (bi-invariant
    metric). Retractions: ``"exponential"`` ``X expm(Ω)`` (the group exponential),
    ``"cayley"`` ``X (I − Ω/2)⁻¹(I + Ω/2)``, ``"qr"`` and ``"polar"`` of ``X + XΩ``, each ending
    with one Newton–Schulz step (see :class:`Stiefel`). Non-square matrices are rejected.

    Args:
        retraction: ``"exponential"`` (default), ``"cayley"``, ``"qr"`` or ``"polar"``.

    Example:
        >>> import torch
        >>> so = SpecialOrthogonal()
        >>> x = so.random_point(3, 3, generator=torch.Generator().manual_seed(0))
        >>> round(float(torch.linalg.det(x)), 5)
        1.0
    """

    point_ndim: ClassVar[int] = 2
    retractions: ClassVar[tuple[str, ...]] = ("exponential", "cayley", "qr", "polar")
    _defect_words = "max |XᵀX − I| (|det X − 1| where det X < 0)"
    _expected = "a square rotation matrix (XᵀX = I and det X = +1)"

    @property
    def name(self) -> str:
        """``SO(n)``."""
        return "SO(n)"

    def _validate_point_shape(self, shape: tuple[int, ...], who: str) -> None:
        if shape[0] != shape[1]:
            raise ShapeError(
                f"SO(n): {who} is not square — expected an (n, n) rotation matrix — received "
                f"shape {shape} — use Stiefel() for rectangular orthonormal frames"
            )

    def _defect(self, x: Tensor) -> Tensor:
        orth = _orth_defect(x)
        det = torch.linalg.det(x)
        return torch.where(det < 0, torch.maximum(orth, (det - 1.0).abs()), orth)

    def _flip_to_rotation(self, q: Tensor) -> Tensor:
        # Changing the sign of the last column maps O(n)'s other component onto SO(n).
        det = torch.linalg.det(q)
        sign = torch.ones(q.shape[:-1], dtype=q.dtype, device=q.device)
        sign[..., -1] = torch.where(det < 0, -1.0, 1.0).to(q.dtype)
        return q * sign.unsqueeze(-2)

    def _project(self, x: Tensor) -> Tensor:
        u, _, vh = torch.linalg.svd(x.to(torch.float64))
        det = torch.linalg.det(u @ vh)
        scale = torch.ones(x.shape[:-1], dtype=torch.float64, device=x.device)
        scale[..., -1] = torch.where(det < 0, -1.0, 1.0).to(torch.float64)
        return ((u * scale.unsqueeze(-2)) @ vh).to(x.dtype)

    def _random_from_gaussian(self, x: Tensor) -> Tensor:
        return self._flip_to_rotation(qf(x))  # Haar on O(n), then a fixed reflection

    def _proj_tangent(self, x: Tensor, u: Tensor) -> Tensor:
        return x @ skew(x.transpose(-1, -2) @ u)

    def _omega(self, x: Tensor, u: Tensor) -> Tensor:
        return skew(x.transpose(-1, -2) @ u)

    def _retract_exponential(self, x: Tensor, u: Tensor) -> Tensor:
        return newton_schulz(x @ torch.linalg.matrix_exp(self._omega(x, u)))

    def _retract_cayley(self, x: Tensor, u: Tensor) -> Tensor:
        # X (I − Ω/2)⁻¹(I + Ω/2) = 2 X (I − Ω/2)⁻¹ − X: one LU solve, no product.
        lhs = self._omega(x, u).mul_(-0.5)
        lhs.diagonal(dim1=-2, dim2=-1).add_(1.0)  # I − Ω/2
        return newton_schulz(torch.linalg.solve(lhs, x, left=False).mul_(2.0).sub_(x))

    def _retract_ambient(self, x: Tensor, u: Tensor, method: str) -> Tensor:
        # The exponential and Cayley maps read U only through Ω = skew(XᵀU), its tangent part.
        if method in ("exponential", "cayley"):
            return self._retract(x, u, method)
        return super()._retract_ambient(x, u, method)

    def _retract_qr(self, x: Tensor, u: Tensor) -> Tensor:
        return newton_schulz(qf_well_conditioned(x + u))

    def _retract_polar(self, x: Tensor, u: Tensor) -> Tensor:
        return newton_schulz(polar(x + u))

    def from_unconstrained(self, z: Tensor) -> Tensor:
        """``qf(Z)`` with the last column's sign fixed so that ``det = +1``."""
        return self._flip_to_rotation(qf(z))
