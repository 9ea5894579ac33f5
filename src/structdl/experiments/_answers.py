"""Answers of the built-in experiments, derived from their saved metrics.

Each function takes a run's ``metrics`` dict and returns ``(verdict, text, headline)`` (see
:class:`structdl.experiments.Experiment`): the verdict follows from explicit thresholds, and
the text names the numbers that decide it. A new experiment passes its own ``answer=`` to
:class:`Experiment`; these cover the experiments written before that field existed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["BUILT_IN_ANSWERS"]

Metrics = dict[str, Any]
Answer = tuple[str, str, str]

# Declared orders of the six integrators of symplectic-structure.
_ORDERS = {
    "euler": 1,
    "rk4": 4,
    "symplectic_euler": 1,
    "verlet": 2,
    "implicit_midpoint": 2,
    "avf": 2,
}
_SYMPLECTIC = ("symplectic_euler", "verlet", "implicit_midpoint")
_ORDER_SLACK = 0.15  # an empirical order within 0.15 of the declared one counts as that order
_SYMPLECTIC_TOL = 1e-10


def _all_or_some(*answered: bool) -> str:
    """ "yes" when every part of the question is answered yes, "partly" when some are, else "no"."""
    return "yes" if all(answered) else "partly" if any(answered) else "no"


def _number(value: Any) -> float:
    # Non-finite values are saved as the strings "inf" / "nan".
    return float(value)


def _by_suffix(metrics: Metrics, suffix: str) -> dict[tuple[str, ...], float]:
    """``{("pendulum", "verlet"): value}`` for every flat key ``pendulum/verlet/<suffix>``."""
    found = {}
    for key, value in metrics.items():
        parts = key.split("/")
        if parts[-1] == suffix:
            found[tuple(parts[:-1])] = _number(value)
    if not found:
        raise KeyError(f"*/{suffix}")
    return found


def symplectic_structure(metrics: Metrics) -> Answer:
    defect = _by_suffix(metrics, "symplecticity_error")
    order = _by_suffix(metrics, "empirical_order")
    energy = _by_suffix(metrics, "max_energy_error")
    worst_symplectic = max(v for (_, m), v in defect.items() if m in _SYMPLECTIC)
    best_other = min(v for (_, m), v in defect.items() if m in ("euler", "rk4"))
    worst_order = max(abs(v - _ORDERS[m]) for (_, m), v in order.items())
    verlet = max(v for (_, m), v in energy.items() if m == "verlet")
    euler = max(v for (_, m), v in energy.items() if m == "euler")
    structure = worst_symplectic <= _SYMPLECTIC_TOL < best_other
    orders = worst_order <= _ORDER_SLACK
    verdict = _all_or_some(structure, orders)
    text = (
        f"The symplectic methods keep DΦᵀJDΦ = J to {worst_symplectic:.1e} at worst, while "
        f"Euler and RK4 miss it by at least {best_other:.1e}; Störmer–Verlet's largest energy "
        f"error is {verlet:.1e} against {euler:.1e} for Euler; every empirical order is within "
        f"{worst_order:.2f} of the declared one (threshold {_ORDER_SLACK})."
    )
    return verdict, text, f"symplectic defect {worst_symplectic:.0e} vs {best_other:.0e}"


def toy_classification(metrics: Metrics) -> Answer:
    accuracy = _by_suffix(metrics, "test_accuracy")
    deepest = max(int(parts[-1].removeprefix("depth")) for parts in accuracy)
    at_depth = {k: v for k, v in accuracy.items() if k[-1] == f"depth{deepest}"}
    ode = min(v for k, v in at_depth.items() if k[1] != "resnet")
    resnet = min(v for k, v in at_depth.items() if k[1] == "resnet")
    shallow = [v for k, v in accuracy.items() if k[-1] != f"depth{deepest}" and k[1] != "resnet"]
    gap = resnet - ode
    verdict = "yes" if gap <= 0.02 else "partly" if gap <= 0.10 else "no"
    text = (
        f"At depth {deepest} the worst ODE network reaches {ode:.1%} test accuracy against "
        f"{resnet:.1%} for the worst ResNet (gap {gap:+.1%}, threshold 2 points); the "
        f"shallower ODE networks reach {min(shallow):.1%} at worst."
        if shallow
        else f"At depth {deepest} the worst ODE network reaches {ode:.1%} against {resnet:.1%}."
    )
    return verdict, text, f"ODE {ode:.1%} vs ResNet {resnet:.1%}"


def nonexpansive_robustness(metrics: Metrics) -> Answer:
    lipschitz = _number(metrics["digits/nonexpansive/empirical_lipschitz_features"])
    radius = _number(metrics["digits/nonexpansive/median_certified_radius"])
    radius_resnet = _number(metrics["digits/resnet/median_certified_radius"])
    clean = _number(metrics["digits/nonexpansive/clean_accuracy"])
    clean_resnet = _number(metrics["digits/resnet/clean_accuracy"])
    sharp = lipschitz <= 1 + 1e-6
    robust = radius > radius_resnet and clean >= clean_resnet - 0.02
    verdict = _all_or_some(sharp, robust)
    text = (
        f"The network built with h = 2/(L‖A‖²) has measured Lipschitz constant {lipschitz:.4f} "
        f"(bound 1) on its features; its median certified ℓ2 radius is {radius:.3f} against "
        f"{radius_resnet:.3f} for the ResNet, at clean accuracy {clean:.1%} vs "
        f"{clean_resnet:.1%}. Sharpness of the bound (h = 3/(L‖A‖²) breaks it) is in the "
        "structure checks."
    )
    return verdict, text, f"certified radius {radius:.2f} vs {radius_resnet:.2f}"


def sphere_features(metrics: Metrics) -> Answer:
    lie = max(
        _number(metrics[f"{m}/max_sphere_distance_1000_layers"]) for m in ("lie_euler", "rkmk")
    )
    resnet_off = _number(metrics["resnet/max_sphere_distance_hidden_layers"])
    rmse = max(_number(metrics[f"{m}/test_rmse"]) for m in ("lie_euler", "rkmk"))
    rmse_resnet = _number(metrics["resnet/test_rmse"])
    on_sphere = lie <= 1e-12
    as_well = rmse <= 1.25 * rmse_resnet
    verdict = _all_or_some(on_sphere, as_well)
    text = (
        f"Lie–Euler and RKMK features stay on S² to {lie:.1e} after 1000 layers while the "
        f"ResNet's hidden features leave it by up to {resnet_off:.2f}; their test RMSE is "
        f"{rmse:.2e} at worst against {rmse_resnet:.2e} for the projected ResNet "
        "(threshold: within 25 %)."
    )
    return verdict, text, f"off-sphere {lie:.0e} vs {resnet_off:.2f}"


def learned_hamiltonian(metrics: Metrics) -> Answer:
    rollout = _by_suffix(metrics, "rollout_error_final")
    energy = _by_suffix(metrics, "energy_error_max")
    systems = sorted({k[0] for k in rollout})
    longer = [s for s in systems if rollout[(s, "hamiltonian")] < rollout[(s, "mlp")]]
    steadier = [s for s in systems if energy[(s, "hamiltonian")] < energy[(s, "mlp")]]
    both = len(longer) == len(steadier) == len(systems)
    verdict = "yes" if both else "partly" if longer or steadier else "no"
    parts = [
        f"{s}: rollout error {rollout[(s, 'hamiltonian')]:.2f} vs {rollout[(s, 'mlp')]:.2f}, "
        f"max energy error {energy[(s, 'hamiltonian')]:.3f} vs {energy[(s, 'mlp')]:.3f}"
        for s in systems
    ]
    text = (
        f"Hamiltonian (Verlet) against MLP (RK4) — {'; '.join(parts)}. The Hamiltonian model "
        f"keeps energy better on {len(steadier)} of {len(systems)} systems and rolls out "
        f"closer on {len(longer)} of {len(systems)}."
    )
    count = len(systems)
    return verdict, text, f"energy better {len(steadier)}/{count}, rollout {len(longer)}/{count}"


def equivariant_reconstruction(metrics: Metrics) -> Answer:
    gains = {int(n): _number(v) for n, v in metrics["psnr_gain_c4_over_cnn"].items()}
    smallest = min(gains)
    ratio = _number(metrics["test_time_s"]["ratio_exported_over_cnn"])
    same_cost = ratio <= 1.1
    if gains[smallest] > 0 and all(g > 0 for g in gains.values()) and same_cost:
        verdict = "yes"
    elif gains[smallest] > 0:
        verdict = "partly"
    else:
        verdict = "no"
    shown = ", ".join(f"{g:+.2f} dB at N_train = {n}" for n, g in sorted(gains.items()))
    text = (
        f"PSNR gain of the C4-equivariant blocks over the CNN: {shown}; the exported C4 model "
        f"costs {ratio:.2f}× the CNN's test time (threshold 1.1×)."
    )
    return verdict, text, f"{gains[smallest]:+.2f} dB at N_train = {smallest}"


def rotated_digits(metrics: Metrics) -> Answer:
    margins = {int(n): _number(v) for n, v in metrics["p4_margin_over_augmented_cnn"].items()}
    summary = metrics["summary"]
    sizes = sorted(margins)
    over_plain = min(
        _number(summary[f"p4@{n}"]["rotated_mean"]) - _number(summary[f"cnn@{n}"]["rotated_mean"])
        for n in sizes
    )
    c8 = metrics["equivariance_error"]["C8"]
    worst = min(margins.values())
    verdict = "yes" if worst >= 0.02 else "partly" if worst > 0 else "no"
    shown = ", ".join(f"{100 * margins[n]:+.1f} at {n}" for n in sizes)
    text = (
        f"On digits rotated by quarter turns, p4 beats the rotation-augmented CNN by {shown} "
        f"training images (accuracy points; a clear win needs 2) and the plain CNN by at least "
        f"{100 * over_plain:.0f} points. C8's interpolated rotations are exact at multiples of "
        f"90° ({_number(c8['at_90deg_multiples_max']):.0e}) and off by "
        f"{_number(c8['at_45deg_odd_multiples_max']):.3f} at odd multiples of 45°."
    )
    return verdict, text, f"p4 vs CNN+aug {100 * worst:+.1f} points (worst size)"


def approximate_equivariance(metrics: Metrics) -> Answer:
    eps = [_number(e) for e in metrics["epsilons"]]
    error = {k: [_number(v) for v in values] for k, values in metrics["test_error"].items()}
    strict, relaxed, cnn = error["strict"], error["relaxed"], error["cnn"]
    if relaxed[-1] <= 1.1 * min(strict[-1], cnn[-1]):
        verdict = "yes"
    elif relaxed[-1] < strict[-1]:
        verdict = "partly"
    else:
        verdict = "no"
    text = (
        f"Does relaxing the symmetry pay when the data break it? As ε grows from {eps[0]:g} to "
        f"{eps[-1]:g}, the strict C4 model's test error rises from {strict[0]:.3f} to "
        f"{strict[-1]:.3f}; the relaxed model's goes from {relaxed[0]:.3f} to {relaxed[-1]:.3f} "
        f"and the unconstrained CNN's from {cnn[0]:.3f} to {cnn[-1]:.3f}. The verdict asks the "
        "relaxed model to be within 10 % of the best at the largest ε."
    )
    return (
        verdict,
        text,
        f"error at ε={eps[-1]:g}: relaxed {relaxed[-1]:.3f}, strict {strict[-1]:.3f}",
    )


def pmp_costates(metrics: Metrics) -> Answer:
    """Yes when the discrete costates and gradients equal autograd's and the map is symplectic."""
    error = max(
        _number(metrics["max_costate_error"]), _number(metrics["max_parameter_gradient_error"])
    )
    defect = _number(metrics["max_symplectic_defect"])
    verdict = "yes" if error <= 1e-10 and defect <= 1e-12 else "no"
    text = (
        "Are the costates of the adjoint partitioned Runge–Kutta method the exact gradients, and "
        f"is the state–costate map symplectic? The largest difference from autograd is {error:.1e} "
        f"(bar 1e-10) over costates and parameter gradients, and the largest symplecticity "
        f"defect of the one-step map is {defect:.1e} (bar 1e-12)."
    )
    return verdict, text, f"costate error {error:.0e}, symplectic defect {defect:.0e}"


