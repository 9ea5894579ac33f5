"""Mean-field particle gradient descent: closed-form velocities against plain autograd.

One question: how much faster is one training step of ``ParticleGradientDescent`` (closed-form
particle velocities, validation included) than the plain autograd implementation of the same
step — ``f(x) = ReLU(x wᵀ + b) a / m``, the squared loss, ``backward`` and SGD at lr ``h·m``
(``structdl.experiments.mean_field.AutogradTwoLayer``, with ``x @ w.T + b`` and with
``F.linear``)? The three sides start from the same particles and data (teacher–student,
``d = 5``, ``n = 256`` samples, float32, one thread) and are timed interleaved, the order
rotated every round; ratios are ``t_autograd / t_closed_form`` (above 1: ours is faster).

``--diagnose`` adds the floor of any implementation: the two products every method needs —
the pre-activations ``X̃ W̃ᵀ`` ``(n × (d+1)) · ((d+1) × m)`` and the mask-weighted sums
``1[Z > 0]ᵀ (r ⊙ X̃)`` — timed alone as single calls, with their flop counts.

Run with ``.venv/bin/python benchmarks/mean_field.py [--quick] [--diagnose]`` (no peers).
"""

from __future__ import annotations

import sys
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
    time_once,
    write_result,
)

from structdl.experiments.mean_field import timing_sides  # noqa: E402

D, SAMPLES, H = 5, 256, 0.5
BASELINES = ("autograd", "autograd-linear")


def speed_section(widths: list[int], rounds: int, warmup: int, seed: int) -> list[dict[str, Any]]:
    rows = []
    for m in widths:
        sides = timing_sides(D, SAMPLES, m, H, seed)
        times = interleaved_times(sides, rounds=rounds, warmup=warmup, min_seconds=0.05)
        for other in BASELINES:
            # Numerator the baseline: the figure is a speed-up of ours.
            ratio = ratio_from_times(times, other, "closed-form")
            rows.append(
                {
                    "m": m,
                    "baseline": other,
                    "speedup_median": round(ratio.median, 3),
                    "speedup_min": round(ratio.min, 3),
                    "speedup_max": round(ratio.max, 3),
                    "ours_ms": round(1e3 * ratio.as_dict()["median_seconds_b"], 3),
                    "baseline_ms": round(1e3 * ratio.as_dict()["median_seconds_a"], 3),
                    "inner": times["inner"],
                    "per_round_ratios": [round(r, 4) for r in ratio.ratios],
                }
            )
            print(
                f"m={m} {other}/closed-form: median {ratio.median:.2f}x (min {ratio.min:.2f}x)",
                flush=True,
            )
    return rows


def _floor_parts(m: int, gen: torch.Generator) -> dict[str, tuple[Any, int]]:
    x_aug = torch.randn(SAMPLES, D + 1, generator=gen)
    wb = torch.randn(m, D + 1, generator=gen)
    z = x_aug @ wb.T
    mask = (z > 0).float()
    weighted = x_aug * torch.randn(SAMPLES, 1, generator=gen)
    flops = 2 * SAMPLES * m * (D + 1)
    return {
        "Z = X̃ W̃ᵀ (n × m, one call)": (lambda: torch.mm(x_aug, wb.T), flops),
        "Sᵀ = (r⊙X̃)ᵀ mask (one call)": (lambda: torch.mm(weighted.T, mask), flops),
        "ReLU of Z (one call)": (lambda: torch.relu(z), SAMPLES * m),
    }


def diagnose_section(widths: list[int], seed: int) -> list[dict[str, Any]]:
    """The unavoidable matrix products and one ReLU pass, timed alone (median of 31 windows)."""
    rows = []
    gen = torch.Generator().manual_seed(seed)
    for m in widths:
        for name, (fn, flops) in _floor_parts(m, gen).items():
            samples = sorted(time_once(fn, 5) for _ in range(31))
            seconds = samples[len(samples) // 2]
            rows.append(
                {
                    "m": m,
                    "part": name,
                    "ms": round(1e3 * seconds, 4),
                    "mflop": round(flops / 1e6, 2),
                    "gflop_per_s": round(flops / seconds / 1e9, 2),
                }
            )
    return rows


def main() -> None:
    parser = common_parser(__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=None, help="particle counts m")
    parser.add_argument("--diagnose", action="store_true", help="time the unavoidable products")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    widths = args.widths or ([10_000] if args.quick else [1_000, 10_000, 100_000])
    rounds = args.rounds or (15 if args.quick else 30)
    payload: dict[str, Any] = {
        "environment": environment([], args.threads, "float32"),
        "config": {"d": D, "samples": SAMPLES, "h": H, "widths": widths, "rounds": rounds},
    }
    payload["speed"] = speed_section(widths, rounds, args.warmup, args.seed)
    print_table(
        payload["speed"],
        ["m", "baseline", "speedup_median", "speedup_min", "ours_ms", "baseline_ms"],
    )
    if args.diagnose:
        payload["diagnose"] = diagnose_section(widths, args.seed)
        print_table(payload["diagnose"], ["m", "part", "ms", "mflop", "gflop_per_s"])
    name = "mean_field" + ("_quick" if args.quick else "")
    print("wrote", write_result(name, payload, args.out))


if __name__ == "__main__":
    main()
