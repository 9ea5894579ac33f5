"""Independent units of an experiment: the same outcomes in order here and in worker processes."""

from __future__ import annotations

import math

import pytest
import torch

from structdl._errors import ConfigError
from structdl.experiments import equivariant_reconstruction as er
from structdl.experiments import rotated_digits as rd
from structdl.experiments._registry import NullProgress
from structdl.experiments.units import current_unit_workers, map_units, unit_workers
from structdl.tomography import RadonTransform


def test_one_worker_is_a_plain_loop_and_reports_each_unit_in_order():
    done = []
    assert map_units(math.factorial, [3, 0, 5], on_done=done.append) == [6, 1, 120]
    assert done == [0, 1, 2] and current_unit_workers() == 1


def test_workers_return_the_outcomes_in_the_order_of_the_units():
    done = []
    with unit_workers(2):
        assert current_unit_workers() == 2
        outcomes = map_units(math.factorial, [7, 1, 4, 2], on_done=done.append)
    assert outcomes == [5040, 1, 24, 2] and sorted(done) == [0, 1, 2, 3]
    assert current_unit_workers() == 1  # the block restores the previous setting


def test_a_failing_unit_raises_in_the_experiment_and_stops_the_pool():
    with unit_workers(2), pytest.raises(ValueError, match="negative"):
        map_units(math.factorial, [3, -1, 4])


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_a_bad_worker_count_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="workers must be an integer ≥ 1"), unit_workers(bad):
        pass


def test_rotated_digits_trains_the_same_models_bit_for_bit_in_workers():
    config = rd.Config(
        n_seeds=1, train_sizes=(20,), cnn_channels=13, steps=3, n_test=40, equivariance_seeds=1
    )
    torch.set_num_threads(1)  # as start_run pins it for the loop
    rows, trained, _ = rd._train_all(config, NullProgress())
    with unit_workers(2):
        rows_2, trained_2, _ = rd._train_all(config, NullProgress())
    assert rows == rows_2
    for name, model in trained.items():
        for key, value in model.state_dict().items():
            assert torch.equal(value, trained_2[name].state_dict()[key]), (name, key)


@pytest.mark.slow  # two more spawned workers that import torch
def test_equivariant_reconstruction_trains_the_same_models_bit_for_bit_in_workers():
    config = er.Config(
        n_seeds=1,
        image_size=16,
        n_angles=8,
        iterations=2,
        width=8,
        train_sizes=(2,),
        group_orders=(4,),
        n_test=3,
        steps=4,
    )
    torch.set_num_threads(1)
    n = config.image_size
    op = RadonTransform(n, config.n_angles, half_width=config.half_width)
    fine = RadonTransform(2 * n, config.n_angles, op.n_detectors, half_width=config.half_width)
    test_truth, test_data = er._simulate(config, config.n_test, 10_000, 10_001, fine)
    plan = er._plan(config)
    args = (config, op, fine, plan, test_truth, test_data, NullProgress())
    rows, models = er._train_all(*args)
    with unit_workers(2):
        rows_2, models_2 = er._train_all(*args)
    assert rows == rows_2 and models.keys() == models_2.keys()
    for key, model in models.items():
        for name, value in model.state_dict().items():
            assert torch.equal(value, models_2[key].state_dict()[name]), (key, name)
