"""Memory and time of reversible backpropagation against plain autograd and checkpointing.

Question: does a reversible network train with activation memory independent of its depth, at
a small time overhead and with the same gradients and BatchNorm statistics as plain training?

The reversible MLP: ``depth`` RevNet blocks (:class:`structdl.invertible.RevNetBlock`) on
width 128 (two halves of 64), ``F`` and ``G`` each ``Linear(64, 64)`` + tanh, batch 1024,
float32. Four ways of training it:

- ``plain``: :class:`structdl.invertible.Compose`, autograd stores every activation;
- ``checkpoint``: ``torch.utils.checkpoint.checkpoint_sequential`` with ``√depth`` segments;
- ``reversible``: :class:`structdl.invertible.ReversibleSequential` (inputs recovered by the
  blocks' inverses in the backward pass);
- ``reversible_fixed``: the same blocks (shared weights) with fixed-point additions
  (``RevNetBlock(fixed_point=k)``: ``F`` and ``G`` rounded to the grid ``2^{−k}`` with a
  straight-through gradient, the input rounded once), whose inverses are exact bit for bit.

Live activation memory is the total size of the tensors autograd saves for the backward pass
(``torch.autograd.graph.saved_tensors_hooks``), measured over one forward pass: deterministic,
load-independent, and what grows with depth. Time is forward + backward, the methods run
interleaved over rounds so that machine load cancels in their ratios.

Also measured: gradient agreement with plain backprop (float32 and float64); BatchNorm running
statistics after training steps of a reversible conv net with BatchNorm; and the exact
reversible gradient of a depth-1024 Störmer–Verlet Hamiltonian ODE network
(:class:`structdl.invertible.ODEBijection`) against backprop through its steps.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .._errors import ConfigError
from ._config import require_ints, start_run
from ._registry import Experiment, Progress, Result, register
from .io import save_figure

__all__ = ["Config", "run", "reversible_mlp", "saved_bytes"]

METHODS = ("plain", "checkpoint", "reversible", "reversible_fixed")
MIB = 2.0**20


@dataclass
class Config:
    """Settings of the reversible-memory experiment.

    ``quick()``: memory at depths 8…512, time at depths 8/32/128 over 5 rounds, ODE network of
    depth 1024. ``full()``: time at every depth over 15 rounds.

    Attributes:
        seed: seed of weights and data.
        width: width of the MLP (two halves).
        batch: batch size.
        memory_depths: depths of the memory study.
        time_depths: depths of the timing study.
        rounds: interleaved timing rounds (after one warm-up round).
        conv_channels: channels of the conv net (two halves).
        conv_size: image side of the conv net.
        conv_batch: batch of the conv net.
        conv_depth: blocks of the conv net.
        conv_steps: training steps compared for BatchNorm statistics.
        ode_depth: steps of the Störmer–Verlet ODE network.
        ode_dim: width ``d`` of its ``q`` and ``p``.
        grad_depths: depths of the gradient-agreement study.
        drift_thresholds: drift-monitor thresholds tried at the largest of ``grad_depths``
            (float32), where reconstruction error is largest.
        fixed_point_bits: fraction bits ``k`` of the fixed-point grid of ``reversible_fixed``
            (exact range ``|h| < 2^{24−k}`` in float32).
    """

    seed: int = 0
    width: int = 128
    batch: int = 1024
    memory_depths: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512)
    time_depths: tuple[int, ...] = (8, 32, 128)
    rounds: int = 5
    conv_channels: int = 32
    conv_size: int = 32
    conv_batch: int = 32
    conv_depth: int = 4
    conv_steps: int = 3
    ode_depth: int = 1024
    ode_dim: int = 8
    grad_depths: tuple[int, ...] = (8, 32, 128)
    drift_thresholds: tuple[float, ...] = (1e-4, 3e-5)
    fixed_point_bits: int = 16

    @classmethod
    def quick(cls) -> Config:
        """Fast preset (about a minute on one core)."""
        return cls()

    @classmethod
    def full(cls) -> Config:
        """Timing at every depth, more rounds."""
        return cls(time_depths=(8, 16, 32, 64, 128, 256, 512), rounds=15)

    def validate(self) -> None:
        """Raise :class:`ConfigError` for a bad size or depth."""
        require_ints(
            (
                ("width", self.width, 2),
                ("batch", self.batch, 1),
                ("rounds", self.rounds, 1),
                ("conv_channels", self.conv_channels, 2),
                ("conv_size", self.conv_size, 1),
                ("conv_batch", self.conv_batch, 2),
                ("conv_depth", self.conv_depth, 1),
                ("conv_steps", self.conv_steps, 1),
                ("ode_depth", self.ode_depth, 1),
                ("ode_dim", self.ode_dim, 1),
                ("fixed_point_bits", self.fixed_point_bits, 1),
            )
        )
        require_ints(("memory_depths", d, 1) for d in self.memory_depths)
        require_ints(("time_depths", d, 1) for d in self.time_depths)
        require_ints(("grad_depths", d, 1) for d in self.grad_depths)
        if not self.grad_depths or any(not t > 0 for t in self.drift_thresholds):
            raise ConfigError(
                f"grad_depths must be non-empty and drift_thresholds positive — got "
                f"{self.grad_depths} and {self.drift_thresholds}"
            )
        if self.width % 2 or self.conv_channels % 2:
            raise ConfigError(
                f"width and conv_channels must be even (two halves) — got {self.width} and "
                f"{self.conv_channels} — pass e.g. 128 and 32"
            )
        if len(self.memory_depths) < 2:
            raise ConfigError("memory_depths needs at least two depths to fit a slope")


# --------------------------------------------------------------------------------------------
# Models and measurements


def reversible_mlp(depth: int, width: int = 128, *, reversible: bool = True) -> nn.Module:
    """``depth`` RevNet blocks with ``F, G = Linear(w/2, w/2) + tanh``."""
    from ..invertible import Compose, ReversibleSequential, RevNetBlock

    half = width // 2

    def sub() -> nn.Module:
        return nn.Sequential(nn.Linear(half, half), nn.Tanh())

    blocks = [RevNetBlock(sub(), sub()) for _ in range(depth)]
    return ReversibleSequential(*blocks) if reversible else Compose(blocks)


def _conv_net(
    channels: int, depth: int, *, reversible: bool, fixed_point: int | None = None
) -> nn.Module:
    from ..invertible import Compose, ReversibleSequential, RevNetBlock

    half = channels // 2

    def sub() -> nn.Module:
        return nn.Sequential(nn.Conv2d(half, half, 3, padding=1), nn.BatchNorm2d(half), nn.ReLU())

    blocks = [RevNetBlock(sub(), sub(), fixed_point=fixed_point) for _ in range(depth)]
    return ReversibleSequential(*blocks) if reversible else Compose(blocks)


def saved_bytes(fn: Callable[[], Any]) -> tuple[int, Any]:
    """Bytes of the tensors autograd saves while ``fn`` runs (distinct storages counted once)."""
    seen: dict[tuple[int, int], int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        seen[(storage.data_ptr(), t.device.index or 0)] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return sum(seen.values()), out


def _checkpointed(plain: nn.Module, depth: int) -> Callable[[Tensor], Tensor]:
    from torch.utils.checkpoint import checkpoint_sequential

    segments = max(1, round(math.sqrt(depth)))
    chain = nn.Sequential(*plain.transforms)
    return lambda x: checkpoint_sequential(chain, segments, x, use_reentrant=True)


def fixed_point_copy(rev: nn.Module, fraction_bits: int) -> nn.Module:
    """``rev``'s RevNet blocks (the same ``F``, ``G`` modules) with fixed-point additions."""
    from ..invertible import ReversibleSequential, RevNetBlock

    return ReversibleSequential(
        *[RevNetBlock(b.f, b.g, b.split, fixed_point=fraction_bits) for b in rev.blocks]
    )


