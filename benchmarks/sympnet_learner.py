"""The SympNet pendulum side by side with jpzxshi/learner, the SympNet authors' own code.

Question: on the pendulum of *SympNets* (Jin, Zhang, Zhu, Tang & Karniadakis 2020) —
``H = ½p² − cos q``, ``x₀ = (p, q) = (0, 1)``, ``h = 0.1``, 40 training pairs, 100 test pairs, a
1000-step rollout from the first test state — does structdl's best SympNet-pendulum model reach a
1000-step rollout MSE at or below the G-SympNet of learner trained on identical data with the
same number of iterations, and what does one training iteration cost against learner's?

Data: :func:`structdl.data.hamiltonian_tasks.sympnet_pendulum` (float64 RK4 reference); the
same arrays are handed to learner, with the columns swapped to its ``(p, q)`` order.

Sides (every model starts from ``torch.manual_seed(seed)``; ``--iterations`` each):

* ``ours`` — the model ``structdl run hamiltonian-benchmarks`` uses as ours: a separable
  Hamiltonian network ``H = ½|p|² + V_θ(q)`` (``V_θ`` two tanh layers of width 16) inside one
  Yoshida-4 step, trained through the integrator on 8-step rollout windows of the training
  trajectory (Adam 1e-3, cosine decay to 1 %, the lowest training loss kept) — built and
  trained by the experiment's own functions (``_learned_step``, ``_train_map``);
* ``ours_gsympnet`` — our :class:`~structdl.dynamics.learning.GSympNet` with learner's example
  settings (5 gradient modules of width 30, sigmoid, weights N(0, 0.01), Adam 1e-3 on the
  one-step MSE, full batch, the lowest training loss kept);
* ``learner_gsympnet`` — learner's ``ln.nn.GSympNet(2, 5, 30, 'sigmoid')`` trained by learner's
  own ``Brain`` (Adam 1e-3, MSE, full batch; ``save=True``: the model with the lowest *test*
  loss among the checkpoints every 1000 iterations is restored — learner's protocol, which
  lets the test pairs choose the model), in float64 (``dtype='double'``) like ours, and in
  float32 as learner's example runs it (``learner_gsympnet_float``);
* ``learner_lasympnet`` — learner's example default, ``ln.nn.LASympNet(2, 3, 2, 'sigmoid')``
  (float64), for reference.

Metrics: the rollout MSE over the 1001 states of the 1000-step rollout; the one-step test MSE;
the largest relative error of the true energy along the rollout; the float64 symplecticity
defect ``max ‖DΦᵀJDΦ − J‖_F`` of every trained map and of each of its layers (ours: the nine
kick/drift shears of one Yoshida-4 step; the G-SympNets: their five gradient modules); the
largest difference between our ``GSympNet`` and learner's carrying the same weights, and between
our ``ExtendedSympNet`` and learner's ``ESympNet`` (each pair computes the same map).
Timing: training seconds per iteration of each side's own training entry (``_train_map`` /
``fit_rollout`` / ``Brain.run``), interleaved rounds (the order rotated every round), each
window timed by the wall clock and by this process's CPU clock; ratios
``t_ours / t_learner`` per round, median and minimum.

Run (the project's environment; learner is imported from the tree that
``bash benchmarks/setup-peers.sh learner`` extracts into ``benchmarks/.envs/learner/src``)::

    nice -n 10 .venv/bin/python benchmarks/sympnet_learner.py [--quick]
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

HERE = Path(__file__).resolve().parent
LEARNER_SRC = HERE / ".envs" / "learner" / "src"
LEARNER_COMMIT = "1d0cf4326d86d2798d60db923a6b08abd5cb6366"
sys.path.insert(0, str(HERE))
from _common import (  # noqa: E402  (the harness sits next to this script)
    common_parser,
    environment,
    print_table,
    summarise,
    write_result,
)

from structdl.data.hamiltonian_tasks import hamiltonian, sympnet_pendulum  # noqa: E402
from structdl.dynamics.learning import (  # noqa: E402
    ExtendedSympNet,
    GSympNet,
    fit_rollout,
    rollout,
)
from structdl.experiments.hamiltonian_benchmarks import (  # noqa: E402
    _learned_step,
    _train_map,
)
from structdl.structure import check_symplectic  # noqa: E402

ROLLOUT_STEPS = 1000
OURS_WIDTH = 16  # hamiltonian-benchmarks' sympnet_width
HORIZON = 8  # hamiltonian-benchmarks' rollout window on the SympNet pendulum
LR = 1e-3  # learner's example
G_LAYERS, G_WIDTH = 5, 30  # learner's example (Glayers, Gwidth)
LA_LAYERS, LA_SUBLAYERS = 3, 2  # learner's example (LAlayers, LAsublayers)
PRINT_EVERY = 1000  # learner's example: checkpoint (and test-loss model choice) period


def _import_learner() -> Any:
    if not (LEARNER_SRC / "learner" / "__init__.py").is_file():
        raise SystemExit(
            f"learner is not at {LEARNER_SRC} — expected the extracted jpzxshi/learner tree — "
            f"run `bash benchmarks/setup-peers.sh learner` first"
        )
    sys.path.insert(0, str(LEARNER_SRC))
    import learner

    return learner


def _swap(z: Tensor) -> Tensor:
    """``(q, p) ↔ (p, q)`` for one degree of freedom (learner orders states as ``(p, q)``)."""
    return z.flip(-1)


class _LearnerAsOurs(nn.Module):
    """A learner map in our ``(q, p)`` order (conjugating by the swap keeps ``DΦᵀJDΦ = J``)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, z: Tensor) -> Tensor:
        return _swap(self.net(_swap(z)))


