"""conformal-optimisers: a smoke run produces its table, figure and honest checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from structdl import ConfigError
from structdl.experiments import NullProgress, get
from structdl.experiments.conformal_optimisers import Config, run


def test_registered_and_presets_validate() -> None:
    assert get("conformal-optimisers").config is Config
    Config.quick().validate()
    Config.full().validate()
    with pytest.raises(ConfigError, match="problem"):
        Config(problems=("himmelblau",)).validate()


def test_smoke_run(tmp_path: Path) -> None:
    config = Config(problems=("quadratic", "quartic"), max_iters=300, lr_grid=2, momentum_grid=2)
    result = run(config, tmp_path, NullProgress())
    assert (tmp_path / "convergence.png").stat().st_size > 1000
    assert len(result.tables["iterations"]) == 2 * 4
    for method in ("heavy_ball", "rgd", "hamiltonian_descent"):
        assert result.checks[f"conformal/{method}"]["ok"]
        assert result.checks[f"conformal/{method}"]["worst"] < 1e-12
    control = result.checks["negative-control/nesterov"]
    assert control["ok"] and control["worst"] > 1e-3
    assert result.metrics["quadratic/heavy_ball/iterations"] is not None
