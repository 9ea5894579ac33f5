"""Manifold constraints and Riemannian optimisers against geoopt 0.5.1 and geotorch 0.4.0.

Five questions, one section each (``--section``):

- ``drift``: orthogonality drift ``max|WᵀW − I|`` (float32) of a square Stiefel weight after
  N Adam steps at lr 1e-2 on ``‖W − T‖²`` (T a fixed Gaussian target), with no periodic
  re-projection: ours (RiemannianAdam, every retraction), geoopt's RiemannianAdam on its
  canonical (Cayley) and Euclidean Stiefel manifolds (``stabilize=None``), geotorch's
  ``orthogonal`` parametrisation with torch's Adam; the same for ours on the sphere, the
  oblique manifold and SO(n) (128 × 128). The defect is recorded every ``N/10`` steps, so a
  drift that grows shows as a growing column.
- ``time``: one optimiser step (zero_grad, forward, backward, step) on the same loss,
  interleaved rounds: ours (QR and Cayley) against unconstrained torch Adam, geoopt (canonical)
  and geotorch; ratios ``t_ours / t_other``.
- ``train``: a different measure — a whole training step (forward, backward, step) of the
  orthogonal RNN of the riemannian-training experiment (copy task, ``T = 40``, batch 64) with
  a 128² / 256² recurrent weight: ours (RiemannianAdam, QR and Cayley) against the same RNN
  with a free weight and torch Adam, and against geoopt.
- ``floor``: single-call times of what a square Stiefel step cannot avoid (an ``n × n``
  product, the LU solve of the Cayley map, a QR) against ``Adam.step`` and a whole Adam
  training step, to show where the ``time`` ratio comes from.
- ``register``: registration of a tall 30000 × 50 Stiefel weight on ``nn.Linear(50, 30000)``
  — ours ``constrain(..., Stiefel())`` against ``geotorch.orthogonal`` (geotorch issue #30
  reports 20 minutes).

Run with ``benchmarks/.envs/manifolds/bin/python benchmarks/manifolds.py [--quick]``; peers
that are not installed are skipped and recorded as missing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    common_parser,
    environment,
    interleaved_times,
    print_table,
    ratio_from_times,
    write_result,
)

from structdl.manifolds import (  # noqa: E402
    ManifoldParameter,
    Oblique,
    SpecialOrthogonal,
    Sphere,
    Stiefel,
    constrain,
)
from structdl.optim import RiemannianAdam  # noqa: E402

try:
    import geoopt
except ImportError:  # pragma: no cover - peer missing
    geoopt = None
try:
    import geotorch
except ImportError:  # pragma: no cover - peer missing
    geotorch = None

LR = 1e-2


def _orth_defect(w: torch.Tensor) -> float:
    w = w.detach().double()
    return float((w.T @ w - torch.eye(w.shape[1], dtype=torch.float64)).abs().max())


def _problem(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    start = Stiefel().random_point(n, n, generator=gen)
    target = torch.randn(n, n, generator=gen)
    return start, target


def _ours(manifold: Any, start: torch.Tensor):
    w = ManifoldParameter(start.clone(), manifold)
    return w, RiemannianAdam([w], lr=LR), (lambda: w)


def _geoopt(canonical: bool, start: torch.Tensor):  # noqa: FBT001
    w = geoopt.ManifoldParameter(start.clone(), manifold=geoopt.Stiefel(canonical=canonical))
    return w, geoopt.optim.RiemannianAdam([w], lr=LR, stabilize=None), (lambda: w)


def _geotorch(start: torch.Tensor):
    layer = torch.nn.Linear(start.shape[1], start.shape[0], bias=False)
    geotorch.orthogonal(layer, "weight")
    layer.weight = start.clone()
    return layer, torch.optim.Adam(layer.parameters(), lr=LR), (lambda: layer.weight)


def _adam(start: torch.Tensor):
    w = torch.nn.Parameter(start.clone())
    return w, torch.optim.Adam([w], lr=LR), (lambda: w)


def _stepper(opt: torch.optim.Optimizer, weight, target: torch.Tensor):  # noqa: ANN001, ANN202
    def step() -> None:
        opt.zero_grad()
        ((weight() - target) ** 2).sum().backward()
        opt.step()

    return step


def _sides(n: int, seed: int, names: list[str]) -> dict[str, Any]:
    start, target = _problem(n, seed)
    makers = {
        **{f"ours-{m}": (lambda m=m: _ours(Stiefel(m), start)) for m in Stiefel.retractions},
        "geoopt-canonical": lambda: _geoopt(True, start),
        "geoopt-euclidean": lambda: _geoopt(False, start),
        "geotorch": lambda: _geotorch(start),
        "adam-unconstrained": lambda: _adam(start),
    }
    out = {}
    for name in names:
        if name.startswith("geoopt") and geoopt is None or name == "geotorch" and geotorch is None:
            continue
        _, opt, weight = makers[name]()
        out[name] = (_stepper(opt, weight, target), weight)
    return out


def drift_section(
    sizes: list[int],
    steps: int,
    seed: int,
    *,
    stiefel_only: bool = False,
    sides: list[str] | None = None,
) -> list[dict[str, Any]]:
    rows = []
    names = [f"ours-{m}" for m in Stiefel.retractions]
    names += ["geoopt-canonical", "geoopt-euclidean", "geotorch"]
    names = [n for n in names if sides is None or n in sides]
    checkpoints = max(1, steps // 10)
    for n in sizes:
        for name, (step, weight) in _sides(n, seed, names).items():
            start = time.perf_counter()
            trace = []
            for k in range(1, steps + 1):
                step()
                if k % checkpoints == 0:
                    trace.append(_orth_defect(weight()))
                    print(f"  n={n} {name} step {k}: {trace[-1]:.3g}", flush=True)
            rows.append(
                {
                    "manifold": "Stiefel",
                    "n": n,
                    "side": name,
                    "steps": steps,
                    "drift": trace[-1],
                    "trace": trace,
                    "seconds": round(time.perf_counter() - start, 1),
                }
            )
            print(f"drift n={n} {name}: {trace[-1]:.3g} ({rows[-1]['seconds']} s)", flush=True)
    if stiefel_only:
        return rows
    # The other manifolds (ours): sphere rows, oblique columns and SO(n), n × n.
    gen = torch.Generator().manual_seed(seed)
    n = min(sizes)
    for manifold_cls in (Sphere, Oblique, SpecialOrthogonal):
        for method in manifold_cls.retractions:
            manifold = manifold_cls(method)
            x = manifold.random_point(n, n, generator=gen)
            target = torch.randn(n, n, generator=gen)
            w, opt, weight = _ours(manifold, x)
            step = _stepper(opt, weight, target)
            start = time.perf_counter()
            for _ in range(steps):
                step()
            defect = float(manifold.defect(w.detach()).max())
            rows.append(
                {
                    "manifold": manifold.name,
                    "n": n,
                    "side": f"ours-{method}",
                    "steps": steps,
                    "drift": defect,
                    "trace": [],
                    "seconds": round(time.perf_counter() - start, 1),
                }
            )
            print(f"drift {manifold.name} n={n} {method}: {defect:.3g}", flush=True)
    return rows


def _ours_over_others(
    times: dict[str, Any], names: list[str], setting: dict[str, Any]
) -> list[dict[str, Any]]:
    """One row per (our QR/Cayley side, other side): median and min ratio, and the times."""
    rows = []
    for ours in ("ours-qr", "ours-cayley"):
        for other in names:
            if other.startswith("ours"):
                continue
            ratio = ratio_from_times(times, ours, other)
            rows.append(
                {
                    **setting,
                    "ours": ours,
                    "other": other,
                    "median": round(ratio.median, 3),
                    "min": round(ratio.min, 3),
                    "ours_ms": round(1e3 * ratio.as_dict()["median_seconds_a"], 3),
                    "other_ms": round(1e3 * ratio.as_dict()["median_seconds_b"], 3),
                }
            )
    return rows


def time_section(sizes: list[int], rounds: int, warmup: int, seed: int) -> list[dict[str, Any]]:
    rows = []
    names = ["ours-qr", "ours-cayley", "adam-unconstrained", "geoopt-canonical", "geotorch"]
    for n in sizes:
        sides = {name: fn for name, (fn, _) in _sides(n, seed, names).items()}
        times = interleaved_times(sides, rounds=rounds, warmup=warmup)
        rows.extend(_ours_over_others(times, list(sides), {"n": n}))
    return rows


def _rnn_side(name: str, n: int, seed: int):  # noqa: ANN202
    """One copy-task training step of an orthogonal RNN (hidden n): model, optimiser."""
    from structdl.manifolds import OrthogonalRNN

    torch.manual_seed(seed)
    if name.startswith("ours-"):
        rnn = OrthogonalRNN(6, n, 5, mode="riemannian", retraction=name[5:], all_outputs=True)
        return rnn, RiemannianAdam(rnn.parameters(), lr=LR)
    rnn = OrthogonalRNN(6, n, 5, mode="free", all_outputs=True)
    if name == "geoopt-canonical":
        start = rnn.recurrent.detach().clone()
        rnn.recurrent = geoopt.ManifoldParameter(start, manifold=geoopt.Stiefel(canonical=True))
        return rnn, geoopt.optim.RiemannianAdam(rnn.parameters(), lr=LR, stabilize=None)
    return rnn, torch.optim.Adam(rnn.parameters(), lr=LR)


def train_section(
    sizes: list[int], rounds: int, warmup: int, seed: int, batch: int, delay: int
) -> list[dict[str, Any]]:
    """A full training step (forward, backward, step) of an orthogonal RNN on the copy task.

    A different measure from ``time``: the optimiser step inside a model's step. Task of the
    riemannian-training experiment (alphabet 4, K = 5 symbols, delay ``delay``, so
    ``T = 10 + delay`` steps; one-hot inputs of width 6, 5 classes, outputs at every step),
    batch ``batch``, hidden ``n``. Ours (``OrthogonalRNN(mode="riemannian")`` +
    ``RiemannianAdam``, QR and Cayley) against the same RNN with an unconstrained recurrent
    weight and torch's Adam, and geoopt's canonical Stiefel + its RiemannianAdam.
    """
    gen = torch.Generator().manual_seed(seed)
    k, alphabet = 5, 4
    length = 2 * k + delay
    symbols = torch.randint(0, alphabet, (batch, k), generator=gen)
    inputs = torch.full((batch, length), alphabet, dtype=torch.long)
    inputs[:, :k] = symbols
    inputs[:, k + delay - 1] = alphabet + 1
    targets = torch.full((batch, length), alphabet, dtype=torch.long)
    targets[:, k + delay :] = symbols
    x = torch.nn.functional.one_hot(inputs, alphabet + 2).float()
    y = targets.reshape(-1)
    names = ["ours-qr", "ours-cayley", "adam-unconstrained"]
    names += ["geoopt-canonical"] if geoopt is not None else []
    rows = []
    for n in sizes:
        sides = {}
        for name in names:
            rnn, opt = _rnn_side(name, n, seed)

            def step(rnn=rnn, opt=opt) -> None:  # noqa: ANN001
                opt.zero_grad()
                logits = rnn(x)
                torch.nn.functional.cross_entropy(logits.reshape(-1, 5), y).backward()
                opt.step()

            sides[name] = step
        times = interleaved_times(sides, rounds=rounds, warmup=warmup)
        for row in _ours_over_others(times, list(sides), {"n": n, "T": length, "batch": batch}):
            rows.append(row)
            print(f"train n={n} {row['ours']}/{row['other']}: {row['median']:.3f}", flush=True)
    return rows


def _floor_parts(n: int, seed: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(seed)
    x = Stiefel().random_point(n, n, generator=gen)
    g = torch.randn(n, n, generator=gen)
    omega = 0.01 * (g - g.T)
    lhs = torch.eye(n) - 0.5 * omega
    w = torch.nn.Parameter(x.clone())
    w.grad = g.clone()
    adam = torch.optim.Adam([w], lr=LR)
    adam.step()
    sides = _sides(n, seed, ["adam-unconstrained", "ours-qr", "ours-cayley"])
    return {
        "matmul n×n": lambda: x @ g,
        "LU solve X(I−Ω/2)⁻¹": lambda: torch.linalg.solve(lhs, x, left=False),
        "Householder QR": lambda: torch.linalg.qr(x + omega),
        "Adam.step alone": adam.step,
        "Adam training step": sides["adam-unconstrained"][0],
        "ours-qr training step": sides["ours-qr"][0],
        "ours-cayley training step": sides["ours-cayley"][0],
    }


def floor_section(sizes: list[int], seed: int) -> list[dict[str, Any]]:
    """What a square Stiefel step cannot avoid, against an Adam step (median of 31 windows).

    Single calls at ``n × n`` (float32): one matrix product (the Riemannian gradient
    ``X sym(XᵀG)`` needs two, the transport of Adam's first moment two more), an LU solve
    ``X (I − Ω/2)⁻¹`` (the Cayley map), a QR factorisation; against torch's ``Adam.step`` alone
    and a whole unconstrained training step on ``‖W − T‖²`` (zero_grad, forward, backward,
    step) — the denominator of the ``time`` section — and our whole Riemannian step.
    """
    from _common import time_once

    rows = []
    for n in sizes:
        parts = _floor_parts(n, seed)
        for name, fn in parts.items():
            fn()
            inner = 20 if n <= 256 else 5
            samples = sorted(time_once(fn, inner) for _ in range(31))
            rows.append({"n": n, "part": name, "us": round(1e6 * samples[15], 1)})
            print(f"floor n={n} {name}: {rows[-1]['us']} us", flush=True)
    return rows


_GEOTORCH_REGISTER = """
import time, torch, geotorch
torch.set_num_threads({threads})
layer = torch.nn.Linear({cols}, {rows}, bias=False)
start = time.perf_counter()
geotorch.orthogonal(layer, "weight")
print(time.perf_counter() - start)
"""


def _geotorch_register(rows_n: int, cols: int, limit: float, threads: int) -> dict[str, Any]:
    """geotorch's registration in a child process, stopped after ``limit`` seconds."""
    import subprocess

    code = _GEOTORCH_REGISTER.format(rows=rows_n, cols=cols, threads=threads)
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=limit, check=True
        )
        seconds = float(done.stdout.strip().splitlines()[-1])
        return {"median_s": round(seconds, 4), "min_s": round(seconds, 4), "drift_after": "n/a"}
    except subprocess.TimeoutExpired:
        return {"median_s": f"> {limit:g} (stopped)", "min_s": "", "drift_after": "n/a"}


