"""K-FAC: step time against SGD and Adam, factors against curvlinops, digits autoencoder race.

Three questions, one part each (``--parts time,peer,race``; default all):

* ``time`` — how long is one :class:`structdl.optim.KFAC` step, in units of one
  ``torch.optim.SGD`` step and one ``torch.optim.Adam`` step (zero_grad, forward, loss,
  backward, update), on the same model and batch? Interleaved rounds (the order of the sides
  rotates every round), ratios ``t_kfac / t_sgd`` per round, median and minimum. Two models:
  the digits-size classifier MLP 64→32→10 (batch 64, softmax cross-entropy) and the digits
  autoencoder of the race (batch 256, squared loss). K-FAC runs with ``inverse_every=10`` and
  each window holds a multiple of 10 steps, so every window pays for the same number of
  inversions. Sides: exact type-2 factors every step, sampled factors every step, and both
  with the factors estimated every 10 steps (``factor_every=10``, the amortised setting of
  kfac-pytorch's ``factor_update_steps``). Clock: CPU seconds of this process by default
  (``--clock cpu``; the machine is shared), wall clock with ``--clock wall``.
* ``peer`` — do our Kronecker factors equal curvlinops' ``KFACLinearOperator`` factors
  (``fisher_type="type-2"``, ``separate_weight_and_bias=False``, ``kfac_approx="expand"``)
  on identical float64 models and data? Both libraries use ``A = (1/R) Σ ã ãᵀ`` over the
  ``R`` rows (samples × locations); their gradient factor is that of the loss as written
  (``reduction="sum"``: ``MSELoss`` has Hessian ``2I``, ours ``½‖z − y‖²`` has ``I``; both
  divide by ``N`` through our mean), so ``G_theirs = c·G_ours`` with ``c = 2`` for the squared
  loss and ``c = 1`` for cross-entropy; the JSON records the largest entrywise gap of ``A``
  and of ``G/c``.
* ``race`` — on the digits autoencoder (sklearn ``load_digits``, 1797 images scaled to
  [0, 1], MLP 64→128→32→8→32→128→64 with tanh, squared loss, mini-batches of 256), how
  much sooner in CPU time does K-FAC reach a fixed training loss than Adam with a tuned
  step size? K-FAC runs with sampled factors estimated every 10 steps, inverses every 10
  steps, heavy-ball momentum 0.9 and π-balanced damping (plain K-FAC without momentum
  plateaued near loss 0.6–0.8 in our trials; smaller damping diverged). Tuning: each method
  gets the same number of trials (4) of the same CPU budget on seed 0 (Adam: lr grid around
  its optimum; K-FAC: lr × damping grid), scored by the full-data loss at the end of the
  budget. (The K-FAC variant and grid were themselves chosen after about 16 short
  exploratory K-FAC runs against 5 for Adam, a tuning advantage to K-FAC.) The target
  loss is the one tuned Adam reaches at the end of its budget on seed 0. Then seeds 1, 2, 3
  run with a budget of twice that, and each records the CPU time (``time.process_time``,
  one thread; the full-data evaluations are excluded from the clock) at which the full-data
  loss first falls to the target. Reported: per-seed times and the
  median over seeds of ``t_adam / t_kfac`` (> 2 means K-FAC is more than twice as fast).

Run::

    bash benchmarks/setup-peers.sh kfac
    benchmarks/.envs/kfac/bin/python benchmarks/kfac.py [--quick] [--parts time,peer,race]
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    add_clock_argument,
    common_parser,
    environment,
    interleaved_times,
    print_table,
    ratio_from_times,
    use_clock,
    write_result,
)

from structdl.optim import KFAC  # noqa: E402

AUTOENCODER_WIDTHS = (64, 128, 32, 8, 32, 128, 64)


# ------------------------------------------------------------------------------ data, models
def digits(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """sklearn's 8×8 digits: images scaled to [0, 1] (1797 × 64) and labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.as_tensor(data.data, dtype=dtype) / 16.0
    return x, torch.as_tensor(data.target, dtype=torch.long)


def classifier(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))


