"""A symplectic autoencoder: a reduced phase space embedded by a symplectic map.

The full phase space ``R^{2n}`` and a latent one ``R^{2k}`` (``k ≤ n``). A symplectic
diffeomorphism ``F = S ∘ L`` of ``R^{2n}`` — the cotangent lift ``L(q, p) = (Φq, Φp)`` of an
orthogonal ``Φ = Φ₀ exp(A − Aᵀ)`` followed by a G-SympNet ``S`` — carries the coordinate
subspace ``{(q̂, 0, p̂, 0)}`` onto the learned reduced manifold::

    decode(q̂, p̂) = F(q̂, 0, p̂, 0)                 (R^{2k} → R^{2n})
    encode(z)     = the latent coordinates of F⁻¹(z)    (R^{2n} → R^{2k})

so ``encode ∘ decode = id`` exactly and the decoder is a *symplectic embedding*
(``D_decᵀ J_{2n} D_dec = J_{2k}``, verified by
:func:`structdl.structure.check_symplectic_embedding`), being the restriction of a symplectic
map to a symplectic subspace. With ``layers=0`` (``S = id``) and ``Φ₀`` the basis of a proper
symplectic decomposition this is exactly Peng & Mohseni's cotangent-lift reduced basis
(:func:`~structdl.dynamics.learning.proper_symplectic_decomposition`); the G-SympNet on top
makes the embedded manifold nonlinear. Reduced dynamics on the latent space — the symplectic
Galerkin projection :class:`~structdl.dynamics.learning.ReducedHamiltonian`, or a model learned
there — are Hamiltonian and induce Hamiltonian dynamics on the embedded manifold. The module
itself is the square map ``F`` on ``R^{2n}`` (``forward``), which declares ``Symplectic``,
``VolumePreserving`` and ``Invertible``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from ..._errors import ConfigError
from ...structure._validate import require_int
from ...structure.declarations import ALWAYS, Claim
from ...structure.properties import Invertible, Symplectic, VolumePreserving
from ._validate import check_flat
from .sympnets import GSympNet

__all__ = ["SymplecticAutoencoder"]

#: Largest ``max|Φ₀ᵀΦ₀ − I|`` accepted for a given basis (it is then re-orthogonalised exactly).
_ORTHOGONALITY_SLACK = 1e-4


def _orthogonal_reference(basis: object, dim: int) -> Tensor:
    """The polar factor of a nearly orthogonal ``(n, n)`` basis (exactly orthogonal in float64)."""
    if not isinstance(basis, Tensor) or basis.shape != (dim, dim):
        got = tuple(basis.shape) if isinstance(basis, Tensor) else type(basis).__name__
        raise ConfigError(
            f"SymplecticAutoencoder: basis must be an orthogonal ({dim}, {dim}) matrix — "
            f"expected e.g. the first output of psd_basis — received {got} — pass an (n, n) "
            f"tensor"
        )
    basis = basis.detach().to(torch.float64)
    eye = torch.eye(dim, dtype=torch.float64)
    defect = float((basis.T @ basis - eye).abs().max()) if bool(basis.isfinite().all()) else 1e300
    if not defect <= _ORTHOGONALITY_SLACK:
        raise ConfigError(
            f"SymplecticAutoencoder: basis is not orthogonal — expected max|Φ₀ᵀΦ₀ − I| ≤ "
            f"{_ORTHOGONALITY_SLACK:g} — received {defect:.3g} — orthonormalise it (QR) first"
        )
    u, _, vh = torch.linalg.svd(basis)
    return u @ vh


class SymplecticAutoencoder(nn.Module):
    """``F = S ∘ L`` on ``R^{2n}``; ``decode``/``encode`` through the first ``k`` coordinates.

    Args:
        dim: full degrees of freedom ``n``.
        latent_dim: reduced degrees of freedom ``k`` (``1 ≤ k ≤ n``).
        layers: gradient shears of the G-SympNet ``S`` (``0``: ``S = id``, a linear
            cotangent-lift basis).
        width: ridges per shear.
        activation: of the shears, ``"sigmoid"`` or ``"tanh"``.
        basis: optional orthogonal ``Φ₀`` of shape ``(n, n)``, the initial lift (its first
            ``k`` columns span the initial reduced space); ``A`` then starts at zero. Kept as a
            float64 buffer; default: ``Φ₀ = I`` and a random ``A``.
        init_scale: standard deviation of the shears' initial weights.

    Shapes: ``forward``/``inverse`` ``(batch, 2n)``; ``decode`` ``(batch, 2k) → (batch, 2n)``;
    ``encode`` ``(batch, 2n) → (batch, 2k)``. Flat states are ``(q, p)``.

    Example:
        >>> import torch
        >>> ae = SymplecticAutoencoder(3, latent_dim=1, layers=2, width=4).double()
        >>> latent = torch.randn(5, 2, dtype=torch.float64)
        >>> bool(torch.allclose(ae.encode(ae.decode(latent)), latent, atol=1e-12))
        True
    """

    claims: ClassVar[tuple[Claim, ...]] = (
        Claim(Symplectic(), ALWAYS, "cotangent lift of an orthogonal Φ, then symplectic shears"),
        Claim(VolumePreserving(), ALWAYS, "det DΦ = 1 for every symplectic map"),
        Claim(Invertible(), ALWAYS, "Φᵀ undoes the lift, the shears invert explicitly"),
    )

    reference: Tensor | None

    def __init__(
        self,
        dim: int,
        latent_dim: int,
        layers: int = 4,
        width: int = 16,
        *,
        activation: str = "sigmoid",
        basis: Tensor | None = None,
        init_scale: float = 0.1,
    ) -> None:
        super().__init__()
        self.dim = require_int(dim, "dim", "SymplecticAutoencoder")
        self.latent_dim = require_int(latent_dim, "latent_dim", "SymplecticAutoencoder")
        layers = require_int(layers, "layers", "SymplecticAutoencoder", minimum=0)
        if latent_dim > dim:
            raise ConfigError(
                f"SymplecticAutoencoder: latent_dim must not exceed dim — expected k ≤ n — "
                f"received k={latent_dim}, n={dim} — lower latent_dim"
            )
        if basis is None:
            self.register_buffer("reference", None)
            self.rotation = nn.Parameter(0.1 * torch.randn(dim, dim))
        else:
            self.register_buffer("reference", _orthogonal_reference(basis, dim))
            self.rotation = nn.Parameter(torch.zeros(dim, dim))
        self.shears = (
            GSympNet(dim, layers=layers, width=width, activation=activation, init_scale=init_scale)
            if layers
            else None
        )

    def basis(self) -> Tensor:
        """The orthogonal ``Φ = Φ₀ exp(A − Aᵀ)``, shape ``(n, n)``."""
        rotation = torch.linalg.matrix_exp(self.rotation - self.rotation.T)
        if self.reference is None:
            return rotation
        return self.reference.to(rotation.dtype) @ rotation

    def _shear(self, z: Tensor) -> Tensor:
        return z if self.shears is None else self.shears(z)

    def _unshear(self, z: Tensor) -> Tensor:
        return z if self.shears is None else self.shears.inverse(z)

    def forward(self, z: Tensor) -> Tensor:
        """``F(z) = S(Φq, Φp)``, shape ``(batch, 2n)``."""
        z = check_flat(z, 2 * self.dim, "SymplecticAutoencoder")
        phi = self.basis()
        n = self.dim
        lifted = torch.cat((z[:, :n] @ phi.T, z[:, n:] @ phi.T), dim=1)
        return self._shear(lifted)

    def inverse(self, z: Tensor) -> Tensor:
        """``F⁻¹(z)``, shape ``(batch, 2n)``."""
        z = check_flat(z, 2 * self.dim, "SymplecticAutoencoder")
        phi = self.basis()
        n = self.dim
        back = self._unshear(z)
        return torch.cat((back[:, :n] @ phi, back[:, n:] @ phi), dim=1)

    def decode(self, latent: Tensor) -> Tensor:
        """``F(q̂, 0, p̂, 0)``: the symplectic embedding of the latent states."""
        latent = check_flat(latent, 2 * self.latent_dim, "SymplecticAutoencoder.decode")
        k, pad = self.latent_dim, self.dim - self.latent_dim
        zeros = latent.new_zeros(latent.shape[0], pad)
        return self(torch.cat((latent[:, :k], zeros, latent[:, k:], zeros), dim=1))

    def encode(self, z: Tensor) -> Tensor:
        """The latent coordinates ``(q̂, p̂)`` of ``F⁻¹(z)``, shape ``(batch, 2k)``."""
        back = self.inverse(z)
        k, n = self.latent_dim, self.dim
        return torch.cat((back[:, :k], back[:, n : n + k]), dim=1)
