"""Invertible linear maps ``z = W x + b`` with cheap ``log|det W|`` and inverse.

- :class:`LULinear`: ``W = P L U`` (:mod:`._lu`), any invertible matrix, never singular;
  ``log|det W| = Σ λ_i`` in O(n); inverse by two triangular solves.
- :class:`QRLinear`: ``W = Q R`` with ``Q`` a product of Householder reflections and ``R``
  upper triangular with positive diagonal ``e^{λ}``; ``log|det W| = Σ λ_i``.
- :class:`HouseholderLinear`: ``W = H_k ⋯ H_1``, ``H_i = I − 2 v_i v_iᵀ/‖v_i‖²``; orthogonal,
  so volume preserving and an isometry.
- :class:`CayleyLinear`: ``W = (I − A)(I + A)⁻¹`` with ``A = S − Sᵀ`` skew-symmetric
  (Cayley transform): a rotation, ``det W = 1``, inverse ``Wᵀ``.

Every layer reports its bi-Lipschitz constants ``(‖W‖₂, ‖W⁻¹‖₂) = (σ_max, 1/σ_min)`` as the
claim :class:`~structdl.structure.BiLipschitz` (1 and 1 for the orthogonal ones).
"""

from __future__ import annotations

from typing import final

import torch
from torch import Tensor, nn

from .._errors import ShapeError
from ..structure._validate import require_int
from ..structure.declarations import Claim
from ._claims import bilipschitz_claim
from ._lu import LUMatrix, matrix_lipschitz_bounds
from .base import Bijection

__all__ = ["CayleyLinear", "HouseholderLinear", "LULinear", "QRLinear"]