def port_hamiltonian(metrics: Metrics) -> Answer:
    """Yes when the energy balance is exact, H never rises, and a step costs ≤ 2 SGD steps."""
    residual = _number(metrics["minibatch/max_balance_residual"])
    increases = sum(
        int(_number(value))
        for key, value in metrics.items()
        if key.startswith("sweep/") and key.endswith("/ours_H_increases")
    )
    ratio = _number(metrics["timing/median_ratio"])
    structural = residual <= 1e-10 and increases == 0
    verdict = "yes" if structural and ratio <= 2.0 else "partly" if structural else "no"
    text = (
        "Does the port-Hamiltonian discrete-gradient optimiser keep its energy balance on "
        f"mini-batches? The largest balance residual is {residual:.1e} (bar 1e-10), H rose "
        f"{increases} times over the step sweep up to 10× the explicit limit, and a step costs "
        f"{ratio:.2f}× an SGD step (bar 2)."
    )
    return verdict, text, f"balance {residual:.0e}, step {ratio:.2f}× SGD"


def _float32_gradient_errors(metrics: Metrics) -> tuple[int, float, float] | None:
    """``(depth, fixed-point error, plain error)`` of float32 gradients at the deepest depth."""
    fixed, plain = {}, {}
    for key, value in metrics.items():
        parts = key.split("/")
        if parts[:2] != ["grad_rel_error", "float32"] or not parts[2].startswith("depth"):
            continue
        depth = int(parts[2].removeprefix("depth"))
        if len(parts) == 3:
            plain[depth] = _number(value)
        elif parts[3].startswith("fixed"):
            fixed[depth] = _number(value)
    common = set(fixed) & set(plain)
    if not common:
        return None
    depth = max(common)
    return depth, fixed[depth], plain[depth]


