"""Physics trajectories: exact energies of the clean data, noise, determinism, bad input."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError
from structdl.data import PHYSICS_SYSTEMS, make_trajectories, true_energy


@pytest.mark.parametrize("system", PHYSICS_SYSTEMS)
def test_clean_trajectories_conserve_the_true_energy(system: str) -> None:
    data = make_trajectories(system, 5, 30, dt=0.1, noise=0.0, seed=2)
    assert data.q.shape == (5, 31, 1) and data.p.shape == (5, 31, 1)
    assert data.t.shape == (31,) and float(data.t[-1]) == pytest.approx(3.0)
    energy = data.energy(data.q, data.p)
    # RK4 with 10 substeps (pendulum) or the closed form (mass–spring): drift ≤ 1e-9.
    assert (energy - energy[:, :1]).abs().max() < 1e-9
    # Amplitudes lie in [0.2, 1.2], so the energies lie in [V(0.2), V(1.2)].
    turning_points = torch.tensor([[0.2], [1.2]], dtype=torch.float64)
    bounds = true_energy(system, turning_points, torch.zeros_like(turning_points))
    assert (energy >= bounds[0] - 1e-12).all() and (energy <= bounds[1] + 1e-12).all()
    assert torch.equal(data.q_noisy, data.q)


def test_mass_spring_matches_the_closed_form() -> None:
    data = make_trajectories("mass_spring", 3, 20, dt=0.25, noise=0.0)
    t = data.t.view(1, -1, 1)
    q0, p0 = data.q[:, :1], data.p[:, :1]
    torch.testing.assert_close(data.q, q0 * torch.cos(t) + p0 * torch.sin(t))


def test_noise_has_the_requested_scale_and_is_seeded() -> None:
    a = make_trajectories("pendulum", 20, 50, noise=0.05, seed=7)
    b = make_trajectories("pendulum", 20, 50, noise=0.05, seed=7)
    c = make_trajectories("pendulum", 20, 50, noise=0.05, seed=8)
    assert torch.equal(a.q_noisy, b.q_noisy)
    assert not torch.equal(a.q, c.q)
    residual = torch.cat([(a.q_noisy - a.q).flatten(), (a.p_noisy - a.p).flatten()])
    assert 0.045 < float(residual.std()) < 0.055


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"system": "double_pendulum"}, "unknown system"),
        ({"system": "pendulum", "amplitude": (0.5, 3.5)}, "invalid amplitude"),
        ({"system": "pendulum", "dt": 0.0}, "positive"),
        ({"system": "mass_spring", "n_steps": 0}, "n_steps must be an integer ≥ 1"),
        ({"system": "mass_spring", "noise": -1.0}, "negative"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs: dict, match: str) -> None:
    system = kwargs.pop("system")
    with pytest.raises(ConfigError, match=match):
        make_trajectories(system, **kwargs)
