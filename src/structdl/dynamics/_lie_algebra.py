"""Lie-algebra helpers shared by Lie-type fields and Lie-group integrators.

``so(3)`` elements are 3-vectors ``ω`` (``hat(ω)`` is the skew matrix), other algebras are square
matrices; :func:`lie_exp` maps either to the group, :func:`commutator` is the bracket and
:func:`dexpinv` the truncated inverse derivative of the exponential used by RKMK methods.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._errors import ShapeError

__all__ = ["check_algebra", "commutator", "dexpinv", "hat", "is_so3_vector", "lie_exp", "so3_exp"]

#: Below this angle Rodrigues' coefficients use their Taylor series (no 0/0, smooth gradients).
_SMALL_ANGLE = 1e-3


def hat(omega: Tensor) -> Tensor:
    """The skew matrix ``ω̂`` with ``ω̂ v = ω × v``; ``(…, 3) → (…, 3, 3)``."""
    x, y, z = omega.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack(
        (
            torch.stack((zero, -z, y), dim=-1),
            torch.stack((z, zero, -x), dim=-1),
            torch.stack((-y, x, zero), dim=-1),
        ),
        dim=-2,
    )


def so3_exp(omega: Tensor) -> Tensor:
    """Rodrigues' formula ``exp(ω̂) = I + (sin θ/θ) ω̂ + ((1 − cos θ)/θ²) ω̂²``, ``θ = ‖ω‖``.

    Args:
        omega: rotation vectors, shape ``(…, 3)``.

    Returns:
        rotation matrices, shape ``(…, 3, 3)``, orthogonal to round-off.
    """
    theta2 = (omega * omega).sum(-1)
    small = theta2 < _SMALL_ANGLE**2
    safe2 = torch.where(small, torch.ones_like(theta2), theta2)
    safe = torch.sqrt(safe2)
    a = torch.where(small, 1.0 - theta2 / 6.0 + theta2**2 / 120.0, torch.sin(safe) / safe)
    b = torch.where(small, 0.5 - theta2 / 24.0 + theta2**2 / 720.0, (1.0 - torch.cos(safe)) / safe2)
    k = hat(omega)
    eye = torch.eye(3, dtype=omega.dtype, device=omega.device).expand_as(k)
    return eye + a[..., None, None] * k + b[..., None, None] * (k @ k)


def is_so3_vector(xi: Tensor) -> bool:
    """Whether ``xi`` is a batch of so(3) vectors, shape ``(batch, 3)``."""
    return xi.dim() == 2 and xi.shape[-1] == 3


def check_algebra(xi: Tensor, who: str) -> None:
    """Raise :class:`ShapeError` unless ``xi`` is an so(3) vector batch or a square matrix batch."""
    if is_so3_vector(xi):
        return
    if xi.dim() >= 3 and xi.shape[-1] == xi.shape[-2]:
        return
    raise ShapeError(
        f"{who}: xi(t, y) must return an so(3) vector of shape (batch, 3) or a square matrix of "
        f"shape (batch, n, n), got shape {tuple(xi.shape)}"
    )


def lie_exp(u: Tensor) -> Tensor:
    """Group element ``exp(u)``: Rodrigues for so(3) vectors, ``matrix_exp`` for matrices."""
    return so3_exp(u) if is_so3_vector(u) else torch.linalg.matrix_exp(u)


def commutator(a: Tensor, b: Tensor) -> Tensor:
    """Lie bracket ``[a, b]``: the cross product for so(3) vectors, ``ab − ba`` for matrices."""
    if is_so3_vector(a):
        return torch.linalg.cross(a, b, dim=-1)
    return a @ b - b @ a


def dexpinv(u: Tensor, v: Tensor, terms: int) -> Tensor:
    """Truncated ``dexp_u⁻¹(v) = v − ½[u, v] + (1/12)[u, [u, v]] − …`` (Bernoulli numbers).

    Args:
        u: algebra element (the current increment).
        v: algebra element.
        terms: how many terms to keep (1: ``v``; 2: up to ``[u, v]``; 3: up to ``[u, [u, v]]``).
            An RKMK method of order ``p`` needs the terms up to order ``p − 2`` in ``u``.
    """
    out = v
    if terms >= 2:
        first = commutator(u, v)
        out = out - 0.5 * first
        if terms >= 3:
            out = out + commutator(u, first) / 12.0
    return out
