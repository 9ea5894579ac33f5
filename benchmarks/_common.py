"""Shared harness of the benchmarks: interleaved A/B timing, environment facts, JSON output.

Protocol (``/work/shared/BENCHMARKING.md``): the machine is shared and noisy, so a wall-clock
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
    "calibrate_inner",
    "common_parser",
    "environment",
    "interleaved_ratio",
    "print_table",
    "summarise",
    "time_once",
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


def time_once(fn: Callable[[], object], inner: int) -> float:
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


def calibrate_inner(fn: Callable[[], object], min_seconds: float, max_inner: int = 10_000) -> int:
    """Smallest power of two of calls whose total time reaches ``min_seconds`` (at least 1)."""
    inner = 1
    while inner < max_inner and time_once(fn, inner) * inner < min_seconds:
        inner *= 2
    return inner


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
    """Time ``fn_a`` and ``fn_b`` interleaved and return per-round ratios ``t_A / t_B``.

    Args:
        fn_a: side A, called with no arguments (closes over its inputs).
        fn_b: side B, same work as A on the same inputs.
        rounds: number of timed rounds (the protocol asks for 15–30).
        warmup: untimed calls of each side before timing (JIT-free PyTorch still warms its
            allocator and caches).
        inner: calls per side per round; ``None`` calibrates it on the slower side so that
            one side's window lasts at least ``min_seconds``.
        min_seconds: window length used by the calibration.
        label_a: name of side A in tables and JSON.
        label_b: name of side B.

    Returns:
        The per-round figures and their median / min / max ratio.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds}; use e.g. --rounds 20")
    if warmup < 0:
        raise ValueError(f"warmup must be non-negative, got {warmup}")
    for _ in range(warmup):
        fn_a()
        fn_b()
    if inner is None:
        inner = max(calibrate_inner(fn_a, min_seconds), calibrate_inner(fn_b, min_seconds))
    result = RatioResult(label_a=label_a, label_b=label_b, inner=inner)
    for k in range(rounds):
        # Alternate A-B / B-A so that a monotone drift in machine load cancels out.
        if k % 2 == 0:
            t_a = time_once(fn_a, inner)
            t_b = time_once(fn_b, inner)
        else:
            t_b = time_once(fn_b, inner)
            t_a = time_once(fn_a, inner)
        result.seconds_a.append(t_a)
        result.seconds_b.append(t_b)
        result.ratios.append(t_a / t_b)
    stats = summarise(result.ratios)
    result.median, result.min, result.max = stats["median"], stats["min"], stats["max"]
    return result


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