class _Linear(Bijection):
    """``z = W x + b`` on ``(batch, features)``; subclasses give ``W``, ``W⁻¹``, ``log|det W|``."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = require_int(features, "features", type(self).__name__)
        self.bias = nn.Parameter(torch.zeros(features))

    def weight(self) -> Tensor:  # pragma: no cover - abstract
        """The matrix ``W``."""
        raise NotImplementedError

    def inverse_weight(self) -> Tensor:  # pragma: no cover - abstract
        """The matrix ``W⁻¹``."""
        raise NotImplementedError

    def logabsdet(self) -> Tensor:  # pragma: no cover - abstract
        """``log|det W|``."""
        raise NotImplementedError

    def lipschitz_bounds(self) -> tuple[float, float]:
        """``(‖W‖₂, ‖W⁻¹‖₂)``: the forward and inverse Lipschitz constants (exact)."""
        return matrix_lipschitz_bounds(self.weight())

    @property
    def claims(self) -> tuple[Claim, ...]:
        """``Invertible``; ``VolumePreserving`` if orthogonal; ``BiLipschitz(σ_max, 1/σ_min)``."""
        forward, inverse = self.lipschitz_bounds()
        return (*super().claims, bilipschitz_claim(forward, inverse, "‖W‖₂ and ‖W⁻¹‖₂"))

    def _check(self, x: Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.features:
            raise ShapeError(
                f"{type(self).__name__}: wrong input shape — expected (batch, {self.features}) — "
                f"received {tuple(x.shape)} — flatten the input or build the layer with the "
                f"right number of features"
            )

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        self._check(x)
        z = x @ self.weight().T + self.bias
        return z, self.logabsdet().expand(x.shape[0])

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        self._check(z)
        x = (z - self.bias) @ self.inverse_weight().T
        return x, -self.logabsdet().expand(z.shape[0])


@final
class LULinear(_Linear):
    """``z = P L U x + b``: an invertible linear map that can never become singular.

    Args:
        features: dimension ``n``.
        weight: initial ``n × n`` matrix (default a random orthogonal one). A singular or
            badly conditioned matrix raises :class:`~structdl.ConfigError`.
        max_condition: largest accepted condition number of ``weight``.

    Example:
        >>> layer = LULinear(3)
        >>> x = torch.randn(4, 3)
        >>> z, logdet = layer.forward_and_logdet(x)
        >>> torch.allclose(layer.inverse(z), x, atol=1e-5)
        True
    """

    def __init__(
        self, features: int, weight: Tensor | None = None, *, max_condition: float = 1e8
    ) -> None:
        super().__init__(features)
        self.matrix = LUMatrix(features, weight, max_condition=max_condition)

    def weight(self) -> Tensor:
        """``W = P L U``."""
        return self.matrix.weight()

    def inverse_weight(self) -> Tensor:
        """``W⁻¹`` by triangular solves."""
        return self.matrix.inverse_weight()

    def logabsdet(self) -> Tensor:
        """``Σ λ_i``."""
        return self.matrix.logabsdet()


def _householder_product(vectors: Tensor) -> Tensor:
    """``H_k ⋯ H_1`` for the rows ``v_i`` of ``vectors`` (k, n)."""
    n = vectors.shape[1]
    q = torch.eye(n, dtype=vectors.dtype, device=vectors.device)
    for v in vectors:
        unit = v / v.norm()
        q = q - 2 * torch.outer(unit, unit @ q)
    return q


def _reflection_count(features: int, reflections: int | None, owner: str) -> int:
    return features if reflections is None else require_int(reflections, "reflections", owner)


@final
class HouseholderLinear(_Linear):
    """``z = H_k ⋯ H_1 x + b`` with reflections ``H_i = I − 2 v_i v_iᵀ/‖v_i‖²``.

    Orthogonal for every ``v_i``: volume preserving (``log|det| = 0``) and an isometry (bi-
    Lipschitz with constants 1 and 1). ``n`` reflections reach every orthogonal matrix.

    Args:
        features: dimension ``n``.
        reflections: number ``k`` of reflections (default ``n``).

    Example:
        >>> layer = HouseholderLinear(3)
        >>> w = layer.weight()
        >>> torch.allclose(w @ w.T, torch.eye(3), atol=1e-6)
        True
    """

    volume_preserving = True

    def __init__(self, features: int, reflections: int | None = None) -> None:
        super().__init__(features)
        k = _reflection_count(features, reflections, "HouseholderLinear")
        self.vectors = nn.Parameter(torch.randn(k, features))

    def weight(self) -> Tensor:
        """The orthogonal ``Q``."""
        return _householder_product(self.vectors)

    def inverse_weight(self) -> Tensor:
        """``Qᵀ``."""
        return self.weight().T

    def logabsdet(self) -> Tensor:
        """Zero."""
        return self.vectors.new_zeros(())

    def lipschitz_bounds(self) -> tuple[float, float]:
        """An isometry: ``(1, 1)``."""
        return 1.0, 1.0


@final
class QRLinear(_Linear):
    """``z = Q R x + b``: Householder ``Q`` and upper-triangular ``R`` with diagonal ``e^{λ}``.

    Any invertible matrix with a positive-diagonal QR factor is reached; ``log|det| = Σ λ_i``.

    Args:
        features: dimension ``n``.
        reflections: Householder reflections in ``Q`` (default ``n``).

    Example:
        >>> layer = QRLinear(3)
        >>> x = torch.randn(4, 3)
        >>> torch.allclose(layer.inverse(layer(x)), x, atol=1e-5)
        True
    """

    def __init__(self, features: int, reflections: int | None = None) -> None:
        super().__init__(features)
        k = _reflection_count(features, reflections, "QRLinear")
        self.vectors = nn.Parameter(torch.randn(k, features))
        self.upper = nn.Parameter(torch.zeros(features, features))
        self.log_diagonal = nn.Parameter(torch.zeros(features))
        self.register_buffer("strict_upper", torch.triu(torch.ones(features, features), 1))

    def _r(self) -> Tensor:
        return self.upper * self.strict_upper + torch.diag(self.log_diagonal.exp())

    def weight(self) -> Tensor:
        """``Q R``."""
        return _householder_product(self.vectors) @ self._r()

    def inverse_weight(self) -> Tensor:
        """``R⁻¹ Qᵀ`` by a triangular solve."""
        q = _householder_product(self.vectors)
        return torch.linalg.solve_triangular(self._r(), q.T, upper=True)

    def logabsdet(self) -> Tensor:
        """``Σ λ_i``."""
        return self.log_diagonal.sum()


@final
class CayleyLinear(_Linear):
    """``z = (I − A)(I + A)⁻¹ x + b`` with ``A = S − Sᵀ``: a rotation (Cayley transform).

    ``I + A`` is invertible for every skew ``A`` (its eigenvalues are ``1 + iω``), the result
    is orthogonal with ``det = 1``: volume preserving, an isometry, inverse ``Wᵀ``.

    Args:
        features: dimension ``n``.

    Example:
        >>> layer = CayleyLinear(3)
        >>> torch.linalg.det(layer.weight()).item() > 0.999
        True
    """

    volume_preserving = True

    def __init__(self, features: int) -> None:
        super().__init__(features)
        self.generator = nn.Parameter(0.5 * torch.randn(features, features))

    def weight(self) -> Tensor:
        """``(I − A)(I + A)⁻¹``."""
        skew = self.generator - self.generator.T
        eye = torch.eye(self.features, dtype=skew.dtype, device=skew.device)
        # (I − A)(I + A)⁻¹ = ((I + A)⁻ᵀ (I − A)ᵀ)ᵀ; I − A and (I + A)⁻¹ commute.
        return torch.linalg.solve(eye + skew, eye - skew)

    def inverse_weight(self) -> Tensor:
        """``Wᵀ``."""
        return self.weight().T

    def logabsdet(self) -> Tensor:
        """Zero."""
        return self.generator.new_zeros(())

    def lipschitz_bounds(self) -> tuple[float, float]:
        """An isometry: ``(1, 1)``."""
        return 1.0, 1.0
