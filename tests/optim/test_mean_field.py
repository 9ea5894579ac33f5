"""Mean-field two-layer ReLU networks: closed-form velocities, dissipation, the measure view."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError, NonFiniteError, ShapeError, StepSizeError
from structdl.optim.mean_field import (
    MeanFieldNetwork,
    ParticleGradientDescent,
    autograd_velocity,
    mean_field_loss,
    mean_field_velocity,
    particle_histogram,
    planar_positions,
)
from structdl.structure import check_energy

VELOCITY_TOL = 1e-10  # float64, closed form against autograd


def _problem(m: int, d: int = 3, n: int = 40, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    net = MeanFieldNetwork(d, m, generator=g, dtype=torch.float64)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.sin(x.sum(1))
    return net, x, y


@pytest.mark.parametrize(("m", "d"), [(1, 1), (7, 3), (600, 4)])
def test_closed_form_velocity_is_m_times_autograd_gradient(m: int, d: int) -> None:
    net, x, y = _problem(m, d)
    velocity, closed_loss = mean_field_velocity(net.particles.detach(), x, y)
    # Independent oracle: autograd through the module's forward.
    loss = 0.5 * ((net(x) - y) ** 2).mean()
    (grad,) = torch.autograd.grad(loss, net.particles)
    assert torch.allclose(velocity, -m * grad, rtol=0, atol=VELOCITY_TOL)
    assert abs(float(closed_loss - loss.detach())) <= VELOCITY_TOL
    ref, _ = autograd_velocity(net.particles.detach(), x, y)
    assert torch.allclose(velocity, ref, rtol=0, atol=VELOCITY_TOL)


def test_loss_non_increasing_for_small_steps_and_step_is_width_independent() -> None:
    net, x, y = _problem(300)
    opt = ParticleGradientDescent(net, h=0.05)
    losses = [opt.step(x, y) for _ in range(200)]
    losses.append(float(mean_field_loss(net.particles.detach(), x, y)))
    trajectory = torch.tensor(losses, dtype=torch.float64).reshape(-1, 1, 1)
    assert check_energy(lambda e: e[:, 0], trajectory, mode="non_increasing").ok
    assert losses[-1] < 0.5 * losses[0]


def test_large_steps_break_dissipation_negative_control() -> None:
    net, x, y = _problem(300)
    opt = ParticleGradientDescent(net, h=200.0)
    losses = []
    for _ in range(20):
        try:
            losses.append(opt.step(x, y))
        except NonFiniteError:
            break
    assert len(losses) >= 2
    trajectory = torch.tensor(losses, dtype=torch.float64).reshape(-1, 1, 1)
    assert not check_energy(lambda e: e[:, 0], trajectory, mode="non_increasing").ok


def test_particle_descent_equals_sgd_at_lr_h_times_m() -> None:
    net, x, y = _problem(50)
    twin = MeanFieldNetwork.from_particles(net.particles.detach().clone())
    sgd = torch.optim.SGD(twin.parameters(), lr=0.1 * 50)
    opt = ParticleGradientDescent(net, h=0.1)
    for _ in range(5):
        opt.step(x, y)
        sgd.zero_grad()
        (0.5 * ((twin(x) - y) ** 2).mean()).backward()
        sgd.step()
    assert torch.allclose(net.particles, twin.particles, rtol=0, atol=1e-12)


def test_measure_view() -> None:
    net, _, _ = _problem(2000, d=2)
    assert float(net.weights.sum()) == pytest.approx(1.0)
    density, edges = particle_histogram(net.particles, column=0, bins=25)
    assert density.shape == (25,) and edges.shape == (26,)
    assert float((density * edges.diff()).sum()) == pytest.approx(1.0)
    # a ~ N(0, 1): about half the mass is below 0.
    below = float((density * edges.diff())[edges[1:] <= 0].sum())
    assert 0.35 < below < 0.65
    pos = planar_positions(net.particles.detach())
    assert torch.allclose(pos.norm(dim=1), net.particles[:, 0].detach().abs())


def test_typed_errors() -> None:
    with pytest.raises(ConfigError, match="m"):
        MeanFieldNetwork(2, 0)
    with pytest.raises(ConfigError, match="m"):
        MeanFieldNetwork(2, -3)
    net, x, y = _problem(10)
    with pytest.raises(ShapeError, match="inputs"):
        mean_field_velocity(net.particles.detach(), x[:, :2], y)
    with pytest.raises(ShapeError, match="targets"):
        mean_field_velocity(net.particles.detach(), x, y[:5])
    with pytest.raises(ShapeError, match="particles"):
        mean_field_velocity(torch.randn(10), x, y)
    with pytest.raises(ConfigError, match="m ≥ 1"):
        mean_field_velocity(torch.randn(0, 5, dtype=torch.float64), x, y)
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="inputs"):
        mean_field_velocity(net.particles.detach(), bad, y)
    nan_particles = net.particles.detach().clone()
    nan_particles[3, 1] = float("nan")
    with pytest.raises(NonFiniteError, match="particles"):
        mean_field_loss(nan_particles, x, y)
    with pytest.raises(StepSizeError):
        ParticleGradientDescent(net, h=0.0)
    with pytest.raises(ShapeError, match="d = 2"):
        planar_positions(net.particles.detach())


def test_closed_form_over_many_sample_blocks_equals_autograd(monkeypatch) -> None:
    # Blocks of 64 // m samples: m = 7 → 9 rows, 40 samples → 5 blocks, the last partial.
    import structdl.optim.mean_field as mf

    monkeypatch.setattr(mf, "_BLOCK_ENTRIES", 64)
    assert mf._sample_block(40, 7) == 9
    net, x, y = _problem(7, d=3)
    velocity, loss = mean_field_velocity(net.particles.detach(), x, y)
    ref, ref_loss = autograd_velocity(net.particles.detach(), x, y)
    assert torch.allclose(velocity, ref, rtol=0, atol=VELOCITY_TOL)
    assert abs(float(loss - ref_loss)) <= VELOCITY_TOL
    # m larger than the block: one sample per block.
    monkeypatch.setattr(mf, "_BLOCK_ENTRIES", 3)
    velocity, _ = mean_field_velocity(net.particles.detach(), x, y)
    assert torch.allclose(velocity, ref, rtol=0, atol=VELOCITY_TOL)


def test_float32_closed_form_matches_float64_autograd() -> None:
    # The speed comparison runs in float32: the closed form must be as accurate there.
    net, x, y = _problem(2000, d=5, n=256)
    ref, _ = autograd_velocity(net.particles.detach(), x, y)
    fast, _ = mean_field_velocity(net.particles.detach().float(), x.float(), y.float())
    assert float((fast.double() - ref).abs().max()) <= 1e-5 * float(ref.abs().max())
