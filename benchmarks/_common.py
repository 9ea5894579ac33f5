"""Shared harness of the benchmarks: interleaved A/B timing, environment facts, JSON output.

Protocol: the machine is shared and noisy, so a wall-clock
figure alone means little. Each comparison runs side A and side B *interleaved* in one process,
on the same inputs, for ``rounds`` rounds after a warm-up. A round times ``inner`` calls of A and
``inner`` calls of B back to back (the order alternates every round, A-B then B-A, so that a
slow drift of the machine's load does not favour one side) and records the ratio

    r_k = t_A(k) / t_B(k),

so the per-round ratio compares two measurements taken a few milliseconds apart under the
same load. We report the median and the minimum of ``r_k`` (the minimum is the least disturbed
round), plus the raw per-round times.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "RatioResult",
    "add_clock_argument",
    "calibrate_inner",
    "common_parser",
    "cpu_time_once",
    "environment",
    "interleaved_ratio",
    "interleaved_times",
    "print_table",
    "ratio_from_times",
    "summarise",
    "time_once",
    "use_clock",
    "write_result",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class RatioResult:
    """Per-round timings of two interleaved sides and their ratio ``t_A / t_B``.

    Attributes:
        label_a: name of side A (the numerator, usually ours).
        label_b: name of side B (the denominator, the reference).
        inner: calls of each side timed together in one round.
        seconds_a: per-call seconds of A, one entry per round.
        seconds_b: per-call seconds of B, one entry per round.
        ratios: ``seconds_a[k] / seconds_b[k]``.
        median: median of ``ratios``.
        min: minimum of ``ratios``.
        max: maximum of ``ratios``.
    """

    label_a: str
    label_b: str
    inner: int
    seconds_a: list[float] = field(default_factory=list)
    seconds_b: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    median: float = float("nan")
    min: float = float("nan")
    max: float = float("nan")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary, with the medians of the per-call times added."""
        out = asdict(self)
        out["median_seconds_a"] = statistics.median(self.seconds_a)
        out["median_seconds_b"] = statistics.median(self.seconds_b)
        return out


def summarise(ratios: Sequence[float]) -> dict[str, float]:
    """Median, minimum and maximum of a non-empty sequence of ratios."""
    if len(ratios) == 0:
        raise ValueError("summarise needs at least one ratio, got an empty sequence")
    return {
        "median": float(statistics.median(ratios)),
        "min": float(min(ratios)),
        "max": float(max(ratios)),
    }


def _wall_time_once(fn: Callable[[], object], inner: int) -> float:
    """Seconds per call of ``fn``, averaged over ``inner`` back-to-back calls (GC off)."""
    enabled = gc.isenabled()
    gc.disable()  # a collection landing in one side's window would bias that round
    try:
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        return (time.perf_counter() - start) / inner
    finally:
        if enabled:
            gc.enable()


#: The timer of every timed window; wall clock unless :func:`use_clock` says otherwise.
time_once = _wall_time_once


def cpu_time_once(fn: Callable[[], object], inner: int) -> float:
    """CPU seconds of this process per call of ``fn``, averaged over ``inner`` calls.

    On a machine shared with other jobs a wall-clock window absorbs every other process's time
    slices; the CPU time of this (single-threaded) process does not, so its ratios stay readable
    under load (cache and memory-bandwidth contention remain).
    """
    start = time.process_time()
    for _ in range(inner):
        fn()
    return (time.process_time() - start) / inner


def add_clock_argument(parser: argparse.ArgumentParser, default: str = "wall") -> None:
    """``--clock wall|cpu``: the timer of every timed window (see :func:`use_clock`)."""
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default=default,
        help=f"seconds per call by the wall clock or by this process's CPU clock (readable on a "
        f"loaded machine; use with --threads 1); default {default}",
    )


def use_clock(clock: str) -> None:
    """Time every later window (:func:`interleaved_times`, :func:`calibrate_inner`) by ``clock``."""
    global time_once
    time_once = cpu_time_once if clock == "cpu" else _wall_time_once


def calibrate_inner(fn: Callable[[], object], min_seconds: float, max_inner: int = 10_000) -> int:
    """Smallest power of two of calls whose total time reaches ``min_seconds`` (at least 1)."""
    inner = 1
    while inner < max_inner and time_once(fn, inner) * inner < min_seconds:
        inner *= 2
    return inner