def autoencoder(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    pairs = list(zip(AUTOENCODER_WIDTHS[:-1], AUTOENCODER_WIDTHS[1:], strict=True))
    for k, (fan_in, fan_out) in enumerate(pairs):
        layers.append(nn.Linear(fan_in, fan_out))
        if k < len(pairs) - 1:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def squared_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``½‖z − y‖²`` summed over outputs, averaged over samples (K-FAC's gaussian loss)."""
    return 0.5 * (z - y).square().sum() / z.shape[0]


# ------------------------------------------------------------------------------ part: time
def _step_functions(
    make: Callable[[int], nn.Module], x: torch.Tensor, y: torch.Tensor, likelihood: str
) -> dict[str, Callable[[], object]]:
    loss_fn = nn.functional.cross_entropy if likelihood == "categorical" else squared_loss
    sides: dict[str, Callable[[], object]] = {}
    kfac_settings = {
        "kfac_exact": {"factors": "exact"},
        "kfac_sampled": {"factors": "sampled"},
        "kfac_exact_f10": {"factors": "exact", "factor_every": 10},
        "kfac_sampled_f10": {"factors": "sampled", "factor_every": 10},
    }
    for label, extra in kfac_settings.items():
        net = make(0)
        opt = KFAC(net, lr=1e-3, damping=1e-2, likelihood=likelihood, inverse_every=10, **extra)
        sides[label] = lambda net=net, opt=opt: opt.step(lambda: (net(x), y))
    for label, cls in (("sgd", torch.optim.SGD), ("adam", torch.optim.Adam)):
        net = make(0)
        opt = cls(net.parameters(), lr=1e-3)

        def plain(net: nn.Module = net, opt: torch.optim.Optimizer = opt) -> None:
            opt.zero_grad()
            loss_fn(net(x), y).backward()
            opt.step()

        sides[label] = plain
    return sides


def part_time(args: Any, payload: dict[str, Any]) -> None:
    x_all, labels = digits()
    cases = (
        ("classifier 64-32-10, batch 64", classifier, x_all[:64], labels[:64], "categorical"),
        ("autoencoder 64-…-64, batch 256", autoencoder, x_all[:256], None, "gaussian"),
    )
    rows, results = [], []
    for name, make, x, y, likelihood in cases:
        y = x if y is None else y
        sides = _step_functions(make, x, y, likelihood)
        inner = 20 if args.quick else 40  # a multiple of inverse_every and factor_every
        times = interleaved_times(sides, rounds=args.rounds, warmup=args.warmup + 10, inner=inner)
        case = {"case": name, "inner": inner, "seconds": times["seconds"], "ratios": {}}
        for ours in ("kfac_exact", "kfac_sampled", "kfac_exact_f10", "kfac_sampled_f10"):
            for ref in ("sgd", "adam"):
                r = ratio_from_times(times, ours, ref)
                case["ratios"][f"{ours}/{ref}"] = r.as_dict()
                rows.append(
                    {
                        "case": name.split(",")[0],
                        "ratio": f"{ours}/{ref}",
                        "median": f"{r.median:.2f}",
                        "min": f"{r.min:.2f}",
                        "max": f"{r.max:.2f}",
                        "ms ours": f"{1e3 * statistics.median(r.seconds_a):.3f}",
                        "ms ref": f"{1e3 * statistics.median(r.seconds_b):.3f}",
                    }
                )
        results.append(case)
    print_table(rows, ["case", "ratio", "median", "min", "max", "ms ours", "ms ref"])
    payload["time"] = results


# ------------------------------------------------------------------------------ part: peer
def _curvlinops_factors(
    net: nn.Module, loss_func: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """curvlinops' type-2 KFAC factors ``(A, G)`` per layer, keyed by module name."""
    from curvlinops import KFACLinearOperator

    op = KFACLinearOperator(
        net,
        loss_func,
        [p for p in net.parameters() if p.requires_grad],
        [(x, y)],
        fisher_type="type-2",
        kfac_approx="expand",
        separate_weight_and_bias=False,
        check_deterministic=False,
    )
    op.compute_kronecker_factors()  # (3.0.1 computes them lazily, at the first product)
    return {
        name: (op._input_covariances[name], op._gradient_covariances[name])
        for name in op._gradient_covariances
    }


def part_peer(args: Any, payload: dict[str, Any]) -> None:
    try:
        import curvlinops  # noqa: F401
    except ImportError:
        print("peer: curvlinops is not installed (bash benchmarks/setup-peers.sh kfac); skipped")
        payload["peer"] = {"skipped": "curvlinops not installed"}
        return
    x_all, labels = digits(torch.float64)
    x, y = x_all[:64], labels[:64]
    conv = nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 4, 3, padding=1, stride=2),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(64, 10),
    )
    cases = (
        ("classifier, cross-entropy", classifier(args.seed).double(), x, y, "categorical", 1.0),
        ("autoencoder, squared loss", autoencoder(args.seed).double(), x, x, "gaussian", 2.0),
        ("conv net, cross-entropy", conv.double(), x, y, "categorical", 1.0),
    )
    rows, results = [], []
    for name, net, inputs, targets, likelihood, scale in cases:
        kfac = KFAC(net, likelihood=likelihood)
        ours = kfac.curvature_factors(
            lambda net=net, inputs=inputs, targets=targets: (net(inputs), targets)
        )
        loss_func = nn.CrossEntropyLoss() if likelihood == "categorical" else nn.MSELoss()
        # reduction="mean" of MSELoss also divides by the outputs; "sum"/N is our loss × 2.
        if likelihood == "gaussian":
            loss_func = nn.MSELoss(reduction="sum")
        theirs = _curvlinops_factors(net, loss_func, inputs, targets)
        for layer_name, module in net.named_modules():
            if module not in ours:
                continue
            a, g = ours[module]
            a_peer, g_peer = theirs[layer_name]
            if likelihood == "gaussian":
                g_peer = g_peer / inputs.shape[0]  # reduction="sum" over N samples
            gap_a = float((a - a_peer).abs().max())
            gap_g = float((g - g_peer / scale).abs().max())
            scale_a, scale_g = float(a.abs().max()), float(g.abs().max())
            results.append(
                {
                    "case": name,
                    "layer": layer_name,
                    "shape_A": list(a.shape),
                    "shape_G": list(g.shape),
                    "max_abs_gap_A": gap_a,
                    "max_abs_gap_G": gap_g,
                    "max_abs_A": scale_a,
                    "max_abs_G": scale_g,
                    "G_scale_c": scale,
                }
            )
            rows.append(
                {
                    "case": name,
                    "layer": layer_name,
                    "|ΔA|max": f"{gap_a:.1e}",
                    "|ΔG|max": f"{gap_g:.1e}",
                    "|A|max": f"{scale_a:.2f}",
                    "|G|max": f"{scale_g:.2e}",
                }
            )
    print_table(rows, ["case", "layer", "|ΔA|max", "|ΔG|max", "|A|max", "|G|max"])
    worst = max(max(r["max_abs_gap_A"], r["max_abs_gap_G"]) for r in results)
    version = metadata.version("curvlinops-for-pytorch")
    print(f"peer: curvlinops {version}: largest factor gap {worst:.2e} (bar 1e-6)")
    payload["peer"] = {"curvlinops": version, "layers": results, "worst": worst}


# ------------------------------------------------------------------------------ part: race
class _Clock:
    """CPU seconds of this process with pauses (the full-data evaluations are not charged)."""

    def __init__(self) -> None:
        self.spent, self._start = 0.0, time.process_time()

    def pause(self) -> None:
        self.spent += time.process_time() - self._start

    def resume(self) -> None:
        self._start = time.process_time()


def _train(
    method: str, hyper: dict[str, float], seed: int, budget: float, x: torch.Tensor, cfg: dict
) -> dict[str, Any]:
    """Train until the CPU budget is spent; the full-data loss every ``eval_every`` steps."""
    net = autoencoder(seed)
    generator = torch.Generator().manual_seed(1000 + seed)
    if method == "adam":
        opt: Any = torch.optim.Adam(net.parameters(), lr=hyper["lr"])
    else:
        opt = KFAC(
            net,
            lr=hyper["lr"],
            damping=hyper["damping"],
            likelihood="gaussian",
            factors=cfg["kfac_factors"],
            inverse_every=cfg["inverse_every"],
            factor_every=cfg["factor_every"],
            generator=generator,
            **cfg["kfac_options"],
        )
    n, batch = x.shape[0], cfg["batch"]
    curve: list[tuple[float, int, float]] = []
    clock, steps = _Clock(), 0
    order = torch.randperm(n, generator=generator)
    cursor = 0
    while True:
        if steps % cfg["eval_every"] == 0:
            clock.pause()
            with torch.no_grad():
                loss = float(squared_loss(net(x), x))
            curve.append((clock.spent, steps, loss))
            if clock.spent >= budget or not math.isfinite(loss):
                break
            clock.resume()
        if cursor + batch > n:
            order, cursor = torch.randperm(n, generator=generator), 0
        xb = x[order[cursor : cursor + batch]]
        cursor += batch
        if method == "adam":
            opt.zero_grad()
            squared_loss(net(xb), xb).backward()
            opt.step()
        else:
            opt.step(lambda xb=xb: (net(xb), xb))
        steps += 1
    return {"method": method, "hyper": hyper, "seed": seed, "curve": curve}


def _thin(run: dict[str, Any], points: int = 120) -> dict[str, Any]:
    """The run with its curve cut to about ``points`` evenly spaced entries for the JSON
    (the figures are computed from the full curve first); the last entry is kept."""
    curve = run["curve"]
    stride = max(1, len(curve) // points)
    kept = curve[::stride] + ([curve[-1]] if (len(curve) - 1) % stride else [])
    return {**run, "curve": [[round(t, 3), k, float(f"{loss:.5g}")] for t, k, loss in kept]}


def _time_to(curve: list[tuple[float, int, float]], target: float) -> float:
    return next((t for t, _, loss in curve if loss <= target), math.inf)


def part_race(args: Any, payload: dict[str, Any]) -> None:
    x, _ = digits()
    cfg = {
        "batch": 256,
        "eval_every": 10,
        "budget_cpu_s": 3.0 if args.quick else 12.0,
        "kfac_factors": "sampled",
        "inverse_every": 10,
        "factor_every": 10,
        "kfac_options": {"momentum": 0.9, "pi_damping": True},
    }
    grids = {
        "adam": [{"lr": lr} for lr in (1e-3, 3e-3, 1e-2, 3e-2)],
        "kfac": [{"lr": lr, "damping": damping} for lr in (0.01, 0.03) for damping in (0.1, 0.3)],
    }
    budget = cfg["budget_cpu_s"]
    tuning: dict[str, list[dict[str, Any]]] = {}
    best: dict[str, dict[str, Any]] = {}
    for method, grid in grids.items():
        trials = [_train(method, hyper, args.seed, budget, x, cfg) for hyper in grid]
        for trial in trials:
            final = trial["curve"][-1][2]
            print(f"race tuning: {method} {trial['hyper']} final loss {final:.4g}")
        tuning[method] = trials
        best[method] = min(trials, key=lambda t: t["curve"][-1][2])
    target = best["adam"]["curve"][-1][2]
    print(f"race: target loss {target:.4g} (tuned Adam {best['adam']['hyper']} at {budget} s)")
    seeds = [args.seed + k for k in (1, 2, 3)]
    runs, rows, speedups, times_to_target = [], [], [], []
    for seed in seeds:
        times = {}
        for method in ("adam", "kfac"):
            run = _train(method, best[method]["hyper"], seed, 2 * budget, x, cfg)
            times[method] = _time_to(run["curve"], target)
            runs.append(run)
        speedup = times["adam"] / times["kfac"]
        speedups.append(speedup)
        times_to_target.append({"seed": seed, **times})
        rows.append(
            {
                "seed": seed,
                "adam s": f"{times['adam']:.2f}",
                "kfac s": f"{times['kfac']:.2f}",
                "t_adam/t_kfac": f"{speedup:.2f}",
            }
        )
    print_table(rows, ["seed", "adam s", "kfac s", "t_adam/t_kfac"])
    median = statistics.median(speedups)
    print(f"race: median t_adam / t_kfac = {median:.2f} (bar ≥ 2)")
    payload["race"] = {
        "config": cfg,
        "grids": grids,
        "clock": "time.process_time (CPU seconds of this process, 1 thread), evaluations excluded",
        "tuning_time_to_target": {
            m: [_time_to(t["curve"], target) for t in trials] for m, trials in tuning.items()
        },
        "tuning": {m: [_thin(t) for t in trials] for m, trials in tuning.items()},
        "best": {m: b["hyper"] for m, b in best.items()},
        "target_loss": target,
        "seeds": seeds,
        "runs": [_thin(run) for run in runs],
        "times_to_target": times_to_target,
        "speedups": speedups,
        "median_speedup": median,
    }


def main() -> None:
    parser = common_parser(__doc__.splitlines()[0])
    parser.add_argument("--parts", default="time,peer,race", help="comma-separated parts")
    add_clock_argument(parser, default="cpu")
    args = parser.parse_args()
    args.rounds = args.rounds or (10 if args.quick else 20)
    torch.set_num_threads(args.threads)
    use_clock(args.clock)
    payload: dict[str, Any] = {
        "environment": environment(["curvlinops-for-pytorch"], args.threads, "float32/float64"),
        "quick": args.quick,
        "rounds": args.rounds,
        "clock": args.clock,
    }
    parts = args.parts.split(",")
    for part, run in (("time", part_time), ("peer", part_peer), ("race", part_race)):
        if part in parts:
            run(args, payload)
    name = "kfac_quick" if args.quick else "kfac"
    if parts != ["time", "peer", "race"]:
        name += "_" + "_".join(parts)
    print("wrote", write_result(name, payload, args.out))


if __name__ == "__main__":
    main()
