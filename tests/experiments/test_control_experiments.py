"""Smoke runs of the control experiments: pmp-costates, msa-training, deep-limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from structdl import ConfigError
from structdl.experiments import NullProgress, deep_limits, get, msa_training, pmp_costates


def test_registered_with_presets() -> None:
    assert get("pmp-costates").config is pmp_costates.Config
    assert get("msa-training").config is msa_training.Config
    assert get("deep-limits").config is deep_limits.Config
    assert msa_training.Config.full().iterations == 500
    with pytest.raises(ConfigError, match="double"):
        deep_limits.Config(depths=(4, 12)).validate()


def test_pmp_costates_smoke(tmp_path: Path) -> None:
    config = pmp_costates.Config(depths=(3,), batch=4, epochs=3, n_points=32)
    result = pmp_costates.run(config, tmp_path, NullProgress())
    assert (tmp_path / result.figures[0]).stat().st_size > 1000
    assert result.metrics["costate_bar_1e-10_met"]
    assert [name for name, check in result.checks.items() if not check["ok"]] == []
    assert any(name.startswith("negative-control/") for name in result.checks)


def test_msa_training_smoke(tmp_path: Path) -> None:
    config = msa_training.Config(iterations=12, layers=4, digits_epochs=1, hidden=16)
    result = msa_training.run(config, tmp_path, NullProgress())
    assert (tmp_path / result.figures[0]).stat().st_size > 1000
    assert result.metrics["digits"]["all_weights_ternary"]
    assert {row["method"] for row in result.tables["sin_regression"]} == {"emsa", "adam", "sgd"}


def test_deep_limits_smoke(tmp_path: Path) -> None:
    config = deep_limits.Config(depths=(4, 8), epochs=5, level_epochs=(2, 1, 1, 1))
    result = deep_limits.run(config, tmp_path, NullProgress())
    assert (tmp_path / result.figures[0]).stat().st_size > 1000
    assert len(result.tables["level_distances"]) == 1
    assert result.tables["multilevel"][0]["multilevel_epochs"] == 5