class _LearnerLayer(nn.Module):
    """One learner module ``(p, q, h) ↦ (p', q')`` as a map of ``z = (q, p)``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, z: Tensor) -> Tensor:
        p, q = self.module([z[:, 1:], z[:, :1], torch.ones_like(z[:, :1])])
        return torch.cat((q, p), dim=1)


def _learner_data(learner: Any, data: Any) -> Any:
    """The same arrays as learner ``Data`` (numpy float64, ``(p, q)`` columns)."""

    def arr(t: Tensor) -> np.ndarray:
        return _swap(t).numpy().copy()

    return learner.Data(arr(data.x), arr(data.y), arr(data.test_x), arr(data.test_y))


@contextlib.contextmanager
def _quiet_in(directory: str):  # noqa: ANN202
    """Run learner's Brain in a scratch directory (it writes ``model/``), its prints captured."""
    old = os.getcwd()
    buffer = io.StringIO()
    os.chdir(directory)
    try:
        with contextlib.redirect_stdout(buffer):
            yield buffer
    finally:
        os.chdir(old)


def _brain(learner: Any, data: Any, net: nn.Module, iterations: int, dtype: str, save: Any) -> Any:
    return learner.Brain(
        data,
        net,
        criterion="MSE",
        optimizer="adam",
        lr=LR,
        iterations=iterations,
        batch_size=None,
        print_every=PRINT_EVERY if save else max(iterations, 1),
        save=save,
        callback=None,
        dtype=dtype,
        device="cpu",
    )


# --------------------------------------------------------------------------- training sides


def _train_ours(seed: int, data: Any, path: Tensor, iterations: int) -> tuple[nn.Module, float]:
    torch.manual_seed(seed)
    model = _learned_step(1, OURS_WIDTH, data.h)
    return model, _train_map(model, path, iterations, horizon=HORIZON)


def _train_ours_g(seed: int, data: Any, iterations: int) -> tuple[nn.Module, float]:
    torch.manual_seed(seed)
    model = GSympNet(1, layers=G_LAYERS, width=G_WIDTH, activation="sigmoid").double()
    losses = fit_rollout(
        model, data.x, data.y.unsqueeze(1), steps=iterations, lr=LR, keep_best=True
    )
    return model, min(losses)


def _train_learner(
    learner: Any, seed: int, data: Any, iterations: int, kind: str, dtype: str
) -> tuple[nn.Module, nn.Module, float, str]:
    """Learner's example run: returns (best-by-test model, final model, best train loss, log)."""
    torch.manual_seed(seed)
    if kind == "G":
        net = learner.nn.GSympNet(2, G_LAYERS, G_WIDTH, "sigmoid")
    else:
        net = learner.nn.LASympNet(2, LA_LAYERS, LA_SUBLAYERS, "sigmoid")
    with tempfile.TemporaryDirectory() as scratch, _quiet_in(scratch) as log:
        brain = _brain(learner, _learner_data(learner, data), net, iterations, dtype, True)
        history = brain.run()
        final = _clone_double(brain.net)
        best = brain.restore()
    best_row = history[int(np.argmin(history[:, 2]))]
    return _clone_double(best), final, float(best_row[1]), log.getvalue()[-400:]


