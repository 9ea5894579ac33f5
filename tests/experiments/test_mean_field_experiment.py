"""mean-field: a smoke run produces its tables, figures and honest checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from structdl import ConfigError
from structdl.experiments import NullProgress, get
from structdl.experiments.mean_field import Config, run


def test_registered_and_presets_validate() -> None:
    assert get("mean-field").config is Config
    Config.quick().validate()
    Config.full().validate()
    with pytest.raises(ConfigError, match="widths"):
        Config(widths=(0,)).validate()
    with pytest.raises(ConfigError, match="toy_h"):
        Config(toy_h=-1.0).validate()


def test_smoke_run(tmp_path: Path) -> None:
    config = Config(
        widths=(50, 1000, 8000),
        samples=32,
        steps=30,
        toy_particles=50,
        toy_samples=10,
        toy_steps=60,
        timing_particles=500,
        timing_samples=32,
        timing_rounds=2,
    )
    result = run(config, tmp_path, NullProgress())
    for name in ("loss_curves.png", "measures.png", "toy_2d.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert result.checks["dissipation/toy"]["ok"]
    assert result.checks["negative-control/toy-large-step"]["ok"]
    assert 0 <= result.metrics["width/max_dlogL_1000_8000"] < 1.0
    assert result.metrics["timing/speedup_median"] > 0


def test_autograd_baseline_takes_the_same_step_as_particle_descent() -> None:
    # The speed baseline does the same work: one SGD step at lr h·m = one particle step.
    import torch

    from structdl.experiments.mean_field import AutogradTwoLayer
    from structdl.optim.mean_field import MeanFieldNetwork, ParticleGradientDescent

    gen = torch.Generator().manual_seed(0)
    net = MeanFieldNetwork(3, 40, generator=gen, dtype=torch.float64)
    x = torch.randn(25, 3, generator=gen, dtype=torch.float64)
    y = torch.sin(x.sum(1))
    for linear in (False, True):
        model = AutogradTwoLayer(net.particles.detach(), linear=linear)
        sgd = torch.optim.SGD(model.parameters(), lr=0.3 * 40)
        sgd.zero_grad()
        (0.5 * ((model(x) - y) ** 2).mean()).backward()
        sgd.step()
        twin = MeanFieldNetwork.from_particles(net.particles.detach().clone())
        ParticleGradientDescent(twin, h=0.3).step(x, y)
        after = torch.cat([model.a[:, None], model.w, model.b[:, None]], dim=1)
        assert torch.allclose(after, twin.particles, rtol=0, atol=1e-12)
