"""learned-hamiltonian: smoke run; the learned Verlet map is symplectic, the RK4 one is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from structdl import ConfigError
from structdl.experiments import NullProgress
from structdl.experiments.learned_hamiltonian import Config, run


def test_smoke_run_writes_figure_table_and_checks(tmp_path: Path) -> None:
    config = Config(
        n_train=2, train_steps=6, horizon=2, width=4, epochs=3, n_test=2, rollout_steps=20
    )
    result = run(config, tmp_path, NullProgress())
    assert result.figures == ["rollouts.png"]
    assert (tmp_path / "rollouts.png").stat().st_size > 1000
    assert len(result.tables["rollouts"]) == 4
    for system in ("pendulum", "mass_spring"):
        assert result.checks[f"symplectic/learned-verlet/{system}"]["ok"]
        control = result.checks[f"negative-control/learned-mlp-rk4/{system}"]
        assert control["ok"] and control["worst"] > 1e-8


def test_bad_config_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="horizon"):
        run(Config(train_steps=4, horizon=4), tmp_path, NullProgress())


def test_presets_are_valid() -> None:
    Config.quick().validate()
    full = Config.full()
    full.validate()
    assert full.rollout_steps > Config.quick().rollout_steps
