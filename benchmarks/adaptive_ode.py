"""Adaptive Dormand–Prince of ``structdl.control`` against torchdiffeq's ``dopri5``; per-sample
step control on Van der Pol; memory and gradient error of the three gradient modes.

Questions (issue 10):

1. MLP 4→32→4 (tanh) neural ODE, batch 256, t ∈ [0, 1], rtol 1e-3, atol 1e-6, float32:
   function evaluations of ours vs torchdiffeq ``dopri5`` (same controller conventions), and the
   forward+backward time ratio ``t_ours / t_torchdiffeq`` (interleaved rounds; bar ≤ 0.8).
2. Van der Pol batch with μ drawn uniformly from [0.1, 10]: total row evaluations of joint
   stepping vs per-sample step control (bar: ≥ 2× fewer).
3. Gradient modes (discretise / checkpoint / adjoint): bytes held for the backward pass
   (saved tensors + checkpointed states) at N = 1024 fixed steps (bar: adjoint ≤ 1/50 of
   backprop), and the gradient error of each mode against the discrete gradient (adaptive).

Run: ``benchmarks/.envs/peers/bin/python benchmarks/adaptive_ode.py [--quick]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402  (the harness sits next to this script)
    common_parser,
    environment,
    interleaved_ratio,
    print_table,
    write_result,
)

from structdl.control import odeint, solve  # noqa: E402


class _Counted(nn.Module):
    """``f(t, y) = mlp(y)`` counting its calls."""

    def __init__(self, mlp: nn.Module) -> None:
        super().__init__()
        self.mlp = mlp
        self.calls = 0

    def forward(self, t, y):  # noqa: ANN001, ANN201
        self.calls += 1
        return self.mlp(y)


def _mlp(seed: int, dtype: torch.dtype) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 4)).to(dtype)


def neural_ode(args, rounds: int) -> dict:  # noqa: ANN001
    """Question 1: nfe and forward+backward time against torchdiffeq."""
    import torchdiffeq

    dtype = torch.float32
    field = _Counted(_mlp(args.seed, dtype))
    y0 = torch.randn(256, 4, generator=torch.Generator().manual_seed(args.seed), dtype=dtype)
    span = torch.tensor([0.0, 1.0], dtype=dtype)
    tol = {"rtol": 1e-3, "atol": 1e-6}

    def ours() -> None:
        out = odeint(field, y0, 0.0, 1.0, pair="dopri5", **tol)
        out.square().mean().backward()

    def theirs() -> None:
        out = torchdiffeq.odeint(field, y0, span, method="dopri5", **tol)[-1]
        out.square().mean().backward()

    field.calls = 0
    with torch.no_grad():
        ours_out = odeint(field, y0, 0.0, 1.0, pair="dopri5", **tol)
    nfe_ours = field.calls
    field.calls = 0
    with torch.no_grad():
        theirs_out = torchdiffeq.odeint(field, y0, span, method="dopri5", **tol)[-1]
    nfe_theirs = field.calls
    ratio = interleaved_ratio(
        ours, theirs, rounds=rounds, warmup=args.warmup, label_a="structdl", label_b="torchdiffeq"
    )
    return {
        "nfe_structdl": nfe_ours,
        "nfe_torchdiffeq": nfe_theirs,
        "nfe_relative_difference": abs(nfe_ours - nfe_theirs) / nfe_theirs,
        "max_abs_difference_of_solutions": float((ours_out - theirs_out).abs().max()),
        "time_ratio_fwd_bwd": ratio.__dict__,
    }


def _vdp(t, y):  # noqa: ANN001, ANN202
    x, v, mu = y[:, :1], y[:, 1:2], y[:, 2:]
    return torch.cat((v, mu * (1 - x**2) * v - x, torch.zeros_like(mu)), dim=1)


def van_der_pol(args) -> list[dict]:  # noqa: ANN001
    """Question 2: joint vs per-sample step control (total row evaluations)."""
    n = 64 if args.quick else 256
    gen = torch.Generator().manual_seed(args.seed)
    mu = 0.1 + 9.9 * torch.rand(n, 1, generator=gen, dtype=torch.float64)
    y0 = torch.cat((torch.full_like(mu, 2.0), torch.zeros_like(mu), mu), dim=1)
    rows = []
    for horizon in (1.0, 5.0, 10.0):
        for rtol, atol in ((1e-3, 1e-6), (1e-6, 1e-9)):
            _, joint = solve(_vdp, y0, 0.0, horizon, rtol=rtol, atol=atol)
            _, single = solve(_vdp, y0, 0.0, horizon, rtol=rtol, atol=atol, per_sample=True)
            rows.append(
                {
                    "T": horizon,
                    "rtol": rtol,
                    "batch": n,
                    "joint_row_evals": joint.row_evaluations,
                    "per_sample_row_evals": single.row_evaluations,
                    "saving": round(joint.row_evaluations / single.row_evaluations, 3),
                    "per_sample_rejected": single.rejected,
                }
            )
    return rows


def _held_bytes(run) -> int:  # noqa: ANN001
    """Bytes of tensors saved for backward during ``run()`` (plus checkpointed states)."""
    total = 0
    seen: set[int] = set()

    def pack(t):  # noqa: ANN001, ANN202
        nonlocal total
        key = t.untyped_storage().data_ptr()
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = run()
    return total, out


def gradient_modes(args) -> dict:  # noqa: ANN001
    """Question 3: memory at N fixed steps and gradient error of each mode."""
    dtype = torch.float64
    mlp = _mlp(args.seed, dtype)
    params = list(mlp.parameters())
    y0 = torch.randn(256, 4, generator=torch.Generator().manual_seed(args.seed), dtype=dtype)
    steps = 256 if args.quick else 1024
    memory = {}
    for mode in ("discretise", "checkpoint", "adjoint"):
        stats: dict = {}

        def run(mode=mode, stats=stats):  # noqa: ANN001, ANN202
            return odeint(
                lambda t, y: mlp(y),
                y0,
                0.0,
                1.0,
                grad_mode=mode,
                fixed_steps=steps,
                params=params,
                stats=stats,
            )

        held, out = _held_bytes(run)
        if mode == "checkpoint":
            # States stashed on ctx are invisible to saved-tensor hooks: count them directly.
            held += steps * y0.numel() * y0.element_size()
        memory[mode] = held
        out.square().mean().backward()
    grads = {}
    errors = {}
    for rtol, atol in ((1e-3, 1e-6), (1e-6, 1e-9)):
        for mode in ("discretise", "checkpoint", "adjoint"):
            mlp.zero_grad()
            odeint(
                lambda t, y: mlp(y), y0, grad_mode=mode, rtol=rtol, atol=atol, params=params
            ).square().mean().backward()
            grads[mode] = torch.cat([p.grad.flatten() for p in params])
        ref = grads["discretise"]
        errors[f"rtol={rtol:g}"] = {
            mode: float((g - ref).norm() / ref.norm()) for mode, g in grads.items()
        }
    return {
        "fixed_steps": steps,
        "held_bytes": memory,
        "adjoint_over_backprop": memory["adjoint"] / memory["discretise"],
        "checkpoint_over_backprop": memory["checkpoint"] / memory["discretise"],
        "relative_gradient_error_vs_discrete": errors,
    }


def main() -> None:
    """Run the three questions, print tables and write ``results/adaptive_ode.json``."""
    parser = common_parser(__doc__.splitlines()[0])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rounds = args.rounds or (8 if args.quick else 20)
    started = time.time()
    payload = {"environment": environment(["torchdiffeq"], args.threads, "float32/float64")}
    payload["neural_ode"] = neural_ode(args, rounds)
    q1 = payload["neural_ode"]
    print_table(
        [
            {
                "nfe ours": q1["nfe_structdl"],
                "nfe torchdiffeq": q1["nfe_torchdiffeq"],
                "fwd+bwd ratio median": round(q1["time_ratio_fwd_bwd"]["median"], 3),
                "min": round(q1["time_ratio_fwd_bwd"]["min"], 3),
            }
        ],
        ["nfe ours", "nfe torchdiffeq", "fwd+bwd ratio median", "min"],
    )
    payload["van_der_pol"] = van_der_pol(args)
    print_table(payload["van_der_pol"], list(payload["van_der_pol"][0]))
    payload["gradient_modes"] = gradient_modes(args)
    q3 = payload["gradient_modes"]
    print(
        "held bytes:", q3["held_bytes"], "adjoint/backprop:", round(q3["adjoint_over_backprop"], 5)
    )
    print("relative gradient error vs discrete:", q3["relative_gradient_error_vs_discrete"])
    payload["seconds"] = time.time() - started
    path = write_result("adaptive_ode" + ("_quick" if args.quick else ""), payload, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
