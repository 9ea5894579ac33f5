"""A symplectic autoencoder: a reduced phase space embedded by a symplectic map.

The full phase space ``R^{2n}`` and a latent one ``R^{2k}`` (``k ≤ n``). A symplectic
diffeomorphism ``F = S ∘ L`` of ``R^{2n}`` — the cotangent lift ``L(q, p) = (Φq, Φp)`` of an
orthogonal ``Φ = exp(A − Aᵀ)`` followed by a G-SympNet ``S`` — carries the coordinate subspace
``{(q̂, 0, p̂, 0)}`` onto the learned reduced manifold::

    decode(q̂, p̂) = F(q̂, 0, p̂, 0)                 (R^{2k} → R^{2n})
    encode(z)     = the latent coordinates of F⁻¹(z)    (R^{2n} → R^{2k})

so ``encode ∘ decode = id`` exactly and the decoder is a *symplectic embedding*
(``D_decᵀ J_{2n} D_dec = J_{2k}``), being the restriction of a symplectic map to a symplectic
subspace (Peng & Mohseni's cotangent lift, with a nonlinear
symplectic map on top). Reduced dynamics learned on the latent space (a
:class:`~structdl.dynamics.learning.FlowMap` or a SympNet there) therefore induce Hamiltonian
dynamics on the embedded manifold. The module itself is the square map ``F`` on ``R^{2n}``
(``forward``), which declares ``Symplectic``, ``VolumePreserving`` and ``Invertible``.
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


class SymplecticAutoencoder(nn.Module):
    """``F = S ∘ L`` on ``R^{2n}``; ``decode``/``encode`` through the first ``k`` coordinates.

    Args:
        dim: full degrees of freedom ``n``.
        latent_dim: reduced degrees of freedom ``k`` (``1 ≤ k ≤ n``).
        layers: gradient shears of the G-SympNet ``S``.
        width: ridges per shear.

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

    def __init__(self, dim: int, latent_dim: int, layers: int = 4, width: int = 16) -> None:
        super().__init__()
        self.dim = require_int(dim, "dim", "SymplecticAutoencoder")
        self.latent_dim = require_int(latent_dim, "latent_dim", "SymplecticAutoencoder")
        if latent_dim > dim:
            raise ConfigError(
                f"SymplecticAutoencoder: latent_dim must not exceed dim — expected k ≤ n — "
                f"received k={latent_dim}, n={dim} — lower latent_dim"
            )
        self.rotation = nn.Parameter(0.1 * torch.randn(dim, dim))
        self.shears = GSympNet(dim, layers=layers, width=width, init_scale=0.1)

    def basis(self) -> Tensor:
        """The orthogonal ``Φ = exp(A − Aᵀ)``, shape ``(n, n)``."""
        return torch.linalg.matrix_exp(self.rotation - self.rotation.T)

    def forward(self, z: Tensor) -> Tensor:
        """``F(z) = S(Φq, Φp)``, shape ``(batch, 2n)``."""
        z = check_flat(z, 2 * self.dim, "SymplecticAutoencoder")
        phi = self.basis()
        n = self.dim
        lifted = torch.cat((z[:, :n] @ phi.T, z[:, n:] @ phi.T), dim=1)
        return self.shears(lifted)

    def inverse(self, z: Tensor) -> Tensor:
        """``F⁻¹(z)``, shape ``(batch, 2n)``."""
        z = check_flat(z, 2 * self.dim, "SymplecticAutoencoder")
        phi = self.basis()
        n = self.dim
        back = self.shears.inverse(z)
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
