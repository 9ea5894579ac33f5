"""Benchmark data of the Hamiltonian tasks: shapes, determinism, physics of the references."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError
from structdl.data.hamiltonian_tasks import (
    HNN_TASKS,
    energy_protocol,
    hamiltonian,
    hnn_task,
    sympnet_pendulum,
    trajectories,
    vector_field,
)


def test_oscillator_tasks_have_the_anchor_sizes() -> None:
    spring, pendulum = hnn_task("mass_spring"), hnn_task("pendulum")
    assert spring.x.shape == (750, 2) and spring.test_x.shape == (750, 2)
    assert pendulum.x.shape == (1125, 2) and pendulum.test_x.shape == (1125, 2)
    assert spring.noise == pendulum.noise == 0.1


@pytest.mark.parametrize("task", sorted(HNN_TASKS))
def test_derivatives_are_the_true_field_at_the_clean_states(task: str) -> None:
    data = hnn_task(task, orbits=12)
    dof = HNN_TASKS[task]
    assert data.x.shape[1] == 2 * dof
    field = vector_field(task)
    if data.noise == 0.0:
        assert torch.allclose(field(data.x), data.dx, atol=1e-12)
    else:
        # Noisy inputs: the residual is the noise's effect, of the order of σ².
        residual = (field(data.x) - data.dx).pow(2).mean()
        assert 0.1 * data.noise**2 < float(residual) < 10 * data.noise**2


def test_tasks_are_deterministic_in_the_seed() -> None:
    a, b, c = (hnn_task("two_body", seed, orbits=10) for seed in (3, 3, 4))
    assert torch.equal(a.x, b.x)
    assert not torch.equal(a.x, c.x)


@pytest.mark.parametrize("task", sorted(HNN_TASKS))
def test_reference_trajectories_conserve_the_true_energy(task: str) -> None:
    protocol = energy_protocol(task, trials=3)
    energy = hamiltonian(task)(protocol.truth)
    drift = (energy - energy[:, :1]).abs().max()
    assert float(drift) < 1e-7
    assert protocol.truth.shape[:2] == (3, protocol.times.shape[0])


def test_sympnet_pendulum_follows_the_anchor_protocol() -> None:
    data = sympnet_pendulum(rollout_steps=50)
    assert data.h == 0.1
    assert data.x.shape == (40, 2) and data.test_x.shape == (100, 2)
    assert torch.equal(data.x[0], torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert torch.equal(data.x[1:], data.y[:-1])  # one trajectory, consecutive pairs
    assert torch.equal(data.rollout[0], data.test_x[0])
    energy = hamiltonian("sympnet_pendulum")(data.rollout)
    assert float((energy - energy[0]).abs().max()) < 1e-9


@pytest.mark.parametrize("system", ["double_pendulum", "henon_heiles"])
def test_trajectories_of_the_extra_systems_conserve_energy(system: str) -> None:
    z0 = 0.3 * torch.ones(2, 4, dtype=torch.float64)
    clean, noisy = trajectories(system, z0, 50, 0.1, noise=0.01, seed=1)
    energy = hamiltonian(system)(clean)
    assert float((energy - energy[:, :1]).abs().max()) < 1e-9
    assert 0.005 < float((noisy - clean).std()) < 0.02


def test_double_pendulum_field_is_the_symplectic_gradient_of_its_energy() -> None:
    z = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    grad = torch.autograd.grad(hamiltonian("double_pendulum")(z).sum(), z)[0]
    expected = torch.cat((grad[:, 2:], -grad[:, :2]), dim=1)
    assert torch.allclose(vector_field("double_pendulum")(z), expected, atol=1e-12)


def test_bad_arguments_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown system"):
        hnn_task("four_body")
    with pytest.raises(ConfigError, match="orbits"):
        hnn_task("two_body", orbits=1)
    with pytest.raises(ConfigError, match="wrong z0"):
        trajectories("henon_heiles", torch.zeros(2, 3), 5, 0.1)
