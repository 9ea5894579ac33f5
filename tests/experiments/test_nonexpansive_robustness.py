"""nonexpansive-robustness: the step-size bound is sharp; certificates are sound."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from structdl import ConfigError
from structdl.experiments import NullProgress
from structdl.experiments.nonexpansive_robustness import (
    ACTIVATIONS,
    Config,
    certified_radius,
    pgd_l2,
    run,
)


def test_smoke_run_bound_is_sharp_for_every_activation(tmp_path: Path) -> None:
    config = Config(
        n_pairs=32,
        ascent_steps=20,
        depth=2,
        epochs=5,
        n_attack=20,
        pgd_steps=2,
        epsilons=(0.0, 0.5),
    )
    result = run(config, tmp_path, NullProgress())
    assert result.figures == ["accuracy_vs_eps.png"]
    assert (tmp_path / "accuracy_vs_eps.png").stat().st_size > 1000
    for activation in ACTIVATIONS:
        at_bound = result.checks[f"nonexpansive/euler-h=2/(L|A|^2)/{activation}"]
        beyond = result.checks[f"negative-control/euler-h=3/(L|A|^2)/{activation}"]
        assert at_bound["ok"] and at_bound["worst"] <= 1.0 + 1e-6
        assert beyond["ok"] and beyond["worst"] > 1.0 + 1e-3
    assert result.checks["certificate-sound/nonexpansive-and-resnet"]["ok"]
    assert result.checks["nonexpansive/digits-network"]["ok"]
    assert result.metrics["digits/nonexpansive/lipschitz_bound"] > 0


def test_certified_radius_is_margin_over_sqrt2_lipschitz() -> None:
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    radius = certified_radius(logits, torch.tensor([0, 0]), lipschitz=2.0)
    torch.testing.assert_close(radius, torch.tensor([2.0, -2.0]) / (2.0 * math.sqrt(2.0)))


def test_pgd_stays_in_the_ball_and_the_box() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 3)
    x = torch.rand(7, 5)
    y = torch.randint(0, 3, (7,))
    adversarial = pgd_l2(model, x, y, eps=0.3, steps=5)
    assert ((adversarial - x).norm(dim=1) <= 0.3 + 1e-6).all()
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    # The attack increases the loss of a linear model.
    loss = torch.nn.functional.cross_entropy
    assert loss(model(adversarial), y) > loss(model(x), y)


def test_bad_config_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neurons must not exceed dim"):
        run(Config(dim=3, neurons=5), tmp_path, NullProgress())


def test_presets_are_valid() -> None:
    Config.quick().validate()
    full = Config.full()
    full.validate()
    assert full.pgd_steps > Config.quick().pgd_steps
