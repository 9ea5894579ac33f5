"""iresnet-inverse: a small run measures iterations and estimator bias with honest checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from structdl import ConfigError
from structdl.experiments import NullProgress, get
from structdl.experiments.iresnet_inverse import Config, run


def test_registered_with_presets() -> None:
    assert get("iresnet-inverse").config is Config
    assert Config.quick().n_draws >= 10_000
    with pytest.raises(ConfigError, match="Lip"):
        Config(coefficients=(1.2,)).validate()


def test_smoke_run(tmp_path: Path) -> None:
    config = Config(dims=(2,), coefficients=(0.5, 0.9), batch=8, n_draws=200, n_hutchinson_draws=50)
    result = run(config, tmp_path, NullProgress())
    assert set(result.figures) == {"inverse_convergence.png", "logdet_estimators.png"}
    for name in result.figures:
        assert (tmp_path / name).stat().st_size > 1000
    assert [name for name, check in result.checks.items() if not check["ok"]] == []
    assert any(name.startswith("negative-control/") for name in result.checks)
    m = result.metrics
    # Newton needs far fewer iterations than the fixed point on the aligned worst case.
    assert m["d2/c0.9/aligned/newton/iterations"] <= 8
    assert m["d2/c0.9/aligned/fixed_point/iterations"] >= 50
    assert all(row["library_agreement"] < 1e-12 for row in result.tables["logdet_estimators"])
