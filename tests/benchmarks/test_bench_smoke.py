"""Smoke test of the benchmark harness (``benchmarks/_common.py``).

No timing assertions: the machine is shared and noisy. We check the bookkeeping that every
benchmark relies on — interleaving order, the ratio of each round, the summary statistics and
the JSON output — on trivial functions.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
from pathlib import Path

import pytest

_COMMON = Path(__file__).resolve().parents[2] / "benchmarks" / "_common.py"


@pytest.fixture(scope="module")
def common():
    spec = importlib.util.spec_from_file_location("_bench_common", _COMMON)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


def test_interleaved_ratio_bookkeeping(common):
    calls = []
    result = common.interleaved_ratio(
        lambda: calls.append("a"),
        lambda: calls.append("b"),
        rounds=4,
        warmup=1,
        inner=2,
        label_a="ours",
        label_b="theirs",
    )
    # Warm-up a, b; then rounds alternate A-B, B-A, A-B, B-A with `inner` calls per side.
    expected = ["a", "b"] + ["a", "a", "b", "b", "b", "b", "a", "a"] * 2
    assert calls == expected
    assert (result.label_a, result.label_b, result.inner) == ("ours", "theirs", 2)
    assert len(result.seconds_a) == len(result.seconds_b) == len(result.ratios) == 4
    for t_a, t_b, ratio in zip(result.seconds_a, result.seconds_b, result.ratios, strict=True):
        assert t_a > 0 and t_b > 0
        assert ratio == pytest.approx(t_a / t_b)
    assert result.median == pytest.approx(statistics.median(result.ratios))
    assert result.min == min(result.ratios) <= result.median <= result.max


def test_ratio_orders_a_slower_side_above_one(common):
    # A does strictly more of the same work than B; the ratio must say so in most rounds.
    # (Not a timing assertion on absolute figures: a 50x work difference survives any load.)
    def work(n):
        return lambda: sum(range(n))

    result = common.interleaved_ratio(work(50_000), work(1_000), rounds=5, warmup=1, inner=3)
    assert result.median > 1.0


def test_calibration_reaches_the_window(common):
    inner = common.calibrate_inner(lambda: sum(range(1000)), min_seconds=1e-3)
    assert inner >= 1 and inner & (inner - 1) == 0  # a power of two


def test_summarise_and_rejects_bad_input(common):
    assert common.summarise([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0}
    with pytest.raises(ValueError, match="at least one ratio"):
        common.summarise([])
    with pytest.raises(ValueError, match="rounds must be a positive integer"):
        common.interleaved_ratio(lambda: None, lambda: None, rounds=0)


def test_write_result_and_environment(common, tmp_path):
    env = common.environment(["torch", "surely-not-installed-peer"], threads=1, dtype="float32")
    assert env["torch_num_threads"] == 1 and env["dtype"] == "float32"
    assert env["peers"]["surely-not-installed-peer"] is None
    assert env["peers"]["torch"] is not None
    result = common.interleaved_ratio(lambda: None, lambda: None, rounds=2, warmup=0, inner=1)
    path = common.write_result("smoke", {"env": env, "r": result.as_dict()}, tmp_path)
    data = json.loads(path.read_text())
    assert path.name == "smoke.json" and not (tmp_path / "smoke.json.tmp").exists()
    assert data["r"]["ratios"] == result.ratios
    assert set(data["r"]) >= {"median", "min", "seconds_a", "seconds_b", "median_seconds_a"}


def test_three_sides_rotate_and_ratios_pair_up(common):
    calls = []
    sides = {label: (lambda label=label: calls.append(label)) for label in "xyz"}
    times = common.interleaved_times(sides, rounds=3, warmup=0, inner=1)
    assert calls == list("xyz") + list("yzx") + list("zxy")  # each side leads once
    assert times["order"] == [list("xyz"), list("yzx"), list("zxy")]
    ratio = common.ratio_from_times(times, "x", "z")
    expected = [a / b for a, b in zip(times["seconds"]["x"], times["seconds"]["z"], strict=True)]
    assert ratio.ratios == pytest.approx(expected)
    with pytest.raises(ValueError, match="at least two sides"):
        common.interleaved_times({"x": lambda: None}, rounds=1)
