"""The discretised wave equations of ``structdl.data.hamiltonian_pde``."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError, NonFiniteError, ShapeError
from structdl.data import WaveChain, travelling_bump, wave_trajectories, wave_transport
from structdl.structure import check_symplectic

F64 = torch.float64


@pytest.mark.parametrize("potential", ["linear", "sine_gordon"])
def test_vector_field_is_j_grad_h(potential: str) -> None:
    chain = WaveChain(n=12, length=3.0, speed=0.7, potential=potential)
    z = torch.randn(4, 24, dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(chain.energy(z).sum(), z)
    expected = torch.cat((grad[:, 12:], -grad[:, :12]), dim=1)
    assert torch.allclose(chain.vector_field(z), expected, atol=1e-12)


@pytest.mark.parametrize("potential", ["linear", "sine_gordon"])
def test_verlet_map_is_symplectic(potential: str) -> None:
    chain = WaveChain(n=8, length=2.0, potential=potential)
    h = 0.5 * chain.stable_step()
    z = torch.randn(3, 16, dtype=F64)
    assert check_symplectic(lambda x: chain.verlet(x, h, 3), z).worst < 1e-12
    # Negative control: explicit Euler on the same field is not symplectic.
    euler = lambda x: x + h * chain.vector_field(x)  # noqa: E731
    assert not check_symplectic(euler, z).ok


def test_verlet_energy_error_is_bounded_without_drift() -> None:
    chain = WaveChain(n=32, length=10.0, potential="sine_gordon")
    z = travelling_bump(chain, amplitude=1.5, width=1.0)
    h = 0.02
    energies = [chain.energy(z)]
    for _ in range(40):
        z = chain.verlet(z, h, 50)
        energies.append(chain.energy(z))
    error = (torch.cat(energies) - energies[0]).abs() / energies[0]
    assert float(error.max()) < 2e-4
    # Bounded: the last quarter is no worse than the first (no secular growth).
    assert float(error[-10:].max()) < 2.0 * float(error[1:11].max()) + 1e-12


def test_travelling_bump_moves_right_at_the_wave_speed() -> None:
    chain = WaveChain(n=128, length=10.0, speed=1.0)
    z0 = travelling_bump(chain, width=0.8)  # centred at L/4 = 2.5
    times, states = wave_trajectories(chain, z0, t_end=5.0, samples=3)
    peak = chain.grid()[states[0, -1, :128].argmax()]
    assert abs(float(peak) - 7.5) <= 2 * chain.dx  # moved L/2 to the right
    assert float(states[0, -1, :128].max()) > 0.9  # as one bump, not split in two
    assert torch.allclose(times, torch.tensor([0.0, 2.5, 5.0], dtype=F64))


def test_wave_transport_shapes_and_splits() -> None:
    data = wave_transport(
        16, length=4.0, train_widths=(0.5, 0.7), test_widths=(0.6,), t_end=1.0, samples=4
    )
    assert data.train.shape == (2, 4, 32) and data.test.shape == (1, 4, 32)
    assert data.snapshots("train").shape == (8, 32)
    assert data.snapshots("test").shape == (4, 32)
    assert torch.equal(
        data.train[:, 0], torch.cat([travelling_bump(data.chain, width=w) for w in (0.5, 0.7)])
    )
    with pytest.raises(ConfigError, match="split"):
        data.snapshots("validation")


def test_errors() -> None:
    with pytest.raises(ConfigError, match="n must be"):
        WaveChain(n=2)
    with pytest.raises(ConfigError, match="potential"):
        WaveChain(potential="phi4")
    with pytest.raises(ConfigError, match="speed"):
        WaveChain(speed=0.0)
    chain = WaveChain(n=8)
    with pytest.raises(ShapeError, match="expected a \\(batch, 16\\)"):
        chain.energy(torch.zeros(2, 15))
    with pytest.raises(ConfigError, match="stability"):
        chain.verlet(torch.zeros(1, 16), h=chain.stable_step(), steps=1)
    with pytest.raises(NonFiniteError, match="NaN"):
        wave_trajectories(chain, torch.full((1, 16), float("nan")), t_end=1.0, samples=2)
    with pytest.raises(ConfigError, match="widths"):
        wave_transport(8, train_widths=())