def reversible_memory(metrics: Metrics) -> Answer:
    """Yes when reversible blocks hold flat, small memory and float32 gradients are exact."""
    slope = _number(metrics["reversible/MiB_per_layer"])
    plain_slope = _number(metrics["plain/MiB_per_layer"])
    at_128 = _number(metrics["depth128/reversible_MiB"])
    plain_128 = _number(metrics["depth128/plain_MiB"])
    memory = slope <= 0.01 and at_128 <= 1.5
    gradients = _float32_gradient_errors(metrics)
    exact = gradients is None or gradients[1] <= 1e-5
    verdict = _all_or_some(memory, exact)
    text = (
        "Does inverting the blocks in the backward pass make activation memory flat in depth? "
        f"The reversible stack grows by {slope:.3f} MiB per layer (bar 0.01) against "
        f"{plain_slope:.2f} MiB for plain backprop; at depth 128 it holds {at_128:.2f} MiB "
        f"against {plain_128:.0f} MiB (bar 1.5 MiB)."
    )
    if gradients is not None:
        depth, fixed, plain = gradients
        text += (
            f" In float32 at depth {depth}, fixed-point blocks give gradients {fixed:.1e} from "
            f"plain backprop's (bar 1e-5), against {plain:.1e} for the same blocks without it."
        )
    return verdict, text, f"depth 128: {at_128:.2f} MiB vs {plain_128:.0f} MiB"


