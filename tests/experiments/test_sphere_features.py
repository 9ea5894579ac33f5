"""sphere-features: Lie-group layers stay on S² to round-off; a ResNet does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from structdl import ConfigError
from structdl.experiments import NullProgress
from structdl.experiments.sphere_features import Config, run


def test_smoke_run_keeps_lie_features_on_the_sphere(tmp_path: Path) -> None:
    config = Config(n_train=16, n_test=16, depth=2, width=4, epochs=3, check_layers=1000)
    result = run(config, tmp_path, NullProgress())
    assert result.figures == ["sphere_distance.png"]
    assert (tmp_path / "sphere_distance.png").stat().st_size > 1000
    for name in ("lie_euler", "rkmk"):
        check = result.checks[f"on-sphere/{name}-1000 layers"]
        assert check["ok"] and check["worst"] <= 1e-12
        assert result.metrics[f"{name}/max_sphere_distance_hidden_layers"] <= 1e-12
    control = result.checks["negative-control/resnet-1000 layers"]
    assert control["ok"] and control["worst"] > 1e-6


def test_bad_config_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rkmk_order"):
        run(Config(rkmk_order=3), tmp_path, NullProgress())


def test_presets_are_valid() -> None:
    Config.quick().validate()
    full = Config.full()
    full.validate()
    assert full.rkmk_order == 4 and full.check_layers >= 1000
