"""digits-density: smoke run; bits/dim accounting; trained flows pass their structure checks."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from structdl import ConfigError
from structdl.experiments import NullProgress
from structdl.experiments.digits_density import Config, answer, bits_per_dim, run


def test_smoke_run_writes_figure_table_and_checks(tmp_path: Path) -> None:
    config = Config(hidden=4, flow_steps=1, steps=2, batch=16, n_samples=10)
    result = run(config, tmp_path, NullProgress())
    assert result.figures == ["samples.png"]
    assert (tmp_path / "samples.png").stat().st_size > 1000
    assert [row["model"] for row in result.tables["bits_per_dim"]] == list(config.models)
    for kind in config.models:
        assert result.checks[f"inverse/{kind}"]["ok"]
        assert result.checks[f"logdet/{kind}"]["ok"]
        assert math.isfinite(result.metrics[f"{kind}/test_bpd"])
    assert result.checks["negative-control/volume/multiscale"]["ok"]
    assert answer(result.metrics)[0] in ("yes", "partly")


def test_uniform_density_has_log2_17_bits_per_dimension() -> None:
    assert torch.allclose(bits_per_dim(torch.zeros(3)), torch.full((3,), math.log2(17)))


def test_bad_config_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model"):
        run(Config(models=("glow",)), tmp_path, NullProgress())
    with pytest.raises(ConfigError, match="temperature"):
        run(Config(temperature=0.0), tmp_path, NullProgress())


def test_presets_are_valid() -> None:
    Config.quick().validate()
    assert Config.full().steps > Config.quick().steps