def mean_field(metrics: Metrics) -> Answer:
    """Yes when the loss curves converge in the width, the toy fits, and the closed form is fast."""
    gap = _number(metrics["width/max_dlogL_1000_8000"])
    reaches = bool(metrics["toy/reaches_1e-6"])
    speed = _number(metrics["timing/speedup_median"])
    structural = gap <= 0.2 and reaches
    verdict = "yes" if structural and speed >= 5.0 else "partly" if structural else "no"
    text = (
        "Does particle gradient descent follow one mean-field limit? The loss curves of 1000 and "
        f"8000 particles differ by at most {gap:.3f} in log-loss (bar 0.2); the 2-D "
        f"teacher–student {'reaches' if reaches else 'does not reach'} loss 1e-6; the "
        f"closed-form velocities run {speed:.2f}× the autograd particle step (bar 5)."
    )
    return verdict, text, f"|Δ log L| {gap:.3f}, speed {speed:.2f}×"


def iresnet_inverse(metrics: Metrics) -> Answer:
    """Yes when Newton or Anderson inverts at Lip 0.9 in ≤ 8 steps and the roulette is unbiased."""
    newton = int(_number(metrics["bar/c0.9/max_newton_iterations"]))
    anderson = int(_number(metrics["bar/c0.9/max_anderson_iterations"]))
    fixed_point = int(_number(metrics["bar/c0.9/max_fixed_point_iterations"]))
    worst_z = _number(metrics["bar/roulette_max_abs_z"])
    fast = min(newton, anderson) <= 8
    unbiased = worst_z <= 2.0
    verdict = _all_or_some(fast, unbiased)
    text = (
        "How many iterations invert an i-ResNet block to a residual of 1e-6 at Lip(g) = 0.9, and "
        f"is the Russian-roulette log-det unbiased? Newton needs at most {newton} iterations and "
        f"Anderson {anderson} (bar 8 for the better of the two), against {fixed_point} for the "
        f"plain fixed point; the roulette estimator's mean error is within {worst_z:.2f} standard "
        "errors of the exact log-det at every Lipschitz constant and dimension (bar 2)."
    )
    return verdict, text, f"Lip 0.9: Newton {newton}, fixed point {fixed_point} iterations"


