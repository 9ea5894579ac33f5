"""Normalising flows on 2-D densities: structdl against zuko, normflows, nflows and FrEIA.

Questions (one process, same data stream, same optimiser and steps, seeds 0–4):

1. Test NLL: on each generated 2-D set (eight Gaussians, checkerboard, two spirals, moons,
   rings) train every flow for the same number of Adam steps on the same minibatches and
   report the test negative log-likelihood (nats), mean over seeds. Parameter counts are
   matched: each contender's hidden width is chosen so that its parameter count is the closest
   to our spline flow's.
2. Training throughput on moons: one training step (forward, backward, Adam step; batch 256)
   of every contender timed interleaved (order rotated every round), reported as the ratio
   ``t_ours / t_peer`` per round (median and min); ``≥ 1.2×`` the fastest peer's throughput
   means a ratio ``≤ 1/1.2 ≈ 0.83`` against it.
3. Robustness: NaN/inf count of our spline flow trained with 5 % of the inputs outside the
   spline interval (``--robust-steps`` steps).
4. Digits (``--parts digits``): bits per dimension on the test split of the dequantised 8×8
   digits (``x = (k + u)/17``), every model on ``y = logit(0.05 + 0.9x)`` with the logit's
   log-determinant added outside the model (the same for all), each library's standard
   autoregressive spline flow (FrEIA: its affine AllInOne coupling) with ``--digits-layers``
   transforms, widths matched to ours (≤ 1M parameters), the same minibatches and Adam steps
   (``--digits-steps``, batch 128, learning rate 1e-3); test dequantisation fixed per seed.

Contenders (each built from its library's public API):
    ours-spline     structdl SplineCoupling × L (bins 8, bound 4: the sets lie in [−4, 4]²;
                    the peers keep tail bound 5), alternating halves
    ours-affine     structdl AffineCoupling × 2L, alternating halves
    zuko-NSF        zuko.flows.NSF(2, transforms=L, bins=8)
    normflows-NSF   CoupledRationalQuadraticSpline × L (tail bound 5) + LULinearPermute
    normflows-RealNVP  MaskedAffineFlow × 2L (MLP s, t) + ActNorm
    nflows-NSF      PiecewiseRationalQuadraticCouplingTransform × L (tail bound 5) + reverse
    FrEIA-AllInOne  AllInOneBlock × 2L (affine coupling, soft permutation, ActNorm)

Digits contenders (64 features, spline interval ``[−3, 3]`` where the library takes one; the
logit data lie within ±2.95):
    ours-MAF-spline   structdl MaskedAutoregressive(transform="spline") + Reverse, × L
    zuko-NSF          zuko.flows.NSF(64, transforms=L) (its fixed interval [−5, 5])
    normflows-NSF     AutoregressiveRationalQuadraticSpline + LULinearPermute, × L
    nflows-NSF        MaskedPiecewiseRationalQuadraticAutoregressiveTransform (residual MADE)
                      + ReversePermutation, × L
    FrEIA-AllInOne    AllInOneBlock × 2L

Run: ``benchmarks/.envs/flows/bin/python benchmarks/flows.py [--quick]``
(environment: ``bash benchmarks/setup-peers.sh flows``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from _common import (
    common_parser,
    environment,
    interleaved_times,
    print_table,
    ratio_from_times,
    write_result,
)
from torch import nn

from structdl.experiments._density2d import DENSITY_SETS, sample_density_set

BOUND = 5.0
BINS = 8


def _mlp(c_in: int, c_out: int, hidden: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(c_in, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, c_out),
    )


class _LogProb(nn.Module):
    """A uniform ``log_prob(x)`` over every library."""

    def __init__(self, model: nn.Module, log_prob: Callable[[nn.Module, torch.Tensor], Any]):
        super().__init__()
        self.model = model
        self._log_prob = log_prob

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self._log_prob(self.model, x)


def ours_spline(hidden: int, layers: int) -> _LogProb:
    from structdl.experiments._density2d import build_flow

    flow = build_flow("spline", hidden=hidden, layers=layers, bins=BINS)
    return _LogProb(flow, lambda m, x: m.log_prob(x))


def ours_affine(hidden: int, layers: int) -> _LogProb:
    from structdl.experiments._density2d import build_flow

    flow = build_flow("affine", hidden=hidden, layers=layers)
    return _LogProb(flow, lambda m, x: m.log_prob(x))


def zuko_nsf(hidden: int, layers: int) -> _LogProb:
    import zuko

    flow = zuko.flows.NSF(2, transforms=layers, bins=BINS, hidden_features=(hidden, hidden))
    return _LogProb(flow, lambda m, x: m().log_prob(x))


def normflows_nsf(hidden: int, layers: int) -> _LogProb:
    import normflows as nf

    flows = []
    for _ in range(layers):
        flows.append(
            nf.flows.CoupledRationalQuadraticSpline(2, 2, hidden, num_bins=BINS, tail_bound=BOUND)
        )
        flows.append(nf.flows.LULinearPermute(2))
    model = nf.NormalizingFlow(nf.distributions.DiagGaussian(2, trainable=False), flows)
    return _LogProb(model, lambda m, x: m.log_prob(x))


def normflows_realnvp(hidden: int, layers: int) -> _LogProb:
    import normflows as nf

    flows = []
    for k in range(2 * layers):
        mask = torch.tensor([1.0, 0.0] if k % 2 == 0 else [0.0, 1.0])
        s = nf.nets.MLP([2, hidden, hidden, 2], init_zeros=True)
        t = nf.nets.MLP([2, hidden, hidden, 2], init_zeros=True)
        flows += [nf.flows.MaskedAffineFlow(mask, t, s), nf.flows.ActNorm(2)]
    model = nf.NormalizingFlow(nf.distributions.DiagGaussian(2, trainable=False), flows)
    return _LogProb(model, lambda m, x: m.log_prob(x))


def nflows_nsf(hidden: int, layers: int) -> _LogProb:
    from nflows.distributions.normal import StandardNormal
    from nflows.flows.base import Flow
    from nflows.nn.nets import ResidualNet
    from nflows.transforms.base import CompositeTransform
    from nflows.transforms.coupling import PiecewiseRationalQuadraticCouplingTransform
    from nflows.transforms.permutations import ReversePermutation

    transforms = []
    for _ in range(layers):
        transforms.append(
            PiecewiseRationalQuadraticCouplingTransform(
                mask=torch.tensor([1, 0]),
                transform_net_create_fn=lambda i, o: ResidualNet(i, o, hidden, num_blocks=1),
                num_bins=BINS,
                tails="linear",
                tail_bound=BOUND,
            )
        )
        transforms.append(ReversePermutation(2))
    flow = Flow(CompositeTransform(transforms), StandardNormal([2]))
    return _LogProb(flow, lambda m, x: m.log_prob(x))


def _freia_allinone(dim: int, hidden: int, layers: int) -> _LogProb:
    """FrEIA's AllInOneBlock stack on ``dim`` features (2-D sets and digits alike)."""
    import FrEIA.framework as Ff
    import FrEIA.modules as Fm

    inn = Ff.SequenceINN(dim)
    for _ in range(2 * layers):
        inn.append(
            Fm.AllInOneBlock,
            subnet_constructor=lambda c_in, c_out: _mlp(c_in, c_out, hidden),
            permute_soft=True,
        )

    def log_prob(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
        z, log_jac = m(x)
        return -0.5 * (z**2).sum(1) - 0.5 * dim * math.log(2 * math.pi) + log_jac

    return _LogProb(inn, log_prob)


def freia_allinone(hidden: int, layers: int) -> _LogProb:
    return _freia_allinone(2, hidden, layers)


CONTENDERS: dict[str, Callable[[int, int], _LogProb]] = {
    "ours-spline": ours_spline,
    "ours-affine": ours_affine,
    "zuko-NSF": zuko_nsf,
    "normflows-NSF": normflows_nsf,
    "normflows-RealNVP": normflows_realnvp,
    "nflows-NSF": nflows_nsf,
    "FrEIA-AllInOne": freia_allinone,
}
PEERS = ("zuko-NSF", "normflows-NSF", "normflows-RealNVP", "nflows-NSF", "FrEIA-AllInOne")


DIGITS_BOUND = 3.0


def digits_ours(hidden: int, layers: int) -> _LogProb:
    from structdl.invertible import Flow, MaskedAutoregressive, Reverse

    parts: list[nn.Module] = []
    for _ in range(layers):
        parts += [
            MaskedAutoregressive(
                64, transform="spline", hidden=hidden, bins=BINS, bound=DIGITS_BOUND
            ),
            Reverse(),
        ]
    flow = Flow(64, parts)
    return _LogProb(flow, lambda m, x: m.log_prob(x))


def digits_zuko(hidden: int, layers: int) -> _LogProb:
    import zuko

    flow = zuko.flows.NSF(64, transforms=layers, bins=BINS, hidden_features=(hidden, hidden))
    return _LogProb(flow, lambda m, x: m().log_prob(x))


def digits_normflows(hidden: int, layers: int) -> _LogProb:
    import normflows as nf

    flows = []
    for _ in range(layers):
        flows.append(
            nf.flows.AutoregressiveRationalQuadraticSpline(
                64, 2, hidden, num_bins=BINS, tail_bound=DIGITS_BOUND
            )
        )
        flows.append(nf.flows.LULinearPermute(64))
    model = nf.NormalizingFlow(nf.distributions.DiagGaussian(64, trainable=False), flows)
    return _LogProb(model, lambda m, x: m.log_prob(x))


def digits_nflows(hidden: int, layers: int) -> _LogProb:
    from nflows.distributions.normal import StandardNormal
    from nflows.flows.base import Flow
    from nflows.transforms.autoregressive import (
        MaskedPiecewiseRationalQuadraticAutoregressiveTransform,
    )
    from nflows.transforms.base import CompositeTransform
    from nflows.transforms.permutations import ReversePermutation

    transforms = []
    for _ in range(layers):
        transforms.append(
            MaskedPiecewiseRationalQuadraticAutoregressiveTransform(
                64, hidden, num_bins=BINS, tails="linear", tail_bound=DIGITS_BOUND, num_blocks=2
            )
        )
        transforms.append(ReversePermutation(64))
    flow = Flow(CompositeTransform(transforms), StandardNormal([64]))
    return _LogProb(flow, lambda m, x: m.log_prob(x))


def digits_freia(hidden: int, layers: int) -> _LogProb:
    return _freia_allinone(64, hidden, layers)


DIGITS_CONTENDERS: dict[str, Callable[[int, int], _LogProb]] = {
    "ours-MAF-spline": digits_ours,
    "zuko-NSF": digits_zuko,
    "normflows-NSF": digits_normflows,
    "nflows-NSF": digits_nflows,
    "FrEIA-AllInOne": digits_freia,
}


def _digits_width(
    build: Callable[[int, int], _LogProb], target: int, layers: int
) -> tuple[int, int]:
    """The hidden width (multiple of 8) whose parameter count is closest to ``target``."""
    low, high = 8, 1024
    while high - low > 8:  # parameter counts grow with the width
        mid = (low + high) // 16 * 8
        if _count(build(mid, layers)) < target:
            low = mid
        else:
            high = mid
    counts = {w: _count(build(w, layers)) for w in (low, high)}
    width = min(counts, key=lambda w: abs(counts[w] - target))
    return width, counts[width]


def digits_part(args: Any) -> dict[str, Any]:
    """Bits per dimension on the digits test split for every digits contender."""
    from structdl.data import digits_split
    from structdl.experiments.digits_density import _dequantise, _to_logit, bits_per_dim

    layers, hidden, steps, batch, lr = (
        args.digits_layers,
        args.digits_hidden,
        args.digits_steps,
        128,
        1e-3,
    )
    target = _count(digits_ours(hidden, layers))
    widths = {"ours-MAF-spline": (hidden, target)}
    for name, build in DIGITS_CONTENDERS.items():
        if name != "ours-MAF-spline":
            widths[name] = _digits_width(build, target, layers)
    print("digits parameters:", {k: v for k, v in widths.items()}, flush=True)
    results: dict[str, list[float]] = {}
    seconds: dict[str, list[float]] = {}
    for seed in range(args.digits_seeds):
        split = digits_split(seed=seed, flatten=True)
        x_test = _dequantise(split.x_test, torch.Generator().manual_seed(10_000 + seed))
        y_test, logdet_test = _to_logit(x_test)
        for name, build in DIGITS_CONTENDERS.items():
            torch.manual_seed(seed)
            model = build(widths[name][0], layers)
            optimiser = torch.optim.Adam(model.parameters(), lr=lr)
            gen = torch.Generator().manual_seed(seed)
            start = time.process_time()
            for _ in range(steps):
                rows = torch.randint(0, split.x_train.shape[0], (batch,), generator=gen)
                y, logdet = _to_logit(_dequantise(split.x_train[rows], gen))
                optimiser.zero_grad()
                loss = -(model.log_prob(y) + logdet).mean()
                loss.backward()
                optimiser.step()
            seconds.setdefault(name, []).append(time.process_time() - start)
            with torch.no_grad():
                bpd = float(bits_per_dim(model.log_prob(y_test) + logdet_test).mean())
            results.setdefault(name, []).append(bpd)
            print(f"digits seed {seed} {name:16s} bits/dim {bpd:.4f}", flush=True)
    means = {name: sum(v) / len(v) for name, v in results.items()}
    peers = [n for n in means if n != "ours-MAF-spline"]
    best_peer = min(peers, key=means.__getitem__)
    table = [
        {
            "model": name,
            "hidden": widths[name][0],
            "parameters": widths[name][1],
            "bits/dim": f"{means[name]:.4f}",
            "train CPU s": f"{sum(seconds[name]) / len(seconds[name]):.0f}",
        }
        for name in DIGITS_CONTENDERS
    ]
    print_table(table, ["model", "hidden", "parameters", "bits/dim", "train CPU s"])
    print(
        f"best peer {best_peer}; ours ≤ best peer: {means['ours-MAF-spline'] <= means[best_peer]}"
    )
    return {
        "settings": {
            "layers": layers,
            "steps": steps,
            "batch": batch,
            "lr": lr,
            "seeds": args.digits_seeds,
        },
        "parameters": {k: {"hidden": v[0], "count": v[1]} for k, v in widths.items()},
        "bits_per_dim_per_seed": results,
        "bits_per_dim_mean": means,
        "train_cpu_seconds": seconds,
        "best_peer": best_peer,
        "ours_at_most_best_peer": means["ours-MAF-spline"] <= means[best_peer],
        "table": table,
    }


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def matched_width(name: str, target: int, layers: int) -> tuple[int, int]:
    """The hidden width whose parameter count is closest to ``target``; (width, count)."""
    best = (0, 0)
    for width in range(4, 257, 2):
        count = _count(CONTENDERS[name](width, layers))
        if best[0] == 0 or abs(count - target) < abs(best[1] - target):
            best = (width, count)
        if count > 1.3 * target:
            break
    return best


def train(model: _LogProb, name: str, steps: int, batch: int, lr: float, seed: int) -> int:
    """Adam on the set ``name``; the minibatch of step k is the same for every contender."""
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    bad = 0
    for step in range(steps):
        x = sample_density_set(name, batch, seed=seed * 1_000_003 + step + 1)
        optimiser.zero_grad()
        loss = -model.log_prob(x).mean()
        if not torch.isfinite(loss):
            bad += 1
            continue
        loss.backward()
        optimiser.step()
    return bad


def test_nll(model: _LogProb, name: str, n: int, seed: int) -> float:
    x = sample_density_set(name, n, seed=777_777 + seed)
    with torch.no_grad():
        return float(-model.log_prob(x).mean())


def robustness(steps: int, hidden: int, layers: int) -> dict[str, Any]:
    """NaN/inf count of our spline flow with 5 % of the inputs outside ``[−B, B]``."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = ours_spline(hidden, layers)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    bad = 0
    start = time.perf_counter()
    for step in range(steps):
        x = sample_density_set("moons", 256, seed=step + 1)
        outside = torch.rand(256, generator=gen) < 0.05
        far = BOUND * (1.5 + 10 * torch.rand(256, 2, generator=gen))
        signs = torch.randint(0, 2, (256, 2), generator=gen) * 2 - 1
        x = torch.where(outside[:, None], signs * far, x)
        optimiser.zero_grad()
        loss = -model.log_prob(x).mean()
        loss.backward()
        grads_ok = all(torch.isfinite(p.grad).all() for p in model.parameters())
        bad += int(not torch.isfinite(loss)) + int(not grads_ok)
        optimiser.step()
    bad += sum(int(not torch.isfinite(p).all()) for p in model.parameters())
    return {"steps": steps, "non_finite": bad, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = common_parser(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="Adam steps per run")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0 … n−1")
    parser.add_argument("--sets", nargs="*", default=None, help="density sets")
    parser.add_argument("--robust-steps", type=int, default=None)
    parser.add_argument(
        "--parts",
        default="nll,throughput,robust",
        help="comma list of nll,throughput,robust,digits",
    )
    parser.add_argument("--tag", default="", help="suffix of the JSON name (parallel parts)")
    parser.add_argument(
        "--nll-contenders", nargs="*", default=None, help="contenders of the NLL part (all)"
    )
    parser.add_argument("--digits-steps", type=int, default=1000, help="Adam steps (digits)")
    parser.add_argument("--digits-layers", type=int, default=4, help="transforms (digits)")
    parser.add_argument("--digits-hidden", type=int, default=128, help="our MADE width (digits)")
    parser.add_argument("--digits-seeds", type=int, default=1, help="seeds (digits)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    torch.set_num_threads(args.threads)
    env = environment(["zuko", "normflows", "nflows", "FrEIA"], args.threads, "float32")
    quick = args.quick
    steps = args.steps or (150 if quick else 1000)
    seeds = args.seeds or (1 if quick else 5)
    sets = args.sets or (["moons", "eight_gaussians"] if quick else list(DENSITY_SETS))
    rounds = args.rounds or (10 if quick else 20)
    robust_steps = args.robust_steps or (200 if quick else 10_000)
    hidden, layers, batch, lr, n_test = 64, 4, 256, 2e-3, 5000

    target = _count(ours_spline(hidden, layers))
    widths = {"ours-spline": (hidden, target)}
    for name in CONTENDERS:
        if name != "ours-spline":
            widths[name] = matched_width(name, target, layers)
    print(f"parameters (target {target}):", {k: v[1] for k, v in widths.items()})

    results: dict[str, dict[str, list[float]]] = {n: {} for n in sets}
    non_finite: dict[str, int] = {name: 0 for name in CONTENDERS}
    for name in sets if "nll" in parts else []:
        for seed in range(seeds):
            for contender in args.nll_contenders or CONTENDERS:
                build = CONTENDERS[contender]
                torch.manual_seed(seed)
                model = build(widths[contender][0], layers)
                non_finite[contender] += train(model, name, steps, batch, lr, seed)
                nll = test_nll(model, name, n_test, seed)
                results[name].setdefault(contender, []).append(nll)
                print(f"{name:16s} seed {seed} {contender:18s} NLL {nll:.4f}", flush=True)

    rows = []
    for name in sets if "nll" in parts else []:
        means = {c: sum(v) / len(v) for c, v in results[name].items()}
        best_peer = min(PEERS, key=means.__getitem__)
        row: dict[str, Any] = {"set": name, **{c: f"{m:.4f}" for c, m in means.items()}}
        row["best peer"] = best_peer
        row["ours-spline ≤ best peer"] = means["ours-spline"] <= means[best_peer]
        rows.append(row)
    if rows:
        shown = [c for c in CONTENDERS if c in results[sets[0]]]
        print_table(rows, ["set", *shown, "best peer", "ours-spline ≤ best peer"])
    payload: dict[str, Any] = {
        "environment": env,
        "settings": {
            "quick": quick,
            "steps": steps,
            "seeds": seeds,
            "sets": sets,
            "batch": batch,
            "lr": lr,
            "layers": layers,
            "n_test": n_test,
            "rounds": rounds,
            "parts": sorted(parts),
        },
        "parameters": {k: {"hidden": v[0], "count": v[1]} for k, v in widths.items()},
    }
    if "nll" in parts:
        payload["test_nll_per_seed"] = results
        payload["test_nll_table"] = rows
        payload["non_finite_training_steps"] = non_finite
    if "throughput" in parts:
        payload["throughput_moons"] = throughput_part(widths, layers, lr, batch, rounds, args)
    if "digits" in parts:
        payload["digits"] = digits_part(args)
    if "robust" in parts:
        payload["robustness_outside_interval"] = robustness(robust_steps, hidden, layers)
        print("robustness:", payload["robustness_outside_interval"])
    name = ("flows_quick" if quick else "flows") + (f"_{args.tag}" if args.tag else "")
    print("wrote", write_result(name, payload, args.out))


def throughput_part(widths, layers, lr, batch, rounds, args) -> dict[str, Any]:
    """One training step of every contender on moons, interleaved; ratios ours / peer."""

    sides = {}
    for contender, build in CONTENDERS.items():
        torch.manual_seed(0)
        model = build(widths[contender][0], layers)
        optimiser = torch.optim.Adam(model.parameters(), lr=lr)
        x = sample_density_set("moons", batch, seed=1)

        def step(model=model, optimiser=optimiser, x=x) -> None:
            optimiser.zero_grad()
            (-model.log_prob(x).mean()).backward()
            optimiser.step()

        sides[contender] = step
    times = interleaved_times(sides, rounds=rounds, warmup=args.warmup)
    per_side = {
        label: 1e3 * sorted(values)[len(values) // 2] for label, values in times["seconds"].items()
    }
    table = []
    for ours in ("ours-spline", "ours-affine"):
        for peer in PEERS:
            ratio = ratio_from_times(times, ours, peer)
            table.append(
                {
                    "ours": ours,
                    "peer": peer,
                    "median t_ours/t_peer": round(ratio.median, 3),
                    "min": round(ratio.min, 3),
                    "ours ms/step": round(per_side[ours], 3),
                    "peer ms/step": round(per_side[peer], 3),
                }
            )
    print_table(
        table, ["ours", "peer", "median t_ours/t_peer", "min", "ours ms/step", "peer ms/step"]
    )
    fastest = min(PEERS, key=per_side.__getitem__)
    best_ours = min(("ours-spline", "ours-affine"), key=per_side.__getitem__)
    speedup = {
        ours: 1.0 / ratio_from_times(times, ours, fastest).median
        for ours in ("ours-spline", "ours-affine")
    }
    print(f"fastest peer {fastest}; speed-up of ours against it: {speedup}")
    return {
        "median_ms_per_step": per_side,
        "pairs": table,
        "fastest_peer": fastest,
        "fastest_ours": best_ours,
        "speedup_vs_fastest_peer": speedup,
        "seconds": times["seconds"],
        "inner": times["inner"],
    }


if __name__ == "__main__":
    main()
