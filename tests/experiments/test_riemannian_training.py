"""riemannian-training: a smoke run produces its table, figure and honest checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from structdl import ConfigError
from structdl.experiments import NullProgress, get
from structdl.experiments.riemannian_training import Config, run


def test_registered_and_presets_validate() -> None:
    assert get("riemannian-training").config is Config
    Config.quick().validate()
    Config.full().validate()
    with pytest.raises(ConfigError, match="model"):
        Config(models=("unitary",)).validate()


def test_smoke_run(tmp_path: Path) -> None:
    config = Config(steps=20, hidden=8, batch=16, copy_delay=3, log_every=10)
    result = run(config, tmp_path, NullProgress())
    assert (tmp_path / "drift.png").stat().st_size > 1000
    assert len(result.tables["training"]) == 2 * 6
    for task in ("copy", "digits"):
        for model in ("riemannian-qr", "riemannian-cayley", "parametrize"):
            assert result.checks[f"on-manifold/{model}/{task}"]["ok"]
        control = result.checks[f"negative-control/free/{task}"]
        assert control["ok"] and control["worst"] > 1e-3
    assert 0.0 <= result.metrics["digits/riemannian-qr/test_accuracy"] <= 1.0