def _runner(method: str, plain: nn.Module, rev: nn.Module, depth: int, fraction_bits: int):
    if method == "plain":
        return plain
    if method == "reversible":
        return rev
    if method == "reversible_fixed":
        fixed = fixed_point_copy(rev, fraction_bits)
        grid = fixed.blocks[0].fixed_point
        return lambda x: fixed(grid.round(x))
    return _checkpointed(plain, depth)


def _memory_study(config: Config, progress: Progress) -> list[dict[str, Any]]:
    from ..invertible import Compose

    rows = []
    for depth in config.memory_depths:
        progress.describe(f"memory at depth {depth}")
        torch.manual_seed(config.seed)
        rev = reversible_mlp(depth, config.width)
        plain = Compose(list(rev.blocks))
        x = torch.randn(config.batch, config.width, requires_grad=True)
        row: dict[str, Any] = {"depth": depth}
        for method in METHODS:
            fn = _runner(method, plain, rev, depth, config.fixed_point_bits)
            size, out = saved_bytes(lambda f=fn, v=x: f(v))
            del out
            row[f"{method}_MiB"] = size / MIB
        rows.append(row)
        progress.advance()
    return rows


def _time_study(config: Config, progress: Progress) -> list[dict[str, Any]]:
    from ..invertible import Compose

    rows = []
    for depth in config.time_depths:
        progress.describe(f"time at depth {depth}")
        torch.manual_seed(config.seed)
        rev = reversible_mlp(depth, config.width)
        plain = Compose(list(rev.blocks))
        x = torch.randn(config.batch, config.width, requires_grad=True)
        runners = {m: _runner(m, plain, rev, depth, config.fixed_point_bits) for m in METHODS}

        def once(fn: Callable[[Tensor], Tensor], v: Tensor = x) -> float:
            start = time.perf_counter()
            fn(v).square().mean().backward()
            return time.perf_counter() - start

        for fn in runners.values():  # warm-up
            once(fn)
        seconds: dict[str, list[float]] = {m: [] for m in METHODS}
        for _ in range(config.rounds):
            for method, fn in runners.items():
                seconds[method].append(once(fn))
        row: dict[str, Any] = {"depth": depth}
        for method in METHODS:
            row[f"{method}_median_s"] = statistics.median(seconds[method])
            if method != "plain":
                ratios = [a / b for a, b in zip(seconds[method], seconds["plain"], strict=True)]
                row[f"{method}_over_plain_median"] = statistics.median(ratios)
                row[f"{method}_over_plain_min"] = min(ratios)
        rows.append(row)
        progress.advance()
    return rows


