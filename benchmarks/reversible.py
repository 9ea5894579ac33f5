"""Reversible backpropagation: structdl against torch.utils.checkpoint, memcnn, revlib, momentumnet.

Two networks, each trained one step (forward + backward) on the same inputs:

- ``mlp``: ``depth`` RevNet blocks on width 128 (halves of 64), ``F, G = Linear(64, 64) +
  tanh``, batch 1024, float32;
- ``conv``: ``depth`` RevNet blocks on 32 channels (halves of 16), ``F, G = Conv3×3(16, 16) +
  BatchNorm + ReLU``, batch 32, 32×32 images, float32.

Sides (each with its own deep copy of the same initial weights):

- ``plain``: structdl ``Compose`` of the blocks (plain autograd, every activation stored);
- ``ours``: ``structdl.invertible.ReversibleSequential`` of the same blocks;
- ``ours-fixed``: the same with fixed-point additions (``RevNetBlock(f, g, fixed_point=16)``:
  ``F``, ``G`` and the input rounded to the grid ``2^-16``, straight-through gradient), whose
  inverses are exact bit for bit; ``plain-fixed`` is that network under plain autograd (the
  reference of its gradients and BatchNorm statistics, and a timed side);
- ``checkpoint``: ``torch.utils.checkpoint.checkpoint_sequential`` with √depth segments;
- ``memcnn``: ``memcnn.InvertibleModuleWrapper(memcnn.AdditiveCoupling(F, G), keep_input=False,
  keep_input_inverse=False)`` per block (the same ``y₁ = x₁ + F(x₂)``, ``y₂ = x₂ + G(y₁)``);
- ``revlib``: ``revlib.ReversibleSequential(F₁, G₁, F₂, G₂, …, split_dim=1)`` (each module one
  additive coupling of the two streams: the same arithmetic);
- ``momentumnet``: ``momentumnet.MomentumNet`` (``use_backprop=False``, γ = 0.9) — a different
  reversible architecture (momentum residual network), with per-layer functions of the same
  multiply-add count (``Linear(128, 32) + tanh + Linear(32, 128)``; conv: ``Conv(32→8)`` + BN +
  ReLU + ``Conv(8→32)``), so its times compare work of equal size, not equal maps.

Figures: forward+backward time ratios ``t_ours / t_side`` over interleaved rounds (median,
min); memory as (a) live saved-tensor bytes (``saved_tensors_hooks``, ours and plain, the
protocol's figure for our code) and (b) the resident-set-size delta across one forward pass
after a warm-up, every side, with ``MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=0`` so
that freed memory goes back to the system (the script re-executes itself with them); gradient
agreement with ``plain`` (max |Δ| / max |g|); and, for the conv net, BatchNorm running
statistics after one training step against ``plain`` (memcnn#12: statistics updated twice under
recomputation).

Run: ``benchmarks/.envs/reversible/bin/python benchmarks/reversible.py [--quick]``; a missing
peer is skipped and recorded.
"""

from __future__ import annotations

import copy
import gc
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    common_parser,
    environment,
    interleaved_times,
    print_table,
    ratio_from_times,
    write_result,
)

from structdl.invertible import (  # noqa: E402
    Compose,
    FixedPoint,
    ReversibleSequential,
    RevNetBlock,
)

#: Fraction bits of the fixed-point side (grid 2^-16, exact below 256 in float32).
FIXED_POINT_BITS = 16
GRID = FixedPoint(FIXED_POINT_BITS)
_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
PEERS = ("memcnn", "revlib", "momentumnet")


def _import(name: str) -> Any:
    try:
        return __import__(name)
    except Exception:  # noqa: BLE001 - a broken peer install is recorded as missing
        return None


memcnn, revlib, momentumnet = (_import(name) for name in PEERS)


# --------------------------------------------------------------------------------------------
# Networks


def _mlp_pair(width: int) -> tuple[nn.Module, nn.Module]:
    half = width // 2
    return (
        nn.Sequential(nn.Linear(half, half), nn.Tanh()),
        nn.Sequential(nn.Linear(half, half), nn.Tanh()),
    )


def _conv_pair(channels: int) -> tuple[nn.Module, nn.Module]:
    half = channels // 2

    def sub() -> nn.Module:
        return nn.Sequential(nn.Conv2d(half, half, 3, padding=1), nn.BatchNorm2d(half), nn.ReLU())

    return sub(), sub()


