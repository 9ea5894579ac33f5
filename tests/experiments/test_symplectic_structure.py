"""symplectic-structure: a smoke run produces its figures, table and honest checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from structdl import ConfigError
from structdl.experiments import NullProgress, get
from structdl.experiments.symplectic_structure import Config, run


def test_presets_meet_the_step_counts() -> None:
    assert Config.quick().n_steps >= 2000
    assert Config.full().n_steps == 10_000
    assert get("symplectic-structure").config is Config


def test_smoke_run_writes_figures_and_checks_behave_as_theory_says(tmp_path: Path) -> None:
    config = Config(n_steps=40, n_points=2, order_levels=3, systems=("pendulum", "henon_heiles"))
    result = run(config, tmp_path, NullProgress())
    for name in result.figures:
        assert (tmp_path / name).stat().st_size > 1000
    assert set(result.figures) == {"energy_error.png", "order.png"}
    assert len(result.tables["integrators"]) == 2 * 6
    for system in config.systems:
        for method in ("symplectic_euler", "verlet", "implicit_midpoint"):
            assert result.checks[f"symplectic/{method}/{system}"]["ok"]
            assert result.checks[f"symplectic/{method}/{system}"]["worst"] < 1e-9
        for method in ("euler", "rk4"):
            control = result.checks[f"negative-control/{method}/{system}"]
            # ok = the symplecticity check correctly failed, so the defect is well above 1e-10.
            assert control["ok"] and control["worst"] > 1e-10
        assert result.checks[f"energy/avf/{system}"]["ok"]
    failed = [name for name, check in result.checks.items() if not check["ok"]]
    assert failed == []
    # Euler's energy error drifts far above Störmer–Verlet's.
    m = result.metrics
    assert m["pendulum/euler/max_energy_error"] > 10 * m["pendulum/verlet/max_energy_error"]


def test_bad_config_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown method"):
        run(Config(methods=("leapfrog",)), tmp_path, NullProgress())
    with pytest.raises(ConfigError, match="n_steps"):
        run(Config(n_steps=3), tmp_path, NullProgress())
