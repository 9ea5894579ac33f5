"""Each section's answer is derived from the metrics: the saved quick metrics give the
recorded verdicts, and changing a deciding number changes the verdict."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from structdl.experiments import _registry
from structdl.experiments._answers import BUILT_IN_ANSWERS
from structdl.report import VERDICTS, derive_answer

METRICS = json.loads((Path(__file__).parent / "data" / "quick_metrics.json").read_text("utf-8"))
# Verdicts of the quick run of 2026-11-30 (the fixture's source).
RECORDED = {
    "symplectic-structure": "yes",
    "toy-classification": "yes",
    "nonexpansive-robustness": "yes",
    "sphere-features": "yes",
    "learned-hamiltonian": "partly",
    "equivariant-reconstruction": "partly",
    "rotated-digits": "partly",
    "approximate-equivariance": "partly",
}


def test_every_registered_experiment_has_an_answer():
    answers = _registry.answers()
    assert set(answers) >= set(RECORDED)
    assert all(answers[name] is not None for name in RECORDED)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_verdicts_with_numbers_in_the_text(name):
    answer = derive_answer(BUILT_IN_ANSWERS[name], METRICS[name])
    assert answer.problem is None and answer.verdict == RECORDED[name]
    assert sum(ch.isdigit() for ch in answer.text) >= 4 and answer.headline


def _set(metrics: dict, key: str, value) -> dict:
    changed = copy.deepcopy(metrics)
    *path, last = key.split(">")
    target = changed
    for part in path:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[int(last) if isinstance(target, list) else last] = value
    return changed


@pytest.mark.parametrize(
    ("name", "key", "value", "verdict"),
    [
        ("symplectic-structure", "pendulum/verlet/symplecticity_error", 1e-3, "partly"),
        ("symplectic-structure", "kepler/rk4/empirical_order", 2.0, "partly"),
        ("toy-classification", "spirals/hamiltonian/depth8/test_accuracy", 0.5, "no"),
        (
            "nonexpansive-robustness",
            "digits/nonexpansive/empirical_lipschitz_features",
            1.5,
            "partly",
        ),
        ("sphere-features", "rkmk/max_sphere_distance_1000_layers", 1e-3, "yes_if_rmse"),
        ("learned-hamiltonian", "pendulum/hamiltonian/rollout_error_final", 0.1, "yes"),
        ("equivariant-reconstruction", "psnr_gain_c4_over_cnn>1", -0.5, "no"),
        ("rotated-digits", "p4_margin_over_augmented_cnn>200", 0.05, "partly"),
        ("approximate-equivariance", "test_error>relaxed>3", 0.9, "no"),
    ],
)
def test_a_deciding_number_changes_the_verdict(name, key, value, verdict):
    answer = derive_answer(BUILT_IN_ANSWERS[name], _set(METRICS[name], key, value))
    if verdict == "yes_if_rmse":  # off the sphere: only the accuracy half holds
        verdict = "partly"
    assert answer.verdict == verdict


def test_a_broken_answer_never_breaks_the_report():
    assert derive_answer(None, {}).problem.startswith("no answer function")
    assert "not in this run's metrics" in derive_answer(lambda m: m["x"], {}).problem
    assert "raised ZeroDivisionError" in derive_answer(lambda m: 1 / 0, {}).problem
    assert "verdict 'maybe'" in derive_answer(lambda m: ("maybe", "t"), {}).problem
    assert "(verdict, text)" in derive_answer(lambda m: "yes", {}).problem
    assert set(VERDICTS) == {"yes", "no", "partly"}


def test_an_experiment_can_plug_in_its_own_answer(monkeypatch):
    fresh: dict = {}
    monkeypatch.setattr(_registry, "_REGISTRY", fresh)
    monkeypatch.setattr(_registry, "_load_all", lambda: None)
    mine = _registry.Experiment(
        "mine", "Is it?", object, lambda c, o, p: None, answer=lambda m: ("no", "because", "h")
    )
    _registry.register(mine)
    assert derive_answer(_registry.answers()["mine"], {}).verdict == "no"


# Deciding metrics of the quick run of 2026-11-30 for four later experiments, and a change to
# one number that must flip each verdict.
LATER = {
    "pmp-costates": (
        {
            "max_costate_error": 9.7e-17,
            "max_parameter_gradient_error": 2.8e-17,
            "max_symplectic_defect": 1.4e-15,
        },
        "yes",
        ("max_symplectic_defect", 1e-6, "no"),
    ),
    "port-hamiltonian": (
        {
            "minibatch/max_balance_residual": 3.4e-14,
            "sweep/1x/ours_H_increases": 0,
            "sweep/10x/ours_H_increases": 0,
            "timing/median_ratio": 1.87,
        },
        "yes",
        ("sweep/10x/ours_H_increases", 3, "no"),
    ),
    "reversible-memory": (
        {
            "reversible/MiB_per_layer": 0.0,
            "plain/MiB_per_layer": 1.28,
            "depth128/reversible_MiB": 0.5,
            "depth128/plain_MiB": 164.0,
            "grad_rel_error/float32/depth128": 6.6e-5,
            "grad_rel_error/float32/depth128/fixed16": 0.0,
        },
        "yes",
        ("reversible/MiB_per_layer", 0.5, "partly"),
    ),
    "mean-field": (
        {
            "width/max_dlogL_1000_8000": 0.109,
            "toy/reaches_1e-6": True,
            "timing/speedup_median": 0.89,
        },
        "partly",
        ("timing/speedup_median", 6.0, "yes"),
    ),
    "iresnet-inverse": (
        {
            "bar/c0.9/max_newton_iterations": 4,
            "bar/c0.9/max_anderson_iterations": 13,
            "bar/c0.9/max_fixed_point_iterations": 124,
            "bar/roulette_max_abs_z": 1.22,
        },
        "yes",
        ("bar/c0.9/max_newton_iterations", 12, "partly"),
    ),
    "msa-training": (
        {
            "emsa_below_adam_first_10_iterations": True,
            "emsa_over_adam_test_mse": 0.074,
            "emsa_cpu_seconds_per_run": 6.0,
            "digits": {"msa_test_accuracy": 0.904, "all_weights_ternary": True},
            "digits_gap_points": 1.33,
        },
        "partly",
        ("digits_gap_points", 0.5, "yes"),
    ),
    "deep-limits": (
        {
            "distances_decrease_with_K": True,
            "max_relative_gap_multilevel_vs_scratch": -0.022,
            "epoch_ratio": 0.5,
        },
        "yes",
        ("max_relative_gap_multilevel_vs_scratch", 0.05, "partly"),
    ),
    "conformal-optimisers": (
        {
            "quadratic/heavy_ball/iterations": 214,
            "quadratic/nesterov/iterations": 148,
            "quadratic/rgd/iterations": 213,
            "quadratic/hamiltonian_descent/iterations": 214,
            "booth/heavy_ball/iterations": 34,
            "booth/nesterov/iterations": 109,
            "booth/rgd/iterations": 32,
            "booth/hamiltonian_descent/iterations": 34,
        },
        "partly",
        ("quadratic/rgd/iterations", 140, "yes"),
    ),
    "riemannian-training": (
        {
            **{
                f"{task}/{model}/final_drift": 4e-8
                for task in ("copy", "digits")
                for model in ("riemannian-qr", "parametrize")
            },
            "copy/free/final_drift": 0.89,
            "digits/free/final_drift": 1.9,
            "copy/riemannian-qr/final_loss": 0.3502,
            "copy/parametrize/final_loss": 0.3517,
            "copy/free/final_loss": 0.3493,
            "copy/free/memoryless_baseline": 0.3466,
            "digits/riemannian-qr/test_accuracy": 0.918,
            "digits/parametrize/test_accuracy": 0.916,
            "digits/free/test_accuracy": 0.947,
        },
        "partly",
        ("digits/parametrize/final_drift", 1e-3, "no"),
    ),
}


def test_reversible_memory_asks_for_exact_float32_gradients_where_measured():
    metrics, _, _ = LATER["reversible-memory"]
    drifting = {**metrics, "grad_rel_error/float32/depth128/fixed16": 3e-5}
    assert derive_answer(BUILT_IN_ANSWERS["reversible-memory"], drifting).verdict == "partly"
    older = {k: v for k, v in metrics.items() if not k.startswith("grad_rel_error")}
    assert derive_answer(BUILT_IN_ANSWERS["reversible-memory"], older).verdict == "yes"


def test_a_run_that_misses_the_tolerance_counts_as_slower_than_nesterov():
    metrics, _, _ = LATER["conformal-optimisers"]
    missed = {**metrics, "booth/rgd/iterations": None, "booth/heavy_ball/iterations": None}
    missed["booth/hamiltonian_descent/iterations"] = None
    assert derive_answer(BUILT_IN_ANSWERS["conformal-optimisers"], missed).verdict == "no"


@pytest.mark.parametrize("name", sorted(LATER))
def test_later_experiments_answer_and_a_deciding_number_flips_them(name):
    metrics, verdict, (key, value, flipped) = LATER[name]
    answer = derive_answer(BUILT_IN_ANSWERS[name], metrics)
    assert answer.problem is None and answer.verdict == verdict and answer.headline
    assert sum(ch.isdigit() for ch in answer.text) >= 4
    assert derive_answer(BUILT_IN_ANSWERS[name], {**metrics, key: value}).verdict == flipped
