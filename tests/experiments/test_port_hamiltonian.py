"""port-hamiltonian: a smoke run produces its tables, figure and honest checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from structdl import ConfigError
from structdl.experiments import NullProgress, get
from structdl.experiments.port_hamiltonian import Config, run


def test_registered_and_presets_validate() -> None:
    assert get("port-hamiltonian").config is Config
    Config.quick().validate()
    Config.full().validate()
    with pytest.raises(ConfigError, match="sweep_multiples"):
        Config(sweep_multiples=(-1.0,)).validate()


def test_smoke_run(tmp_path: Path) -> None:
    config = Config(steps=20, sweep_steps=15, sweep_samples=64, timing_rounds=2)
    result = run(config, tmp_path, NullProgress())
    assert (tmp_path / "energy.png").stat().st_size > 1000
    assert result.checks["energy-balance/minibatch"]["ok"]
    assert result.checks["energy-balance/minibatch"]["worst"] <= 1e-10
    for multiple in ("1", "3", "10"):
        assert result.checks[f"passivity/ours/{multiple}x"]["ok"]
        assert result.metrics[f"sweep/{multiple}x/ours_H_increases"] == 0
    assert result.metrics["timing/median_ratio"] > 0
