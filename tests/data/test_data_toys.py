"""Toy data sets and the stratified split: shapes, balance, determinism by seed, bad input."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError, ShapeError
from structdl.data import TOY_DATASETS, make_toy, stratified_split, toy_split


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_shapes_balance_and_dtype(name: str) -> None:
    x, y = make_toy(name, 101, seed=3, dtype=torch.float64)
    assert x.shape == (101, 2) and x.dtype == torch.float64
    assert y.shape == (101,) and y.dtype == torch.long
    assert y.bincount().tolist() == [50, 51]
    assert torch.isfinite(x).all() and x.abs().max() < 1.6


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_same_seed_same_data_other_seed_other_data(name: str) -> None:
    x1, y1 = make_toy(name, 64, seed=5)
    x2, y2 = make_toy(name, 64, seed=5)
    x3, _ = make_toy(name, 64, seed=6)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.allclose(x1, x3)


def test_rings_lie_at_their_radii_without_noise() -> None:
    x, y = make_toy("rings", 200, noise=0.0, dtype=torch.float64)
    radius = x.norm(dim=1)
    torch.testing.assert_close(radius, 0.5 * (1 + y.double()), rtol=0, atol=1e-12)


def test_spirals_are_point_reflections_of_each_other_without_noise() -> None:
    x, y = make_toy("spirals", 400, noise=0.0, dtype=torch.float64)
    # Class 1 is class 0 rotated by π: both have the same radius profile r = θ/θ_max ∈ [r0, 1].
    for label in (0, 1):
        r = x[y == label].norm(dim=1)
        assert r.max() <= 1.0 + 1e-12 and r.min() >= (0.5 / 3.5) - 1e-12


def test_split_is_stratified_and_disjoint() -> None:
    split = toy_split("moons", 200, test_fraction=0.25, seed=1)
    assert split.x_train.shape == (150, 2) and split.x_test.shape == (50, 2)
    assert split.y_test.bincount().tolist() == [25, 25]
    assert split.n_classes == 2
    train_rows = {tuple(row.tolist()) for row in split.x_train}
    assert not any(tuple(row.tolist()) in train_rows for row in split.x_test)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "squares"}, "unknown toy data set"),
        ({"name": "rings", "n": 2}, "n must be an integer ≥ 4"),
        ({"name": "rings", "n": 10.5}, "must be an integer"),
        ({"name": "rings", "noise": -0.1}, "negative"),
        ({"name": "rings", "noise": float("nan")}, "finite"),
        ({"name": "spirals", "turns": 0.0}, "positive"),
        ({"name": "rings", "seed": -1}, "seed must be an integer ≥ 0"),
        ({"name": "rings", "dtype": torch.int64}, "unsupported dtype"),
        ({"name": "moons", "turns": 2.0}, "invalid option"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs: dict, match: str) -> None:
    name = kwargs.pop("name")
    n = kwargs.pop("n", 32)
    with pytest.raises(ConfigError, match=match):
        make_toy(name, n, **kwargs)


def test_split_rejects_bad_fraction_and_shapes() -> None:
    x, y = make_toy("rings", 20)
    with pytest.raises(ConfigError, match="out of range"):
        stratified_split(x, y, test_fraction=1.0)
    with pytest.raises(ShapeError, match="one label per row"):
        stratified_split(x, y[:-1])
    with pytest.raises(ShapeError, match="integer"):
        stratified_split(x, y.double())
