"""sklearn 8×8 digits: scaling to [0, 1], stratified split, subsets, determinism, bad input."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError
from structdl.data import digits_split, load_digits


def test_all_digits_scaled_to_unit_interval() -> None:
    x, y = load_digits()
    assert x.shape == (1797, 64) and y.shape == (1797,)
    assert x.min() == 0.0 and x.max() == 1.0
    assert set(y.unique().tolist()) == set(range(10))
    images, _ = load_digits(flatten=False, dtype=torch.float64)
    assert images.shape == (1797, 1, 8, 8) and images.dtype == torch.float64


def test_split_is_stratified_and_deterministic() -> None:
    a = digits_split(test_fraction=0.2, seed=4, n_per_class=30)
    b = digits_split(test_fraction=0.2, seed=4, n_per_class=30)
    c = digits_split(test_fraction=0.2, seed=5, n_per_class=30)
    assert a.x_train.shape == (240, 64) and a.x_test.shape == (60, 64)
    assert a.y_test.bincount().tolist() == [6] * 10
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"test_fraction": 0.0}, "out of range"),
        ({"n_per_class": 1}, "n_per_class must be an integer ≥ 2"),
        ({"dtype": torch.float16}, "unsupported dtype"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        digits_split(**kwargs)
