"""flows-2d: smoke run; every trained flow passes its structure checks; bad configs raise."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from structdl import ConfigError
from structdl.experiments import NullProgress
from structdl.experiments._density2d import DENSITY_SETS, sample_density_set
from structdl.experiments.flows_2d import Config, answer, run


def test_smoke_run_writes_figure_table_and_checks(tmp_path: Path) -> None:
    config = Config(
        sets=("moons", "checkerboard"),
        hidden=8,
        layers=1,
        cnf_steps=2,
        steps=3,
        batch=32,
        n_test=64,
        n_samples=64,
        n_check=4,
    )
    result = run(config, tmp_path, NullProgress())
    assert result.figures == ["samples.png"]
    assert (tmp_path / "samples.png").stat().st_size > 1000
    assert len(result.tables["test_nll"]) == 2 * 4
    for kind in ("affine", "spline", "cnf", "residual"):
        for name in config.sets:
            assert result.checks[f"inverse/{kind}/{name}"]["ok"]
            assert result.checks[f"logdet/{kind}/{name}"]["ok"]
    control = result.checks["negative-control/volume/affine/moons"]
    assert control["ok"] and control["worst"] > 1e-6
    verdict, text, _ = answer(result.metrics)
    assert verdict == "yes" and "nats" in text


@pytest.mark.parametrize("name", DENSITY_SETS)
def test_density_sets_are_seeded_and_bounded(name: str) -> None:
    a = sample_density_set(name, 500, seed=3)
    assert a.shape == (500, 2) and torch.equal(a, sample_density_set(name, 500, seed=3))
    assert a.abs().max() < 5


def test_bad_config_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="density set"):
        run(Config(sets=("swirl",)), tmp_path, NullProgress())
    with pytest.raises(ConfigError, match="steps"):
        run(Config(steps=0), tmp_path, NullProgress())


def test_presets_are_valid() -> None:
    Config.quick().validate()
    assert Config.full().steps > Config.quick().steps