def _gradients(net: nn.Module, x: Tensor) -> Tensor:
    for p in net.parameters():
        p.grad = None
    x = x.clone().requires_grad_(True)
    net(x).sin().mean().backward()
    return torch.cat([x.grad.flatten()] + [p.grad.flatten() for p in net.parameters()])


def _gradient_agreement(
    config: Config,
    dtype: torch.dtype,
    depth: int,
    drift_threshold: float | None = None,
    fixed_point: int | None = None,
) -> dict[str, float]:
    """Max-relative gradient error against plain backprop through the same blocks, the live
    memory it took, and the round-trip error ``max|f⁻¹(f(x)) − x|`` of the chain."""
    from ..invertible import Compose, ReversibleSequential

    torch.manual_seed(config.seed)
    rev = reversible_mlp(depth, config.width).to(dtype)
    x = torch.randn(config.batch, config.width, dtype=dtype)
    found: dict[str, float] = {}
    if drift_threshold is not None:
        rev = ReversibleSequential(*rev.blocks, drift_threshold=drift_threshold)
    if fixed_point is not None:
        unrounded = rev
        rev = fixed_point_copy(rev, fixed_point)
        x = rev.blocks[0].fixed_point.round(x)
        with torch.no_grad():
            y_float, y_fixed = unrounded(x), rev(x)
        # How far the rounding of F and G moves the network's output.
        found["output_change"] = float((y_fixed - y_float).abs().max() / y_float.abs().max())
    plain = Compose(list(rev.blocks))
    reference = _gradients(plain, x)
    found["grad_rel_error"] = float(
        (_gradients(rev, x) - reference).abs().max() / reference.abs().max()
    )
    size, _ = saved_bytes(lambda: rev(x.clone().requires_grad_(True)))
    with torch.no_grad():
        found["round_trip_max_abs"] = float((rev.inverse(rev(x)) - x).abs().max())
    return {**found, "MiB": size / MIB, "anchors": len(rev.drift_report.anchors)}


