"""Symplectic model reduction: PSD, the symplectic autoencoder fitted to snapshots, and the
reduced Hamiltonian system, on the discretised wave equation."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError, NonFiniteError, ShapeError
from structdl.data import WaveChain, wave_transport
from structdl.dynamics import ImplicitMidpoint
from structdl.dynamics.learning import (
    FlowMap,
    ReducedHamiltonian,
    SymplecticAutoencoder,
    fit_autoencoder,
    proper_symplectic_decomposition,
    psd_basis,
    reconstruction_error,
)
from structdl.structure import (
    Symplectic,
    assert_preserves,
    canonical_J,
    check_symplectic,
    check_symplectic_embedding,
    guarantees,
)

F64 = torch.float64
BAR = 1e-12


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data():  # noqa: ANN201
    return wave_transport(
        16, length=4.0, train_widths=(0.5, 0.7), test_widths=(0.6,), t_end=1.0, samples=21
    )


def test_psd_error_is_the_discarded_singular_values(data) -> None:  # noqa: ANN001
    z = data.snapshots()
    phi, sigma = psd_basis(z)
    assert torch.allclose(phi.T @ phi, torch.eye(16, dtype=F64), atol=1e-13)
    for k in (1, 3, 6):
        psd = proper_symplectic_decomposition(z, k)
        expected = float(sigma[k:].pow(2).sum().sqrt() / torch.linalg.norm(z))
        assert reconstruction_error(psd, z) == pytest.approx(expected, rel=1e-9)
        latent = psd.encode(z[:5])
        assert torch.allclose(psd.encode(psd.decode(latent)), latent, atol=1e-13)
        assert check_symplectic_embedding(psd.decode, latent).worst <= BAR
    assert reconstruction_error(proper_symplectic_decomposition(z, 16), z) < 1e-13


def test_autoencoder_started_at_the_psd_basis_is_the_psd(data) -> None:  # noqa: ANN001
    z = data.snapshots()
    phi, _ = psd_basis(z)
    psd = proper_symplectic_decomposition(z, 2)
    ae = SymplecticAutoencoder(16, 2, layers=2, width=8, basis=phi, init_scale=0.0).double()
    assert torch.allclose(ae.decode(psd.encode(z)), psd.decode(psd.encode(z)), atol=1e-13)
    assert reconstruction_error(ae, z) == pytest.approx(reconstruction_error(psd, z), rel=1e-12)


def test_fit_keeps_the_decoder_a_symplectic_embedding(data) -> None:  # noqa: ANN001
    z = data.snapshots()
    phi, _ = psd_basis(z)
    ae = SymplecticAutoencoder(
        16, 1, layers=4, width=16, activation="tanh", basis=phi, init_scale=0.05
    ).double()
    before = reconstruction_error(ae, z)
    losses = fit_autoencoder(ae, z, steps=150, lr=3e-3, final_lr_fraction=0.1)
    after = reconstruction_error(ae, z)
    assert after < before and losses[-1] < losses[0]
    assert after == pytest.approx(losses[-1] ** 0.5, rel=0.1)  # the loss is the squared error
    latent = ae.encode(z[::7]).detach()
    assert check_symplectic_embedding(ae.decode, latent).worst <= BAR
    assert check_symplectic(ae, z[::7]).worst <= BAR
    assert torch.allclose(ae.encode(ae.decode(latent)), latent, atol=1e-12)


def test_minibatches_are_seeded(data) -> None:  # noqa: ANN001
    z = data.snapshots()

    def run() -> list[float]:
        torch.manual_seed(3)
        ae = SymplecticAutoencoder(16, 1, layers=2, width=4).double()
        return fit_autoencoder(
            ae, z, steps=5, batch_size=8, generator=torch.Generator().manual_seed(1)
        )

    assert run() == run()


def test_reduced_field_is_the_symplectic_galerkin_projection() -> None:
    chain = WaveChain(n=6, length=2.0, potential="sine_gordon")
    ae = SymplecticAutoencoder(6, 2, layers=3, width=5, init_scale=0.5).double()
    field = ReducedHamiltonian(chain.energy, ae)
    latent = torch.randn(3, 4, dtype=F64)
    # J_{2k} ∇H_red = D⁺ X_H(decode ẑ) with the symplectic inverse D⁺ = J_{2k}ᵀ Dᵀ J_{2n}.
    jac = torch.func.vmap(torch.func.jacrev(lambda x: ae.decode(x[None])[0]))(latent)
    full = chain.vector_field(ae.decode(latent))
    projected = canonical_J(2).T @ jac.transpose(1, 2) @ canonical_J(6) @ full[..., None]
    assert torch.allclose(field.time_derivative(latent), projected[..., 0], atol=1e-12)
    # The pair form is the flat one, and the field is J ∇ of its energy.
    q, p = (latent[:, :2].clone().requires_grad_(), latent[:, 2:].clone().requires_grad_())
    gq, gp = torch.autograd.grad(field.energy(q, p).sum(), (q, p))
    dq, dp = field(0.0, (q, p))
    assert torch.allclose(dq, gp, atol=1e-12) and torch.allclose(dp, -gq, atol=1e-12)


def test_reduced_implicit_midpoint_is_declared_and_checked_symplectic() -> None:
    chain = WaveChain(n=5, length=2.0, potential="sine_gordon")
    ae = SymplecticAutoencoder(5, 1, layers=2, width=4).double()
    step = FlowMap(ReducedHamiltonian(chain.energy, ae), ImplicitMidpoint(), 0.05)
    assert Symplectic() in guarantees(step)
    latent = 0.5 * torch.randn(4, 2, dtype=F64)
    assert check_symplectic(step, latent).worst <= BAR
    assert_preserves(step, latent, h=0.05)


def test_psd_reduced_linear_wave_conserves_energy_exactly(data) -> None:  # noqa: ANN001
    """PSD on the linear wave: H_red is quadratic, which implicit midpoint conserves."""
    psd = proper_symplectic_decomposition(data.snapshots(), 3)
    step = FlowMap(ReducedHamiltonian(data.chain.energy, psd), ImplicitMidpoint(), 0.05)
    with torch.no_grad():
        states = step.rollout(psd.encode(data.test[:, 0]), 200)[0]
        energy = step.energy(states)
    assert float(((energy - energy[0]).abs() / energy[0]).max()) < 1e-12


def test_errors(data) -> None:  # noqa: ANN001
    z = data.snapshots()
    with pytest.raises(ConfigError, match="not orthogonal"):
        SymplecticAutoencoder(3, 1, basis=1.5 * torch.eye(3, dtype=F64))
    with pytest.raises(ConfigError, match="orthogonal \\(3, 3\\)"):
        SymplecticAutoencoder(3, 1, basis=torch.eye(2, dtype=F64))
    with pytest.raises(ConfigError, match="layers"):
        SymplecticAutoencoder(3, 1, layers=-1)
    with pytest.raises(ShapeError, match="snapshots"):
        psd_basis(torch.randn(4, 5, dtype=F64))
    with pytest.raises(NonFiniteError, match="NaN"):
        psd_basis(torch.full((4, 6), float("nan"), dtype=F64))
    with pytest.raises(ShapeError, match="width 8"):
        fit_autoencoder(SymplecticAutoencoder(4, 1).double(), z, steps=1)
    with pytest.raises(ConfigError, match="energy must be callable"):
        ReducedHamiltonian(3.0, SymplecticAutoencoder(3, 1))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="decode"):
        ReducedHamiltonian(lambda x: x.sum(1), torch.nn.Linear(2, 2))
