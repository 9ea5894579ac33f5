"""reversible-memory: a small run shows flat memory, equal gradients and equal BN statistics."""

from __future__ import annotations

from pathlib import Path

import pytest

from structdl import ConfigError
from structdl.experiments import NullProgress, get
from structdl.experiments.reversible_memory import Config, run


def test_registered_with_presets() -> None:
    assert get("reversible-memory").config is Config
    assert Config.quick().memory_depths[0] == 8 and Config.quick().memory_depths[-1] == 512
    with pytest.raises(ConfigError, match="even"):
        Config(width=7).validate()


def test_smoke_run(tmp_path: Path) -> None:
    config = Config(
        width=16,
        batch=32,
        memory_depths=(2, 8),
        time_depths=(4,),
        rounds=1,
        conv_channels=4,
        conv_size=8,
        conv_batch=4,
        conv_depth=2,
        conv_steps=2,
        ode_depth=64,
        ode_dim=2,
        grad_depths=(4,),
        drift_thresholds=(1e-9,),
    )
    result = run(config, tmp_path, NullProgress())
    assert set(result.figures) == {"memory.png", "time.png"}
    assert [name for name, check in result.checks.items() if not check["ok"]] == []
    m = result.metrics
    assert m["reversible/MiB_per_layer"] == 0.0
    assert m["plain/MiB_per_layer"] > 0.0
    assert m["grad_rel_error/float64/depth4"] <= 1e-12
    # Fixed-point blocks: bit-exact round trips, gradients of plain backprop, BN equal.
    assert m["round_trip_max_abs/float32/depth4/fixed16"] == 0.0
    assert m["round_trip_max_abs/float32/depth8/fixed16"] == 0.0
    assert m["grad_rel_error/float32/depth4/fixed16"] <= 1e-6
    assert m["fixed16/bn_stats_max_diff"] <= 1e-6
    assert m["reversible_fixed/MiB_per_layer"] == 0.0
    assert m["bn_stats_max_diff"] <= 1e-5
    assert m["ode_grad_rel_error"] <= 1e-10
    assert m["ode_memory_ratio"] <= 1 / 50