def _clone_double(net: nn.Module) -> nn.Module:
    import copy

    twin = copy.deepcopy(net)
    twin.dtype = "double"  # learner's own dtype setter (moves every parameter)
    return twin


# --------------------------------------------------------------------------- metrics


def _evaluate(name: str, model: Callable[[Tensor], Tensor], data: Any) -> dict[str, Any]:
    energy = hamiltonian("sympnet_pendulum")
    with torch.no_grad():
        test_mse = float((model(data.test_x) - data.test_y).pow(2).mean())
        predicted = rollout(model, data.rollout[:1], ROLLOUT_STEPS)[0]
    values = energy(predicted)
    energy_error = ((values - values[:1]) / values[:1].abs()).abs()
    return {
        "model": name,
        "rollout_mse": float((predicted - data.rollout).pow(2).mean()),
        "test_one_step_mse": test_mse,
        "energy_error_max": float(energy_error.max()),
        "rollout_finite": bool(torch.isfinite(predicted).all()),
    }


def _shears_of_ours(model: nn.Module) -> list[Callable[[Tensor], Tensor]]:
    """The nine shears of one Yoshida-4 step (kick τ = w h/2, drift τ = w h, kick) of ``model``."""
    w1 = 1.0 / (2.0 - 2.0 ** (1.0 / 3.0))  # Yoshida's triple-jump weights (Yoshida4's own)
    w0 = -(2.0 ** (1.0 / 3.0)) * w1

    field = model.field

    def kick(tau: float) -> Callable[[Tensor], Tensor]:
        return lambda z: torch.cat((z[:, :1], z[:, 1:] - tau * field.grad_q(0.0, z[:, :1])), 1)

    def drift(tau: float) -> Callable[[Tensor], Tensor]:
        return lambda z: torch.cat((z[:, :1] + tau * field.grad_p(0.0, z[:, 1:]), z[:, 1:]), 1)

    h = model.h
    return [
        shear for w in (w1, w0, w1) for shear in (kick(w * h / 2), drift(w * h), kick(w * h / 2))
    ]


def _defects(model: Callable[[Tensor], Tensor], layers: list[Any], points: Tensor) -> dict:
    whole = check_symplectic(model, points).worst
    per_layer = [check_symplectic(layer, points).worst for layer in layers]
    return {
        "symplectic_defect": whole,
        "layer_defects": per_layer,
        "max_layer_defect": max(per_layer) if per_layer else None,
    }


def _agreement(learner: Any, points: Tensor) -> float:
    """Copy a learner G-SympNet's weights into ours; ``max |ours(z) − learner(z)|``."""
    torch.manual_seed(123)
    theirs = learner.nn.GSympNet(2, G_LAYERS, G_WIDTH, "sigmoid")
    theirs.dtype = "double"
    with torch.no_grad():
        for module in theirs.ms.values():
            module.ps["K"].normal_(0.0, 0.7)
            module.ps["a"].normal_(0.0, 0.7)
            module.ps["b"].normal_(0.0, 0.7)
    ours = GSympNet(1, layers=G_LAYERS, width=G_WIDTH, activation="sigmoid").double()
    with torch.no_grad():
        for k, layer in enumerate(ours.parts):
            ps = theirs.ms[f"GradM{k + 1}"].ps
            layer.ridges.copy_(ps["K"].T)
            layer.amplitudes.copy_(ps["a"])
            layer.offsets.copy_(ps["b"])
        return float((ours(points) - _LearnerAsOurs(theirs)(points)).abs().max())


def _agreement_extended(learner: Any, points: Tensor) -> float:
    """Copy a learner E-SympNet (d = 1, one parameter) into our ExtendedSympNet; ``max |Δ|``.

    learner orders extended states ``(p, q, c)``, ours ``(q, p, c)``.
    """
    torch.manual_seed(321)
    theirs = learner.nn.ESympNet(3, 2, layers=G_LAYERS, width=G_WIDTH, activation="sigmoid")
    theirs.dtype = "double"
    ours = ExtendedSympNet(1, 1, layers=G_LAYERS, width=G_WIDTH).double()
    with torch.no_grad():
        for module in theirs.ms.values():
            for tensor in module.ps.values():
                tensor.normal_(0.0, 0.7)
        for k, layer in enumerate(ours.parts):
            ps = theirs.ms[f"ExtM{k + 1}"].ps
            layer.ridges.copy_(ps["K1"].T)
            layer.parameter_ridges.copy_(ps["K2"].T)
            layer.amplitudes.copy_(ps["a"])
            layer.offsets.copy_(ps["b"])
        order = [1, 0, 2]
        return float((ours(points) - theirs(points[:, order])[:, order]).abs().max())