def register_section(
    rows_n: int, cols: int, repeats: int, limit: float = 300.0, threads: int = 1
) -> list[dict[str, Any]]:
    rows = []
    sides = {"ours-constrain": lambda layer: constrain(layer, "weight", Stiefel())}
    if geotorch is not None:
        row = {"side": "geotorch-orthogonal", "shape": f"{rows_n}x{cols}"}
        rows.append(row | _geotorch_register(rows_n, cols, limit, threads))
        print(f"register geotorch-orthogonal: {rows[-1]['median_s']} s", flush=True)
    for name, register in sides.items():
        seconds = []
        for _ in range(repeats):
            layer = torch.nn.Linear(cols, rows_n, bias=False)
            start = time.perf_counter()
            register(layer)
            seconds.append(time.perf_counter() - start)
        rows.append(
            {
                "side": name,
                "shape": f"{rows_n}x{cols}",
                "median_s": round(sorted(seconds)[len(seconds) // 2], 4),
                "min_s": round(min(seconds), 4),
                "drift_after": f"{_orth_defect(layer.weight):.2g}",
            }
        )
        print(f"register {name}: {rows[-1]['median_s']} s", flush=True)
    return rows


def main() -> None:
    parser = common_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--section", choices=["drift", "time", "train", "floor", "register", "all"], default="all"
    )
    parser.add_argument("--steps", type=int, default=None, help="drift steps (default 10000)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="Stiefel n × n sizes")
    parser.add_argument("--tag", default="", help="suffix of the result file name")
    parser.add_argument(
        "--stiefel-only", action="store_true", help="drift: skip sphere, oblique and SO(n)"
    )
    parser.add_argument("--sides", nargs="+", default=None, help="drift: only these sides")
    parser.add_argument("--batch", type=int, default=64, help="train: batch size")
    parser.add_argument("--delay", type=int, default=30, help="train: copy-task delay")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    sizes = args.sizes or ([64] if args.quick else [128, 512])
    steps = args.steps or (300 if args.quick else 10_000)
    rounds = args.rounds or (10 if args.quick else 20)
    payload: dict[str, Any] = {
        "environment": environment(["geoopt", "geotorch"], args.threads, "float32"),
        "config": {"sizes": sizes, "steps": steps, "rounds": rounds, "lr": LR},
    }
    if args.section in ("drift", "all"):
        payload["drift"] = drift_section(
            sizes, steps, args.seed, stiefel_only=args.stiefel_only, sides=args.sides
        )
        print_table(payload["drift"], ["manifold", "n", "side", "steps", "drift", "seconds"])
    if args.section in ("time", "all"):
        time_sizes = sorted({min(s, 256) for s in sizes} | ({256} if not args.quick else set()))
        payload["time"] = time_section(time_sizes, rounds, args.warmup, args.seed)
        print_table(payload["time"], ["n", "ours", "other", "median", "min", "ours_ms", "other_ms"])
    if args.section in ("train", "all"):
        train_sizes = [64] if args.quick else sorted({min(s, 256) for s in sizes} | {256})
        payload["train"] = train_section(
            train_sizes, rounds, args.warmup, args.seed, args.batch, args.delay
        )
        print_table(
            payload["train"], ["n", "T", "ours", "other", "median", "min", "ours_ms", "other_ms"]
        )
    if args.section in ("floor", "all"):
        floor_sizes = [64] if args.quick else sorted({min(s, 256) for s in sizes} | {256})
        payload["floor"] = floor_section(floor_sizes, args.seed)
        print_table(payload["floor"], ["n", "part", "us"])
    if args.section in ("register", "all"):
        shape = (3000, 50) if args.quick else (30000, 50)
        payload["register"] = register_section(
            *shape,
            repeats=3 if args.quick else 5,
            limit=30.0 if args.quick else 300.0,
            threads=args.threads,
        )
        print_table(payload["register"], ["side", "shape", "median_s", "min_s", "drift_after"])
    name = (
        "manifolds"
        + ("_quick" if args.quick else "")
        + ("" if args.section == "all" else f"_{args.section}")
    )
    name += f"_{args.tag}" if args.tag else ""
    print("wrote", write_result(name, payload, args.out))


if __name__ == "__main__":
    main()