def _momentum_function(kind: str, width: int) -> nn.Module:
    if kind == "mlp":
        return nn.Sequential(nn.Linear(width, width // 4), nn.Tanh(), nn.Linear(width // 4, width))
    return nn.Sequential(
        nn.Conv2d(width, width // 4, 3, padding=1),
        nn.BatchNorm2d(width // 4),
        nn.ReLU(),
        nn.Conv2d(width // 4, width, 3, padding=1),
    )


def _sides(
    kind: str, depth: int, width: int
) -> tuple[dict[str, nn.Module], dict[str, list[nn.Module]]]:
    """Each side (x -> output) on its own copy of the same initial ``(F, G)`` pairs.

    Also returns, per side, its ``F₁, G₁, F₂, G₂, …`` modules in that order, so that
    gradients and BatchNorm buffers are compared in one canonical order whatever order a
    library registers its submodules in (memcnn registers ``Gm`` before ``Fm``).
    """
    make = _mlp_pair if kind == "mlp" else _conv_pair
    pairs = [make(width) for _ in range(depth)]
    sides: dict[str, nn.Module] = {}
    order: dict[str, list[nn.Module]] = {}

    def fresh(name: str) -> list[tuple[nn.Module, nn.Module]]:
        copied = copy.deepcopy(pairs)
        order[name] = [m for pair in copied for m in pair]
        return copied

    sides["plain"] = Compose([RevNetBlock(f, g) for f, g in fresh("plain")])
    sides["ours"] = ReversibleSequential(*[RevNetBlock(f, g) for f, g in fresh("ours")])
    fixed = ReversibleSequential(
        *[RevNetBlock(f, g, fixed_point=FIXED_POINT_BITS) for f, g in fresh("ours-fixed")]
    )
    sides["ours-fixed"] = _Wrapped(fixed, lambda x, n=fixed: n(GRID.round(x)))
    # The fixed-point network under plain autograd: the reference of "ours-fixed".
    fixed_plain = Compose(
        [RevNetBlock(f, g, fixed_point=FIXED_POINT_BITS) for f, g in fresh("plain-fixed")]
    )
    sides["plain-fixed"] = _Wrapped(fixed_plain, lambda x, n=fixed_plain: n(GRID.round(x)))
    chain = nn.Sequential(*[RevNetBlock(f, g) for f, g in fresh("checkpoint")])
    segments = max(1, round(math.sqrt(depth)))
    from torch.utils.checkpoint import checkpoint_sequential

    sides["checkpoint"] = _Wrapped(
        chain, lambda x, c=chain: checkpoint_sequential(c, segments, x, use_reentrant=True)
    )
    if memcnn is not None:
        blocks = [
            memcnn.InvertibleModuleWrapper(
                fn=memcnn.AdditiveCoupling(Fm=f, Gm=g), keep_input=False, keep_input_inverse=False
            )
            for f, g in fresh("memcnn")
        ]
        sides["memcnn"] = nn.Sequential(*blocks)
    if revlib is not None:
        modules = [m for f, g in fresh("revlib") for m in (f, g)]
        sides["revlib"] = revlib.ReversibleSequential(*modules, split_dim=1)
    if momentumnet is not None:
        torch.manual_seed(1)
        functions = [_momentum_function(kind, width) for _ in range(depth)]
        sides["momentumnet"] = momentumnet.MomentumNet(functions, gamma=0.9, use_backprop=False)
        order["momentumnet"] = functions
    return sides, order


class _Wrapped(nn.Module):
    def __init__(self, module: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.module = module
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


# --------------------------------------------------------------------------------------------
# Measurements


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _input(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen).requires_grad_(True)


def _train_step(net: nn.Module, x: torch.Tensor) -> None:
    net(x).square().mean().backward()


def _saved_bytes(net: nn.Module, x: torch.Tensor) -> int:
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net(x)
    del out
    return sum(seen.values())


def _rss_delta(net: nn.Module, shape: tuple[int, ...], seed: int) -> int:
    x = _input(shape, seed)
    _train_step(net, x.detach().clone().requires_grad_(True))  # warm-up
    gc.collect()
    x = _input(shape, seed)
    before = _rss_bytes()
    out = net(x)
    after = _rss_bytes()
    del out
    gc.collect()
    return after - before


def _gradients(
    net: nn.Module, modules: list[nn.Module], shape: tuple[int, ...], seed: int
) -> torch.Tensor:
    for p in net.parameters():
        p.grad = None
    x = _input(shape, seed)
    net(x).square().mean().backward()
    grads = [p.grad.flatten() for m in modules for p in m.parameters() if p.grad is not None]
    return torch.cat(grads)


def _bn_stats(modules: list[nn.Module]) -> torch.Tensor:
    values = [
        b.flatten().double() for m in modules for name, b in m.named_buffers() if "running" in name
    ]
    return torch.cat(values) if values else torch.zeros(0)


def bench(kind: str, depth: int, args: Any) -> dict[str, Any]:
    """Time, memory, gradients and BatchNorm statistics of every side on one network."""
    width = 128 if kind == "mlp" else 32
    shape = (args.batch_mlp, width) if kind == "mlp" else (32, width, 32, 32)
    if args.quick and kind == "conv":
        shape = (8, width, 16, 16)
    torch.manual_seed(args.seed)
    sides, _ = _sides(kind, depth, width)
    report: dict[str, Any] = {"kind": kind, "depth": depth, "shape": list(shape)}

    # Gradients and BatchNorm statistics after one step from the same weights (fresh sides).
    torch.manual_seed(args.seed)
    fresh, order = _sides(kind, depth, width)
    references = {}
    for name in ("plain", "plain-fixed"):
        grads = _gradients(fresh[name], order[name], shape, args.seed)
        references[name] = (grads, _bn_stats(order[name]))
    agreement = {}
    for name, net in fresh.items():
        if name in ("plain", "plain-fixed", "momentumnet"):
            continue
        # The fixed-point side against plain backprop through the same rounded blocks.
        reference, plain_stats = references["plain-fixed" if name == "ours-fixed" else "plain"]
        grads = _gradients(net, order[name], shape, args.seed)
        entry = {"grad_rel_error": float((grads - reference).abs().max() / reference.abs().max())}
        if plain_stats.numel():
            stats = _bn_stats(order[name])
            entry["bn_stats_max_diff"] = float((stats - plain_stats).abs().max())
        agreement[name] = entry
    report["agreement_with_plain"] = agreement

    report["saved_tensor_MiB"] = {
        name: _saved_bytes(sides[name], _input(shape, args.seed)) / 2**20
        for name in ("plain", "ours", "ours-fixed")
    }
    report["rss_delta_MiB"] = {
        name: _rss_delta(net, shape, args.seed) / 2**20 for name, net in sides.items()
    }

    inputs = {name: _input(shape, args.seed) for name in sides}

    def step(name: str) -> Callable[[], None]:
        net = sides[name]

        def run() -> None:
            # memcnn frees its input's storage (keep_input=False): give every call a copy.
            x = inputs[name].detach().clone().requires_grad_(True)
            _train_step(net, x)

        return run

    times = interleaved_times(
        {name: step(name) for name in sides}, rounds=args.rounds, warmup=args.warmup, inner=1
    )
    report["seconds"] = times["seconds"]
    report["ratios_ours_over"] = {
        name: ratio_from_times(times, "ours", name).as_dict() for name in sides if name != "ours"
    }
    return report


def _rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, seconds in report["seconds"].items():
        ratio = report["ratios_ours_over"].get(name)
        agree = report["agreement_with_plain"].get(name, {})
        rows.append(
            {
                "side": name,
                "median_s": f"{sorted(seconds)[len(seconds) // 2]:.4f}",
                "ours/side median": "" if ratio is None else f"{ratio['median']:.3f}",
                "ours/side min": "" if ratio is None else f"{ratio['min']:.3f}",
                "rss_delta_MiB": f"{report['rss_delta_MiB'][name]:.1f}",
                "saved_MiB": f"{report['saved_tensor_MiB'].get(name, float('nan')):.2f}",
                "grad_rel_err": f"{agree.get('grad_rel_error', float('nan')):.1e}",
                "bn_stats_diff": f"{agree.get('bn_stats_max_diff', float('nan')):.1e}",
            }
        )
    return rows


def main() -> None:
    """Run both networks and write ``results/reversible.json``."""
    if any(os.environ.get(k) != v for k, v in _MALLOC.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **_MALLOC})
    parser = common_parser(__doc__.splitlines()[0])
    parser.add_argument("--depth-mlp", type=int, default=None, help="blocks of the MLP")
    parser.add_argument("--depth-conv", type=int, default=None, help="blocks of the conv net")
    parser.add_argument("--batch-mlp", type=int, default=1024, help="batch of the MLP")
    args = parser.parse_args()
    args.rounds = args.rounds or (5 if args.quick else 15)
    depth_mlp = args.depth_mlp or (16 if args.quick else 128)
    depth_conv = args.depth_conv or (4 if args.quick else 8)
    torch.set_num_threads(args.threads)
    payload: dict[str, Any] = {
        "environment": environment(PEERS, args.threads, "float32"),
        "missing_peers": [
            name
            for name, mod in zip(PEERS, (memcnn, revlib, momentumnet), strict=True)
            if mod is None
        ],
        "malloc_env": _MALLOC,
        "quick": args.quick,
        "rounds": args.rounds,
        "results": [],
    }
    for kind, depth in (("mlp", depth_mlp), ("conv", depth_conv)):
        report = bench(kind, depth, args)
        payload["results"].append(report)
        print(f"\n== {kind}, depth {depth}, input {tuple(report['shape'])}")
        print_table(
            _rows(report),
            [
                "side",
                "median_s",
                "ours/side median",
                "ours/side min",
                "rss_delta_MiB",
                "saved_MiB",
                "grad_rel_err",
                "bn_stats_diff",
            ],
        )
    payload["load_average_at_end"] = list(os.getloadavg())
    path = write_result("reversible" + ("_quick" if args.quick else ""), payload, args.out)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
