"""hamiltonian-benchmarks: a tiny run; every learned map symplectic, the MLP's RK4 map not."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from structdl import ConfigError
from structdl.experiments import NullProgress
from structdl.experiments.hamiltonian_benchmarks import Config, _drift, _has_trend, answer, run


def test_smoke_run_writes_figure_tables_metrics_and_checks(tmp_path: Path) -> None:
    config = Config(
        tasks=("pendulum",),
        width=8,
        oscillator_steps=4,
        orbit_steps=4,
        orbits=10,
        energy_trials=2,
        sympnet_iterations=4,
        rollout_steps=12,
        long_steps=12,
        henon_trajectories=2,
        henon_iterations=4,
    )
    result = run(config, tmp_path, NullProgress())
    assert result.figures == ["hamiltonian.png"]
    assert (tmp_path / "hamiltonian.png").stat().st_size > 1000
    assert len(result.tables["hnn_suite"]) == 3
    for task in ("pendulum",):
        for model in ("ours", "hnn", "mlp"):
            assert result.metrics[f"hnn/{task}/{model}/energy_mse"] >= 0.0
        assert result.checks[f"symplectic/hnn-suite/{task}/ours"]["ok"]
        assert result.checks[f"symplectic/hnn-suite/{task}/hnn"]["ok"]
        control = result.checks[f"negative-control/hnn-suite/{task}/mlp"]
        assert control["ok"] and control["worst"] > 1e-8
    assert result.checks["symplectic/sympnet-pendulum/g_sympnet-layers"]["worst"] <= 1e-12
    assert result.checks["symplectic/sympnet-pendulum/ours"]["ok"]
    assert "long_time/henon_heiles/energy_drift" in result.metrics
    verdict, text, headline = answer(result.metrics)
    assert verdict in ("yes", "partly") and "pendulum" in text and headline.startswith("bars ")


def test_bad_config_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="task"):
        run(Config(tasks=("four_body",)), tmp_path, NullProgress())
    with pytest.raises(ConfigError, match="lr_decay"):
        Config(lr_decay=0.0).validate()


def test_presets_are_valid() -> None:
    Config.quick().validate()
    full = Config.full()
    full.validate()
    assert full.orbit_steps > Config.quick().orbit_steps


def test_drift_test_passes_a_bounded_oscillation_and_flags_a_ramp() -> None:
    steps = torch.arange(100_000, dtype=torch.float64)
    # Quasi-periodic and bounded, one period (≈ 9400 steps) close to the 10⁴-step horizon.
    bounded = 5e-3 * (1 + torch.sin(steps / 37.0)) + 4e-3 * (1 + torch.sin(steps / 1500.0))
    drift, se = _drift(bounded, blocks=10)
    assert not _has_trend(drift, se)
    ramp = bounded + 3e-3 * steps / 10_000  # negative control: a drift of 3e-3 per horizon
    drift, se = _drift(ramp, blocks=10)
    assert _has_trend(drift, se) and abs(drift - 3e-3) < 5e-4
