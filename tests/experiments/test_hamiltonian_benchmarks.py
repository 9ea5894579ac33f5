"""hamiltonian-benchmarks: a tiny run; every learned map symplectic, the MLP's RK4 map not."""

from __future__ import annotations

from pathlib import Path

import pytest

from structdl import ConfigError
from structdl.experiments import NullProgress
from structdl.experiments.hamiltonian_benchmarks import Config, answer, run


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
    assert "long_time/henon_heiles/energy_trend" in result.metrics
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
