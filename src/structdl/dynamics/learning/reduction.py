"""Symplectic model reduction: reduced bases, autoencoders and the reduced Hamiltonian system.

A Hamiltonian system ``ż = J_{2n} ∇H(z)`` on a large phase space ``R^{2n}`` (a discretised
wave equation, say) is replaced by one on ``R^{2k}``, ``k ≪ n``, through a symplectic
embedding ``decode: R^{2k} → R^{2n}`` (``D_decᵀ J_{2n} D_dec = J_{2k}``):

* :func:`psd_basis`, :func:`proper_symplectic_decomposition` — the linear cotangent-lift basis
  of Peng & Mohseni (*Symplectic model reduction of Hamiltonian systems*, SISC 2016): the
  left singular vectors ``Φ`` of the snapshot matrix ``[Q P]`` (``n × 2N``), used for ``q``
  and ``p`` alike, ``decode(q̂, p̂) = (Φ_k q̂, Φ_k p̂)``;
* :func:`fit_autoencoder` — a nonlinear :class:`SymplecticAutoencoder` fitted to snapshots by
  the reconstruction loss ``Σ‖decode(encode(z)) − z‖² / Σ‖z‖²`` (exactly symplectic for every
  parameter value, as in Buchfink, Glas & Haasdonk 2023 and Brantner & Kraus 2023);
  :func:`reconstruction_error` measures ``‖Z − decode(encode(Z))‖_F / ‖Z‖_F``;
* :class:`ReducedHamiltonian` — the symplectic Galerkin projection of the full system onto the
  embedded manifold: ``H_red(ẑ) = H(decode(ẑ))``, ``ẑ' = J_{2k} ∇H_red(ẑ)``
  (``= D_dec⁺ J_{2n} ∇H(decode ẑ)`` with the symplectic inverse ``D⁺ = J_{2k}ᵀ Dᵀ J_{2n}``).
  A Hamiltonian field on the latent space: with :class:`~structdl.dynamics.ImplicitMidpoint`
  in a :class:`~structdl.dynamics.learning.FlowMap` the reduced step is symplectic and
  ``H_red`` — the full energy of the decoded state — has a bounded error without drift.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor

from ..._errors import ConfigError, NonFiniteError, ShapeError
from ...structure._validate import require_float_tensor, require_int
from .._base import VectorField
from ._validate import canonical_rotation, check_flat, check_pair
from .symplectic_autoencoder import SymplecticAutoencoder
from .training import fit_minibatches

__all__ = [
    "ReducedHamiltonian",
    "fit_autoencoder",
    "proper_symplectic_decomposition",
    "psd_basis",
    "reconstruction_error",
]


def _snapshots(z: object, who: str) -> Tensor:
    """Validate snapshots ``(..., 2n)`` and return them as a finite ``(N, 2n)`` matrix."""
    require_float_tensor(z, "snapshots", who, "(N, 2n) or (m, T, 2n)")
    if z.dim() < 2 or z.shape[-1] % 2 or z.numel() == 0:
        raise ShapeError(
            f"{who}: wrong snapshots — expected a non-empty (N, 2n) or (m, T, 2n) tensor of "
            f"states (q, p) — received {tuple(z.shape)} — stack the states along the first axes"
        )
    if not bool(torch.isfinite(z).all()):
        raise NonFiniteError(
            f"{who}: snapshots contain NaN or inf — expected finite states — received "
            f"{int((~torch.isfinite(z)).sum())} non-finite entries — clean the data"
        )
    return z.reshape(-1, z.shape[-1])


def psd_basis(snapshots: Tensor) -> tuple[Tensor, Tensor]:
    """The cotangent-lift basis of proper symplectic decomposition (Peng & Mohseni 2016).

    With snapshots ``z_j = (q_j, p_j)``, the ``n × 2N`` matrix ``Y = [q_1 … q_N p_1 … p_N]``
    has the SVD ``Y = U Σ Vᵀ``; ``Φ = U`` (orthogonal, ``n × n``) and the lift
    ``(q, p) ↦ (Φq, Φp)`` is symplectic. Its first ``k`` columns minimise the projection error
    ``Σ‖q_j − Φ_kΦ_kᵀq_j‖² + ‖p_j − Φ_kΦ_kᵀp_j‖²`` among cotangent-lift bases.

    Args:
        snapshots: states ``(N, 2n)`` (or ``(m, T, 2n)``, flattened).

    Returns:
        ``(Φ, σ)``: the orthogonal ``(n, n)`` basis and the singular values (descending).

    Example:
        >>> import torch
        >>> phi, sigma = psd_basis(torch.randn(10, 6, dtype=torch.float64))
        >>> bool(torch.allclose(phi.T @ phi, torch.eye(3, dtype=torch.float64)))
        True
    """
    z = _snapshots(snapshots, "psd_basis")
    n = z.shape[1] // 2
    matrix = torch.cat((z[:, :n], z[:, n:]), dim=0).T  # (n, 2N)
    u, sigma, _ = torch.linalg.svd(matrix, full_matrices=True)
    return u, sigma


def proper_symplectic_decomposition(snapshots: Tensor, latent_dim: int) -> SymplecticAutoencoder:
    """The PSD reduced basis of ``latent_dim`` modes, as a linear :class:`SymplecticAutoencoder`.

    ``decode(q̂, p̂) = (Φ_k q̂, Φ_k p̂)``, ``encode(q, p) = (Φ_kᵀ q, Φ_kᵀ p)`` with ``Φ`` from
    :func:`psd_basis` (no shears: ``layers = 0``). The returned module has the snapshots'
    dtype; its rotation parameter starts at zero, so it *is* the PSD until trained.

    Args:
        snapshots: states ``(N, 2n)`` (or ``(m, T, 2n)``).
        latent_dim: reduced degrees of freedom ``k``.

    Example:
        >>> import torch
        >>> z = torch.randn(20, 8, dtype=torch.float64)
        >>> psd = proper_symplectic_decomposition(z, 2)
        >>> tuple(psd.encode(z).shape), tuple(psd.decode(psd.encode(z)).shape)
        ((20, 4), (20, 8))
    """
    z = _snapshots(snapshots, "proper_symplectic_decomposition")
    basis, _ = psd_basis(z)
    n = z.shape[1] // 2
    return SymplecticAutoencoder(n, latent_dim, layers=0, basis=basis).to(z.dtype)


def reconstruction_error(autoencoder: SymplecticAutoencoder, snapshots: Tensor) -> float:
    """Relative reconstruction error ``‖Z − decode(encode(Z))‖_F / ‖Z‖_F`` over the snapshots.

    Example:
        >>> import torch
        >>> z = torch.randn(20, 8, dtype=torch.float64)
        >>> reconstruction_error(proper_symplectic_decomposition(z, 4), z) < 1e-12  # k = n
        True
    """
    z = _snapshots(snapshots, "reconstruction_error")
    with torch.no_grad():
        rebuilt = autoencoder.decode(autoencoder.encode(z))
    return float(torch.linalg.norm(rebuilt - z) / torch.linalg.norm(z))


def fit_autoencoder(
    autoencoder: SymplecticAutoencoder,
    snapshots: Tensor,
    *,
    steps: int,
    lr: float = 1e-3,
    batch_size: int | None = None,
    final_lr_fraction: float = 1.0,
    weight_decay: float = 0.0,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Fit ``decode(encode(z)) ≈ z`` by Adam; returns the relative loss of every step.

    The loss is ``mean_i ‖decode(encode(z_i)) − z_i‖² / mean_i ‖z_i‖²`` (the squared relative
    reconstruction error on the batch, normalised by the whole set's mean). Every parameter
    value gives an exactly symplectic decoder, so training cannot break the structure.

    Args:
        autoencoder: the model (its orthogonal lift and shears are trained).
        snapshots: states ``(N, 2n)`` (or ``(m, T, 2n)``).
        steps: optimiser steps.
        lr: Adam learning rate.
        batch_size: minibatch size (``None``: full batch).
        final_lr_fraction: cosine decay of the learning rate to this fraction (1: constant).
        weight_decay: Adam weight decay.
        generator: seeds the minibatch draws.

    Example:
        >>> import torch
        >>> z = torch.randn(32, 6, dtype=torch.float64)
        >>> ae = SymplecticAutoencoder(3, 1, layers=2, width=4).double()
        >>> losses = fit_autoencoder(ae, z, steps=20, lr=1e-2)
        >>> len(losses), losses[-1] < losses[0]
        (20, True)
    """
    steps = require_int(steps, "steps", "fit_autoencoder")
    z = _snapshots(snapshots, "fit_autoencoder")
    if z.shape[1] != 2 * autoencoder.dim:
        raise ShapeError(
            f"fit_autoencoder: snapshots do not match the autoencoder — expected states of "
            f"width {2 * autoencoder.dim} — received {z.shape[1]} — build the autoencoder with "
            f"dim = n"
        )
    scale = z.pow(2).sum(dim=1).mean()

    def loss(rows: Tensor | None) -> Tensor:
        batch = z if rows is None else z[rows]
        rebuilt = autoencoder.decode(autoencoder.encode(batch))
        return (rebuilt - batch).pow(2).sum(dim=1).mean() / scale

    return fit_minibatches(
        autoencoder,
        loss,
        z.shape[0],
        steps=steps,
        lr=lr,
        batch_size=batch_size,
        weight_decay=weight_decay,
        final_lr_fraction=final_lr_fraction,
        generator=generator,
    )