def msa_training(metrics: Metrics) -> Answer:
    """Yes when E-MSA leads Adam early and ends within 10 %, and ternary MSA is within 1 point."""
    leads = bool(metrics["emsa_below_adam_first_10_iterations"])
    ratio = _number(metrics["emsa_over_adam_test_mse"])
    digits = metrics["digits"]
    accuracy = _number(digits["msa_test_accuracy"])
    gap = _number(metrics["digits_gap_points"])
    ternary = bool(digits["all_weights_ternary"])
    continuous = leads and ratio <= 1.10
    discrete = ternary and accuracy >= 0.90 and gap <= 1.0
    verdict = _all_or_some(continuous, discrete)
    text = (
        "Does extended MSA train a deep residual network, and discrete MSA a ternary MLP? E-MSA's "
        f"training loss is {'below' if leads else 'not below'} Adam's in each of the first 10 "
        f"iterations and its test MSE is {ratio:.2f}× Adam's (bar 1.10), at "
        f"{_number(metrics['emsa_cpu_seconds_per_run']):.1f} CPU s a run; the ternary digits MLP "
        f"reaches {100 * accuracy:.1f} % with {'every' if ternary else 'not every'} weight in "
        f"{{−1, 0, 1}}, {gap:+.1f} points behind the straight-through baseline (bar 1)."
    )
    return verdict, text, f"E-MSA/Adam test MSE {ratio:.2f}, ternary gap {gap:+.1f} points"


def deep_limits(metrics: Metrics) -> Answer:
    """Yes when θ_K(t) converges in K and multilevel training matches scratch in half the epochs."""
    converges = bool(metrics["distances_decrease_with_K"])
    gap = _number(metrics["max_relative_gap_multilevel_vs_scratch"])
    epochs = _number(metrics["epoch_ratio"])
    multilevel = gap <= 0.01 and epochs <= 0.5
    verdict = _all_or_some(converges, multilevel)
    text = (
        "Do the H¹-regularised controls θ_K(t) converge as the depth K doubles, and does "
        "multilevel training pay? The level-to-level distance "
        f"{'decreases' if converges else 'does not decrease'} with K; multilevel training ends "
        f"{100 * gap:+.1f} % from the from-scratch loss at its worst seed (bar +1 %) with "
        f"{epochs:.2f}× its epochs (bar 0.5)."
    )
    return verdict, text, f"multilevel {100 * gap:+.1f} % at {epochs:.2f}× epochs"


_CONFORMAL = ("heavy_ball", "rgd", "hamiltonian_descent")