def _batchnorm_agreement(config: Config, fixed_point: int | None = None) -> dict[str, float]:
    from ..invertible import FixedPoint

    torch.manual_seed(config.seed)
    rev = _conv_net(
        config.conv_channels, config.conv_depth, reversible=True, fixed_point=fixed_point
    )
    plain = _conv_net(
        config.conv_channels, config.conv_depth, reversible=False, fixed_point=fixed_point
    )
    plain.load_state_dict(
        {k.replace("blocks.", "transforms."): v for k, v in rev.state_dict().items()}
    )
    shape = (config.conv_batch, config.conv_channels, config.conv_size, config.conv_size)
    grad_error = 0.0
    for _ in range(config.conv_steps):
        x = torch.randn(shape)
        if fixed_point is not None:
            x = FixedPoint(fixed_point).round(x)
        grads = []
        for net in (plain, rev):
            grads.append(_gradients(net, x))
            with torch.no_grad():
                for p in net.parameters():
                    p.sub_(0.1 * p.grad)
        grad_error = max(
            grad_error, float((grads[0] - grads[1]).abs().max() / grads[0].abs().max())
        )
    stats_error = 0.0
    plain_state = plain.state_dict()
    for key, value in rev.state_dict().items():
        if "running" in key or "num_batches" in key:
            other = plain_state[key.replace("blocks.", "transforms.")]
            stats_error = max(stats_error, float((value.double() - other.double()).abs().max()))
    counts = [int(v) for k, v in rev.state_dict().items() if "num_batches" in k]
    return {
        "bn_grad_rel_error": grad_error,
        "bn_stats_max_diff": stats_error,
        "bn_num_batches_tracked": min(counts),
    }


def _ode_study(config: Config) -> dict[str, float]:
    from ..dynamics import ODENet, SeparableHamiltonian, StormerVerlet
    from ..invertible import ODEBijection

    torch.manual_seed(config.seed)
    fields = [
        SeparableHamiltonian(config.ode_dim, width=2 * config.ode_dim)
        for _ in range(config.ode_depth)
    ]
    net = ODENet(fields, StormerVerlet(), T=4.0).double()
    x = torch.randn(64, 2 * config.ode_dim, dtype=torch.float64)
    found: dict[str, Any] = {}
    for memory in ("backprop", "reversible"):
        flow = ODEBijection(net, memory=memory)
        for p in net.parameters():
            p.grad = None
        xx = x.clone().requires_grad_(True)
        start = time.perf_counter()
        size, z = saved_bytes(lambda f=flow, v=xx: f(v))
        z.sin().sum().backward()
        seconds = time.perf_counter() - start
        grads = torch.cat([xx.grad.flatten()] + [p.grad.flatten() for p in net.parameters()])
        found[memory] = (size, grads, seconds)
    reference = found["backprop"][1]
    error = float((found["reversible"][1] - reference).abs().max() / reference.abs().max())
    return {
        "ode_depth": config.ode_depth,
        "ode_grad_rel_error": error,
        "ode_backprop_MiB": found["backprop"][0] / MIB,
        "ode_reversible_MiB": found["reversible"][0] / MIB,
        "ode_memory_ratio": found["reversible"][0] / found["backprop"][0],
        "ode_backprop_s": found["backprop"][2],
        "ode_reversible_s": found["reversible"][2],
    }