def interleaved_times(
    sides: dict[str, Callable[[], object]],
    *,
    rounds: int,
    warmup: int = 3,
    inner: int | None = None,
    min_seconds: float = 0.05,
) -> dict[str, Any]:
    """Time several sides interleaved; the order of the sides is rotated every round.

    Args:
        sides: label -> function called with no arguments (it closes over its inputs); every
            side must do the same work on the same inputs.
        rounds: number of timed rounds (the protocol asks for 15–30).
        warmup: untimed calls of each side before timing (warms allocator and caches).
        inner: calls per side per round; ``None`` calibrates it so that every side's window
            lasts at least ``min_seconds`` (the count the fastest side needs: keep sides of
            similar cost together).
        min_seconds: window length used by the calibration.

    Returns:
        ``{"inner": n, "order": [[labels of round 0], ...], "seconds": {label: [per-call
        seconds of each round]}}``.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds}; use e.g. --rounds 20")
    if warmup < 0:
        raise ValueError(f"warmup must be non-negative, got {warmup}")
    if len(sides) < 2:
        raise ValueError(f"need at least two sides to compare, got {list(sides)}")
    labels = list(sides)
    for _ in range(warmup):
        for label in labels:
            sides[label]()
    if inner is None:
        inner = max(calibrate_inner(sides[label], min_seconds) for label in labels)
    seconds: dict[str, list[float]] = {label: [] for label in labels}
    orders = []
    for k in range(rounds):
        # Rotate the order (two sides: A-B, B-A, ...) so that a monotone drift in machine
        # load does not favour whichever side always runs first.
        shift = k % len(labels)
        order = labels[shift:] + labels[:shift]
        orders.append(order)
        for label in order:
            seconds[label].append(time_once(sides[label], inner))
    return {"inner": inner, "order": orders, "seconds": seconds}


def ratio_from_times(times: dict[str, Any], label_a: str, label_b: str) -> RatioResult:
    """Per-round ratios ``t_A / t_B`` from the output of :func:`interleaved_times`."""
    seconds_a = list(times["seconds"][label_a])
    seconds_b = list(times["seconds"][label_b])
    ratios = [a / b for a, b in zip(seconds_a, seconds_b, strict=True)]
    stats = summarise(ratios)
    return RatioResult(
        label_a=label_a,
        label_b=label_b,
        inner=times["inner"],
        seconds_a=seconds_a,
        seconds_b=seconds_b,
        ratios=ratios,
        median=stats["median"],
        min=stats["min"],
        max=stats["max"],
    )


def interleaved_ratio(
    fn_a: Callable[[], object],
    fn_b: Callable[[], object],
    *,
    rounds: int,
    warmup: int = 3,
    inner: int | None = None,
    min_seconds: float = 0.05,
    label_a: str = "A",
    label_b: str = "B",
) -> RatioResult:
    """Time ``fn_a`` and ``fn_b`` interleaved (A-B, B-A, ...) and return ratios ``t_A / t_B``.

    A two-sided :func:`interleaved_times` followed by :func:`ratio_from_times`.
    """
    if label_a == label_b:
        raise ValueError(f"the two sides need distinct labels, got {label_a!r} twice")
    times = interleaved_times(
        {label_a: fn_a, label_b: fn_b},
        rounds=rounds,
        warmup=warmup,
        inner=inner,
        min_seconds=min_seconds,
    )
    return ratio_from_times(times, label_a, label_b)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment(peers: Sequence[str], threads: int, dtype: str) -> dict[str, Any]:
    """Facts that a reader needs to judge a figure: versions, threads, dtype, machine load."""
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": list(load) if load else None,
        "torch": torch.__version__,
        "torch_num_threads": threads,
        "dtype": dtype,
        "peers": {name: _version(name) for name in peers},
        "structdl": _version("structdl"),
        "python_executable": sys.executable,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "note": (
            "machine shared with other engineers (2 cores); wall-clock figures are noisy, "
            "read the per-round ratios"
        ),
    }


def write_result(name: str, payload: dict[str, Any], directory: Path | None = None) -> Path:
    """Write ``payload`` to ``<directory>/<name>.json`` atomically (temporary file + rename)."""
    directory = RESULTS_DIR if directory is None else directory
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path


def common_parser(description: str) -> argparse.ArgumentParser:
    """Arguments shared by every benchmark script."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds (~1 min)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per side")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads value")
    parser.add_argument("--seed", type=int, default=0, help="seed for parameters and inputs")
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR, help="directory of the JSON result"
    )
    return parser


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Print ``rows`` (dictionaries) as a fixed-width text table with the given columns."""
    cells = [[str(row.get(col, "")) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    print("  ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