def conformal_optimisers(metrics: Metrics) -> Answer:
    """Yes when the best conformal method reaches 1e-8 no later than Nesterov on every problem."""
    iterations: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        problem, method, last = (key.split("/") + ["", "", ""])[:3]
        if last == "iterations":
            # A run that never reached the tolerance is saved without a count.
            iterations.setdefault(problem, {})[method] = (
                float("inf") if value is None else _number(value)
            )
    if not iterations:
        raise KeyError("*/*/iterations")
    wins = []
    for problem, counts in iterations.items():
        best = min(counts[m] for m in _CONFORMAL)
        if best <= counts["nesterov"]:
            wins.append(problem)
    share = f"{len(wins)} of {len(iterations)}"
    verdict = "yes" if len(wins) == len(iterations) else "partly" if wins else "no"
    shown = "; ".join(
        f"{p}: {min(c[m] for m in _CONFORMAL):.0f} vs {c['nesterov']:.0f}"
        for p, c in iterations.items()
    )
    text = (
        "With an equal tuning budget, do the conformal Hamiltonian optimisers reach f − f* ≤ 1e-8 "
        f"as fast as Nesterov's method? The best of heavy ball, RGD and Hamiltonian descent is no "
        f"slower on {share} problems (iterations, best conformal vs Nesterov — {shown})."
    )
    return verdict, text, f"conformal ≤ Nesterov on {share} problems"


def riemannian_training(metrics: Metrics) -> Answer:
    """Yes when every constrained model stays orthogonal and one of them beats the free RNN."""
    drift = {}
    for key, value in metrics.items():
        task, model, last = (key.split("/") + ["", "", ""])[:3]
        if last == "final_drift" and model != "free":
            drift[(task, model)] = _number(value)
    if not drift:
        raise KeyError("*/*/final_drift")
    worst = max(drift.values())
    free_drift = max(_number(metrics[f"{task}/free/final_drift"]) for task in ("copy", "digits"))
    constrained = sorted({model for _, model in drift})
    copy_best = min(_number(metrics[f"copy/{m}/final_loss"]) for m in constrained)
    copy_free = _number(metrics["copy/free/final_loss"])
    memoryless = _number(metrics["copy/free/memoryless_baseline"])
    digits_best = max(_number(metrics[f"digits/{m}/test_accuracy"]) for m in constrained)
    digits_free = _number(metrics["digits/free/test_accuracy"])
    orthogonal = worst <= 1e-5
    pays = copy_best < copy_free or digits_best > digits_free
    verdict = "yes" if orthogonal and pays else "partly" if orthogonal else "no"
    text = (
        "Do Riemannian Adam (every retraction) and constrain() keep the recurrent matrix "
        f"orthogonal, and does it pay? The largest drift max|WᵀW − I| of a constrained model is "
        f"{worst:.1e} (bar 1e-5, float32) against {free_drift:.2f} for the free RNN. On the "
        f"copying task the best constrained loss is {copy_best:.4f} against {copy_free:.4f} free "
        f"(memoryless baseline {memoryless:.4f}); on row-by-row digits the best constrained test "
        f"accuracy is {100 * digits_best:.1f} % against {100 * digits_free:.1f} % free."
    )
    return (
        verdict,
        text,
        f"drift {worst:.0e}; digits {100 * digits_best:.1f} % vs free {100 * digits_free:.1f} %",
    )


BUILT_IN_ANSWERS: dict[str, Callable[[Metrics], Answer]] = {
    "symplectic-structure": symplectic_structure,
    "toy-classification": toy_classification,
    "nonexpansive-robustness": nonexpansive_robustness,
    "sphere-features": sphere_features,
    "learned-hamiltonian": learned_hamiltonian,
    "equivariant-reconstruction": equivariant_reconstruction,
    "rotated-digits": rotated_digits,
    "approximate-equivariance": approximate_equivariance,
    "pmp-costates": pmp_costates,
    "port-hamiltonian": port_hamiltonian,
    "reversible-memory": reversible_memory,
    "mean-field": mean_field,
    "iresnet-inverse": iresnet_inverse,
    "msa-training": msa_training,
    "deep-limits": deep_limits,
    "conformal-optimisers": conformal_optimisers,
    "riemannian-training": riemannian_training,
}
