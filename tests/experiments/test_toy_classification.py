"""toy-classification: smoke run, symplectic check with negative control, the accuracy bar."""

from __future__ import annotations

from pathlib import Path

import pytest

from structdl import ConfigError
from structdl.experiments import NullProgress
from structdl.experiments.toy_classification import BAR_DATASETS, BAR_MODELS, Config, run


def test_smoke_run_writes_figures_table_and_checks(tmp_path: Path) -> None:
    config = Config(datasets=("moons",), depths=(2,), bar_depth=2, epochs=15, n_points=64)
    result = run(config, tmp_path, NullProgress())
    assert len(result.figures) == 3
    for name in result.figures:
        assert (tmp_path / name).stat().st_size > 1000
    rows = result.tables["accuracy"]
    assert {row["model"] for row in rows} == {"resnet", "hamiltonian", "antisymmetric", "gradient"}
    assert all(0.0 <= row["test_accuracy"] <= 1.0 for row in rows)
    assert result.checks["symplectic/hamiltonian/moons"]["ok"]
    assert result.checks["negative-control/resnet/moons"]["ok"]
    assert result.checks["negative-control/resnet/moons"]["worst"] > 1e-6


def test_bad_config_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bar_depth"):
        run(Config(depths=(4,), bar_depth=8), tmp_path, NullProgress())
    with pytest.raises(ConfigError, match="unknown data set"):
        run(Config(datasets=("checkerboard",)), tmp_path, NullProgress())


@pytest.mark.slow
def test_quick_preset_meets_the_accuracy_bar(tmp_path: Path) -> None:
    # The bar of the issue: Hamiltonian and gradient-flow networks reach ≥ 98 % test accuracy on
    # two spirals and rings with the quick preset's settings (depth = bar_depth).
    quick = Config.quick()
    config = Config(
        datasets=BAR_DATASETS,
        models=BAR_MODELS,
        depths=(quick.bar_depth,),
        bar_depth=quick.bar_depth,
    )
    result = run(config, tmp_path, NullProgress())
    accuracies = {
        (row["dataset"], row["model"]): row["test_accuracy"] for row in result.tables["accuracy"]
    }
    assert min(accuracies.values()) >= 0.98, accuracies
    assert result.metrics["bar/met"] is True


def test_presets_are_valid_and_quick_covers_the_bar() -> None:
    quick, full = Config.quick(), Config.full()
    quick.validate()
    full.validate()
    assert set(BAR_DATASETS) <= set(quick.datasets) and quick.bar_depth in quick.depths
    assert len(full.datasets) == 4 and max(full.depths) > max(quick.depths)