class ReducedHamiltonian(VectorField):
    """The symplectic Galerkin reduction ``H_red(ẑ) = H(decode(ẑ))``, ``ẑ' = J_{2k} ∇H_red``.

    For a symplectic embedding ``decode`` this is the projection of the full field,
    ``ẑ' = D⁺ J_{2n} ∇H(decode ẑ)`` with ``D⁺ = J_{2k}ᵀ D_decᵀ J_{2n}`` (Buchfink, Glas &
    Haasdonk 2023): a Hamiltonian system on ``R^{2k}`` whose energy is the full energy of the
    decoded state. Kinds ``partitioned`` and ``hamiltonian``: a
    :class:`~structdl.dynamics.learning.FlowMap` with
    :class:`~structdl.dynamics.ImplicitMidpoint` on it is declared (and checked) symplectic.
    ``∇H_red = D_decᵀ ∇H`` is one vector–Jacobian product by ``torch.func.vjp``, so the field
    composes with ``torch.func`` and autograd (Jacobian checks, training through it).

    Args:
        energy: the full Hamiltonian ``H: (batch, 2n) → (batch,)`` (rows independent).
        autoencoder: the embedding (a :class:`SymplecticAutoencoder`, or any module with
            ``decode`` and an integer ``latent_dim``).

    Example:
        >>> import torch
        >>> from structdl.dynamics import ImplicitMidpoint
        >>> from structdl.dynamics.learning import FlowMap
        >>> ae = SymplecticAutoencoder(3, 1, layers=2, width=4).double()
        >>> field = ReducedHamiltonian(lambda z: 0.5 * z.pow(2).sum(dim=1), ae)
        >>> step = FlowMap(field, ImplicitMidpoint(), 0.1)
        >>> latent = torch.tensor([[0.3, 0.1]], dtype=torch.float64)
        >>> states = step.rollout(latent, 50)
        >>> energies = step.energy(states[0])
        >>> bool((energies - energies[0]).abs().max() < 1e-3)
        True
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"partitioned", "hamiltonian"})

    def __init__(self, energy: Callable[[Tensor], Tensor], autoencoder: torch.nn.Module) -> None:
        super().__init__()
        if not callable(energy):
            raise ConfigError(
                f"ReducedHamiltonian: energy must be callable — expected H: (batch, 2n) → "
                f"(batch,) — received {type(energy).__name__} — pass e.g. chain.energy"
            )
        if not callable(getattr(autoencoder, "decode", None)) or not isinstance(
            getattr(autoencoder, "latent_dim", None), int
        ):
            raise ConfigError(
                f"ReducedHamiltonian: autoencoder must embed the latent space — expected a "
                f"module with decode() and latent_dim — received {type(autoencoder).__name__} "
                f"— pass a SymplecticAutoencoder"
            )
        self.full_energy = energy
        self.autoencoder = autoencoder
        self.dim = autoencoder.latent_dim

    def flat_energy(self, latent: Tensor) -> Tensor:
        """``H(decode(ẑ))`` on flat latent states ``(batch, 2k)``, shape ``(batch,)``."""
        latent = check_flat(latent, 2 * self.dim, self.name)
        return self.full_energy(self.autoencoder.decode(latent))

    def energy(self, q: Tensor, p: Tensor) -> Tensor:
        """``H_red(q̂, p̂)``, shape ``(batch,)``."""
        q, p = check_pair((q, p), self.dim, self.name)
        return self.flat_energy(torch.cat((q, p), dim=1))

    def time_derivative(self, latent: Tensor) -> Tensor:
        """``J_{2k} ∇H_red(ẑ)`` on flat latent states ``(batch, 2k)``."""
        latent = check_flat(latent, 2 * self.dim, self.name)
        values, pullback = torch.func.vjp(self.flat_energy, latent)
        (gradient,) = pullback(torch.ones_like(values))
        return canonical_rotation(gradient)

    def forward(self, t: float | Tensor, y: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """``(∂_p̂ H_red, −∂_q̂ H_red)`` at ``y = (q̂, p̂)``."""
        q, p = check_pair(y, self.dim, self.name)
        velocity = self.time_derivative(torch.cat((q, p), dim=1))
        return velocity[:, : self.dim], velocity[:, self.dim :]