def _slope(rows: list[dict[str, Any]], key: str) -> float:
    xs = [float(r["depth"]) for r in rows]
    ys = [float(r[key]) for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((a - mx) * (b - my) for a, b in zip(xs, ys, strict=True)) / sum(
        (a - mx) ** 2 for a in xs
    )


# --------------------------------------------------------------------------------------------


def run(config: Config, out_dir: Path, progress: Progress) -> Result:
    """Run the study; see the module docstring."""
    from ..invertible import IResNetBlock, ReversibleSequential
    from ..structure import check_inverse, check_volume_preserving

    start_run(config)
    progress.set_total(len(config.memory_depths) + len(config.time_depths) + 3)
    result = Result()
    memory_rows = _memory_study(config, progress)
    time_rows = _time_study(config, progress)
    result.tables["memory"] = memory_rows
    result.tables["time"] = time_rows
    for method in METHODS:
        result.metrics[f"{method}/MiB_per_layer"] = _slope(memory_rows, f"{method}_MiB")
    for row in memory_rows:
        for method in METHODS:
            result.metrics[f"depth{row['depth']}/{method}_MiB"] = row[f"{method}_MiB"]
    for row in time_rows:
        for method in METHODS[1:]:
            result.metrics[f"depth{row['depth']}/{method}_over_plain_median"] = row[
                f"{method}_over_plain_median"
            ]

    progress.describe("gradient agreement")
    rows = []
    for dtype in (torch.float32, torch.float64):
        for fixed in (None, config.fixed_point_bits):
            for depth in config.grad_depths:
                found = _gradient_agreement(config, dtype, depth, fixed_point=fixed)
                rows.append(
                    {
                        "dtype": str(dtype).replace("torch.", ""),
                        "depth": depth,
                        "fixed_point": fixed,
                        "drift_threshold": None,
                        **found,
                    }
                )
    for threshold in config.drift_thresholds:
        found = _gradient_agreement(config, torch.float32, max(config.grad_depths), threshold)
        rows.append(
            {
                "dtype": "float32",
                "depth": max(config.grad_depths),
                "fixed_point": None,
                "drift_threshold": threshold,
                **found,
            }
        )
    result.tables["gradient_agreement"] = rows
    for row in rows:
        suffix = "" if row["drift_threshold"] is None else f"/drift{row['drift_threshold']:g}"
        if row["fixed_point"] is not None:
            suffix = f"/fixed{row['fixed_point']}"
        key = f"grad_rel_error/{row['dtype']}/depth{row['depth']}{suffix}"
        result.metrics[key] = row["grad_rel_error"]
        result.metrics[key.replace("grad_rel_error", "round_trip_max_abs")] = row[
            "round_trip_max_abs"
        ]
        if suffix:
            result.metrics[key.replace("grad_rel_error", "MiB")] = row["MiB"]
        if "output_change" in row:
            result.metrics[key.replace("grad_rel_error", "output_change")] = row["output_change"]
    progress.advance()
    progress.describe("BatchNorm statistics")
    result.metrics.update(_batchnorm_agreement(config))
    fixed_bn = _batchnorm_agreement(config, config.fixed_point_bits)
    result.metrics.update({f"fixed{config.fixed_point_bits}/{k}": v for k, v in fixed_bn.items()})
    progress.advance()
    progress.describe(f"Störmer–Verlet ODE network, depth {config.ode_depth}")
    result.metrics.update(_ode_study(config))
    progress.advance()

    torch.manual_seed(config.seed)
    # Small sizes: the volume check takes one reversible backward pass per Jacobian row.
    small = reversible_mlp(4, 6).double()
    x = torch.randn(4, 6, dtype=torch.float64)
    result.checks["inverse/reversible-mlp"] = check_inverse(small, small.inverse, x).as_dict()
    result.checks["volume/reversible-mlp"] = check_volume_preserving(small, x).as_dict()
    iresnets = ReversibleSequential(*[IResNetBlock(6, hidden=8) for _ in range(2)]).double()
    result.checks["negative-control/volume/iresnet-chain"] = (
        check_volume_preserving(iresnets, x).as_negative_control(
            "check_volume_preserving on a chain of i-ResNet blocks (log|det| ≠ 0)"
        )
    ).as_dict()
    # Bit-for-bit round trip of the deepest float32 chain (zero tolerance), with and without
    # fixed-point additions (the latter is the negative control).
    deepest = max(config.memory_depths)
    torch.manual_seed(config.seed)
    chain = reversible_mlp(deepest, config.width)
    fixed_chain = fixed_point_copy(chain, config.fixed_point_bits)
    grid = fixed_chain.blocks[0].fixed_point
    x = grid.round(torch.randn(min(config.batch, 256), config.width))
    with torch.no_grad():
        exact = check_inverse(fixed_chain, fixed_chain.inverse, x, atol=0.0)
        control = check_inverse(chain, chain.inverse, x, atol=0.0)
    result.checks[f"inverse-bitwise/fixed{config.fixed_point_bits}/depth{deepest}"] = (
        exact.as_dict()
    )
    result.checks[f"negative-control/inverse-bitwise/float32/depth{deepest}"] = (
        control.as_negative_control("a float32 RevNet chain without fixed point, zero tolerance")
    ).as_dict()
    result.metrics[f"round_trip_max_abs/float32/depth{deepest}/fixed{grid.fraction_bits}"] = (
        exact.worst
    )
    result.metrics[f"round_trip_max_abs/float32/depth{deepest}"] = control.worst
    result.figures.append(save_figure(_memory_figure(memory_rows), out_dir, "memory.png"))
    result.figures.append(save_figure(_time_figure(time_rows), out_dir, "time.png"))
    result.notes = (
        "Live memory = bytes of the tensors autograd saves over one forward pass (saved-tensor "
        "hooks; storages counted once): the activations a backward pass would need. "
        f"Reversible MLP: width {config.width}, batch {config.batch}, float32. Checkpointing "
        "uses checkpoint_sequential with √depth segments. Time ratios are medians over "
        f"{config.rounds} interleaved rounds on one thread. Gradient errors are max |Δ| / max "
        "|g| over the input and every parameter gradient, against plain backprop in the same "
        "dtype (the loss is mean(sin(y))). In float32 the inverses of a deep random RevNet "
        "lose accuracy (forward rounding is not undone by the inverse and the chain amplifies "
        "it); the drift-monitor rows store anchors where the measured round-trip errors add up "
        "past the threshold, trading memory for accuracy. The fixed-point rows (fixed_point = "
        f"{config.fixed_point_bits}) round F and G to the grid 2^-{config.fixed_point_bits} "
        "(straight-through gradient) and the input once, so every addition is exact and the "
        "backward pass reconstructs the activations bit for bit; they are compared with plain "
        "backprop through the same rounded blocks, and output_change is how far the rounding "
        "moves the output of the unrounded network. The BatchNorm study trains the conv "
        "net (SGD, lr 0.1, loss mean(sin(y))) for conv_steps steps both ways."
    )
    return result


def _memory_figure(rows: list[dict[str, Any]]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    depths = [r["depth"] for r in rows]
    for method in METHODS:
        ax.loglog(depths, [r[f"{method}_MiB"] for r in rows], "o-", label=method)
    ax.set_xlabel("depth (blocks)")
    ax.set_ylabel("live activation memory (MiB)")
    ax.legend()
    fig.tight_layout()
    return fig


def _time_figure(rows: list[dict[str, Any]]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    depths = [r["depth"] for r in rows]
    for method in METHODS[1:]:
        ax.semilogx(depths, [r[f"{method}_over_plain_median"] for r in rows], "o-", label=method)
    ax.axhline(1.0, color="gray", lw=0.8)
    ax.set_xlabel("depth (blocks)")
    ax.set_ylabel("forward+backward time / plain")
    ax.legend()
    fig.tight_layout()
    return fig


register(
    Experiment(
        name="reversible-memory",
        question=(
            "Does reversible backpropagation keep activation memory flat in depth (8…512) at "
            "a small time overhead, with the gradients and BatchNorm statistics of plain "
            "training?"
        ),
        config=Config,
        run=run,
    )
)