def _accuracy(
    learner: Any, args: Any, data: Any, path: Tensor, checkpoint: Callable[[list], None]
) -> dict[str, Any]:
    """Train every side for every seed; ``checkpoint(rows)`` after each row (partial results)."""
    rows: list[dict[str, Any]] = []
    points = torch.randn(16, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    for seed in args.seeds:
        start = time.process_time()
        model, loss = _train_ours(seed, data, path, args.iterations)
        row = _evaluate("ours", model, data)
        row.update(_defects(model, _shears_of_ours(model), points))
        row["iterations"] = args.iterations
        rows.append(_finish(row, seed, loss, start))
        checkpoint(rows)
        print(_line(rows[-1]), flush=True)

        start = time.process_time()
        model, loss = _train_ours_g(seed, data, args.iterations)
        row = _evaluate("ours_gsympnet", model, data)
        row.update(_defects(model, list(model.parts), points))
        row["iterations"] = args.iterations
        rows.append(_finish(row, seed, loss, start))
        checkpoint(rows)
        print(_line(rows[-1]), flush=True)

        variants = [
            ("learner_gsympnet", "G", "double", args.iterations),
            ("learner_gsympnet_float", "G", "float", args.iterations),
        ]
        if not args.no_la:
            variants.append(("learner_lasympnet", "LA", "double", args.iterations))
        for extra in args.learner_iterations:
            variants.append((f"learner_gsympnet_{extra}_iterations", "G", "double", extra))
        for name, kind, dtype, iterations in variants:
            start = time.process_time()
            best, final, loss, log = _train_learner(learner, seed, data, iterations, kind, dtype)
            row = _evaluate(name, _LearnerAsOurs(best), data)
            layers = [_LearnerLayer(m) for m in best.ms.values()]
            row.update(_defects(_LearnerAsOurs(best), layers, points))
            row["final_iterate_rollout_mse"] = _evaluate(name, _LearnerAsOurs(final), data)[
                "rollout_mse"
            ]
            row["learner_log_tail"] = log
            row["iterations"] = iterations
            rows.append(_finish(row, seed, loss, start))
            checkpoint(rows)
            print(_line(rows[-1]), flush=True)
    return {"rows": rows, "summary": _summary(rows, args.seeds)}


def _finish(row: dict[str, Any], seed: int, loss: float, start: float) -> dict[str, Any]:
    row["seed"] = seed
    row["train_loss"] = loss
    row["train_cpu_seconds"] = round(time.process_time() - start, 2)
    row["load_average"] = list(os.getloadavg())
    return row


def _line(row: dict[str, Any]) -> str:
    return (
        f"seed {row['seed']} {row['model']:<24} rollout MSE {row['rollout_mse']:.3e}  "
        f"test {row['test_one_step_mse']:.2e}  defect {row['symplectic_defect']:.1e} "
        f"(layers ≤ {row['max_layer_defect']:.1e})  {row['train_cpu_seconds']} CPU s"
    )


def _summary(rows: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    names = list(dict.fromkeys(r["model"] for r in rows))
    out: dict[str, Any] = {}
    for name in names:
        values = [r["rollout_mse"] for r in rows if r["model"] == name]
        out[name] = {
            "rollout_mse_per_seed": values,
            "rollout_mse_median": statistics.median(values),
            "rollout_mse_max": max(values),
            "max_layer_defect": max(r["max_layer_defect"] for r in rows if r["model"] == name),
        }
    ours = {r["seed"]: r["rollout_mse"] for r in rows if r["model"] == "ours"}
    theirs = {r["seed"]: r["rollout_mse"] for r in rows if r["model"] == "learner_gsympnet"}
    out["bar_rollout_per_seed"] = {s: ours[s] <= theirs[s] for s in seeds}
    out["bar_rollout_all_seeds"] = all(out["bar_rollout_per_seed"].values())
    out["bar_rollout_worst_ours_vs_best_learner"] = max(ours.values()) <= min(
        r["rollout_mse"] for r in rows if r["model"].startswith("learner_g")
    )
    out["bar_defect_ours"] = out["ours"]["max_layer_defect"] <= 1e-12
    return out


# --------------------------------------------------------------------------- timing


def _timing(learner: Any, args: Any, data: Any, path: Tensor) -> dict[str, Any]:
    """Seconds per training iteration of each side's own training entry, interleaved."""
    torch.manual_seed(args.seed)
    ours = _learned_step(1, OURS_WIDTH, data.h)
    ours_g = GSympNet(1, layers=G_LAYERS, width=G_WIDTH, activation="sigmoid").double()
    theirs = learner.nn.GSympNet(2, G_LAYERS, G_WIDTH, "sigmoid")
    learner_data = _learner_data(learner, data)
    scratch = tempfile.TemporaryDirectory()

    def learner_run(k: int) -> None:
        with _quiet_in(scratch.name):
            _brain(learner, learner_data, theirs, k, "double", False).run()

    sides: dict[str, Callable[[int], object]] = {
        "ours": lambda k: _train_map(ours, path, k, horizon=HORIZON),
        "ours_gsympnet": lambda k: fit_rollout(
            ours_g, data.x, data.y.unsqueeze(1), steps=k, lr=LR, keep_best=True
        ),
        "learner_gsympnet": learner_run,
    }
    # Iterations per window: each side's window lasts about `window` seconds.
    per_iteration = {}
    for label, run in sides.items():
        run(5)
        start = time.perf_counter()
        run(20)
        per_iteration[label] = (time.perf_counter() - start) / 20
    counts = {k: max(10, round(args.window / v)) for k, v in per_iteration.items()}
    wall: dict[str, list[float]] = {k: [] for k in sides}
    cpu: dict[str, list[float]] = {k: [] for k in sides}
    labels = list(sides)
    loads = []
    for r in range(args.rounds):
        order = labels[r % 3 :] + labels[: r % 3]
        for label in order:
            w0, c0 = time.perf_counter(), time.process_time()
            sides[label](counts[label])
            wall[label].append((time.perf_counter() - w0) / counts[label])
            cpu[label].append((time.process_time() - c0) / counts[label])
        loads.append(os.getloadavg()[0])
    scratch.cleanup()
    ratios = {}
    for mine in ("ours", "ours_gsympnet"):
        for clock, times in (("wall", wall), ("cpu", cpu)):
            per_round = [a / b for a, b in zip(times[mine], times["learner_gsympnet"], strict=True)]
            ratios[f"{mine}/learner_gsympnet ({clock})"] = {
                **summarise(per_round),
                "per_round": per_round,
            }
    return {
        "iterations_per_window": counts,
        "rounds": args.rounds,
        "seconds_per_iteration_wall": wall,
        "seconds_per_iteration_cpu": cpu,
        "median_ms_per_iteration_wall": {k: 1e3 * statistics.median(v) for k, v in wall.items()},
        "median_ms_per_iteration_cpu": {k: 1e3 * statistics.median(v) for k, v in cpu.items()},
        "ratios": ratios,
        "load_average_1min_per_round": loads,
    }


def _merge(tags: list[str], directory: Path) -> None:
    """Combine runs split over processes (``--tag seed0`` …) into ``sympnet_learner.json``."""
    import json

    parts = {t: json.loads((directory / f"sympnet_learner_{t}.json").read_text()) for t in tags}
    rows = [r for p in parts.values() for r in p.get("accuracy", {}).get("rows", [])]
    seeds = sorted({r["seed"] for r in rows})
    timing = [p["timing"] for p in parts.values() if "timing" in p]
    merged = {
        "benchmark": "sympnet_learner",
        "merged_from": {
            t: {"command": p["command"], "environment": p["environment"]} for t, p in parts.items()
        },
        "protocol": {**next(iter(parts.values()))["protocol"], "seeds": seeds},
        "agreement_ours_vs_learner_gsympnet_same_weights": max(
            p["agreement_ours_vs_learner_gsympnet_same_weights"] for p in parts.values()
        ),
        "agreement_ours_vs_learner_esympnet_same_weights": max(
            p["agreement_ours_vs_learner_esympnet_same_weights"] for p in parts.values()
        ),
        "accuracy": {"rows": rows, "summary": _summary(rows, seeds)},
    }
    if timing:
        merged["timing"] = timing[0]
    print("wrote", write_result("sympnet_learner", merged, directory))


def main() -> None:
    parser = common_parser(__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=None, help="training iterations")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="training seeds")
    parser.add_argument("--window", type=float, default=0.3, help="seconds per timed window")
    parser.add_argument("--no-accuracy", action="store_true", help="timing only")
    parser.add_argument("--no-timing", action="store_true", help="accuracy only")
    parser.add_argument("--no-la", action="store_true", help="skip learner's LA-SympNet row")
    parser.add_argument(
        "--learner-iterations",
        type=int,
        nargs="*",
        default=[],
        help="extra rows: learner G-SympNet (float64) trained for these iteration counts",
    )
    parser.add_argument("--tag", default="", help="suffix of the JSON name")
    parser.add_argument("--merge", nargs="+", default=None, help="tags of split runs to combine")
    args = parser.parse_args()
    if args.merge:
        _merge(args.merge, args.out)
        return
    args.iterations = args.iterations or (1500 if args.quick else 20000)
    args.seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    args.rounds = args.rounds or (6 if args.quick else 20)
    torch.set_num_threads(args.threads)
    learner = _import_learner()

    data = sympnet_pendulum(rollout_steps=ROLLOUT_STEPS)
    path = torch.cat((data.x, data.y[-1:]))  # the 41 training states in order
    env = environment([], args.threads, "float64")
    env["learner"] = {"source": "github.com/jpzxshi/learner", "commit": LEARNER_COMMIT}
    payload: dict[str, Any] = {
        "benchmark": "sympnet_learner",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "environment": env,
        "protocol": {
            "system": "H = p^2/2 - cos q; learner x0 = (p, q) = (0, 1) = our (q, p) = (1, 0)",
            "h": data.h,
            "train_pairs": int(data.x.shape[0]),
            "test_pairs": int(data.test_x.shape[0]),
            "rollout_steps": ROLLOUT_STEPS,
            "iterations": args.iterations,
            "seeds": args.seeds,
            "rollout_mse": "mean over the 1001 states (start included) and both coordinates",
        },
        "agreement_ours_vs_learner_gsympnet_same_weights": _agreement(
            learner, torch.randn(32, 2, dtype=torch.float64)
        ),
        "agreement_ours_vs_learner_esympnet_same_weights": _agreement_extended(
            learner, torch.randn(32, 3, dtype=torch.float64)
        ),
    }
    for kind in ("gsympnet", "esympnet"):
        difference = payload[f"agreement_ours_vs_learner_{kind}_same_weights"]
        print(f"same weights, our {kind} vs learner's: max |Δ| = {difference:.2e}")
    if not args.no_timing:
        payload["timing"] = _timing(learner, args, data, path)
        rows = [
            {"ratio": k, "median": f"{v['median']:.3f}", "min": f"{v['min']:.3f}"}
            for k, v in payload["timing"]["ratios"].items()
        ]
        print_table(rows, ["ratio", "median", "min"])
        print("ms/iteration (cpu):", payload["timing"]["median_ms_per_iteration_cpu"])
    name = "sympnet_learner" + ("_quick" if args.quick else "")
    name += f"_{args.tag}" if args.tag else ""

    def checkpoint(rows: list) -> None:
        payload["accuracy"] = {"rows": rows, "partial": True}
        write_result(name, payload, args.out)

    if not args.no_accuracy:
        payload["accuracy"] = _accuracy(learner, args, data, path, checkpoint)
        summary = payload["accuracy"]["summary"]
        print_table(
            [
                {
                    "model": k,
                    "median": f"{v['rollout_mse_median']:.3e}",
                    "max": f"{v['rollout_mse_max']:.3e}",
                    "layer defect": f"{v['max_layer_defect']:.1e}",
                }
                for k, v in summary.items()
                if isinstance(v, dict) and "rollout_mse_median" in v
            ],
            ["model", "median", "max", "layer defect"],
        )
        print("bar (ours ≤ learner G-SympNet, every seed):", summary["bar_rollout_all_seeds"])
    env["load_average_at_end"] = list(os.getloadavg())
    env["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print("wrote", write_result(name, payload, args.out))


if __name__ == "__main__":
    main()
