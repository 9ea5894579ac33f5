"""Data-parallel training of structure-preserving networks with ``torchrun``.

Run on two CPU processes (gloo), or on every GPU of a machine (NCCL is chosen when CUDA is
available)::

    torchrun --nproc_per_node 2 examples/ddp_train.py --steps 5
    torchrun --nproc_per_node 2 examples/ddp_train.py --steps 3 --compare --report ddp.json

Two models are trained, each wrapped in ``torch.nn.parallel.DistributedDataParallel``:

- an ``ODENet`` of Euler steps on gradient-flow fields with ``step_rule="clip"``: the clipped
  steps ``h_k ≤ 2/(L‖A_k‖²)`` come from the exact spectral norm of the weights, which are the
  same on every process, so every process takes the same steps and the network stays
  non-expansive (1-Lipschitz) after every optimiser step;
- a p4 network (lifting convolution, group batch norm, group convolution, group pooling)
  whose ``GroupBatchNorm`` layers are converted to ``SyncGroupBatchNorm``: the batch
  statistics pool the batches of all processes, so the distributed run computes what one
  process computes on the whole batch, and the network stays exactly C4-invariant.

Each process gets its slice of one fixed batch. With ``--compare`` the script also measures
what a user should expect: the largest parameter difference between processes (0), and
between the distributed run and one process trained on the whole batch (rounding only, in
float64), plus the structure checks after training; rank 0 prints them (and writes them as
JSON with ``--report``).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from structdl.dynamics import Euler, GradientFlow, ODENet
from structdl.equivariant import (
    C4,
    GlobalPool,
    GroupBatchNorm,
    GroupConv2d,
    GroupPool,
    LiftingConv2d,
    PointwiseNonlinearity,
    act_image,
)
from structdl.equivariant.sync_norm import SyncGroupBatchNorm
from structdl.structure import NonExpansive, check_equivariance, check_lipschitz

DTYPE = torch.float64  # the comparison with one process is to 1e-6; float64 leaves room


def build_odenet() -> nn.Module:
    """Four Euler steps on gradient-flow fields, steps clipped to the non-expansive bound."""
    torch.manual_seed(0)
    fields = [GradientFlow(4, width=8) for _ in range(4)]
    return ODENet(fields, Euler(), T=8.0, step_rule="clip").to(DTYPE)


def build_p4() -> nn.Module:
    """A small C4-invariant network with group batch norm."""
    torch.manual_seed(1)
    return nn.Sequential(
        LiftingConv2d(1, 4, 3, C4),
        GroupBatchNorm(4, C4),
        PointwiseNonlinearity("relu"),
        GroupConv2d(4, 4, 3, C4),
        GroupBatchNorm(4, C4),
        PointwiseNonlinearity("relu"),
        GroupPool(C4),
        GlobalPool("mean"),
    ).to(DTYPE)


def data(batch: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """One fixed batch per model (the same on every process; each trains on its slice)."""
    gen = torch.Generator().manual_seed(2)
    return {
        "odenet": (
            torch.randn(batch, 4, generator=gen, dtype=DTYPE),
            torch.randn(batch, 4, generator=gen, dtype=DTYPE),
        ),
        "p4": (
            torch.randn(batch, 1, 9, 9, generator=gen, dtype=DTYPE),
            torch.randn(batch, 4, generator=gen, dtype=DTYPE),
        ),
    }


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> None:
    """Plain SGD on the mean squared error (a mean, so DDP's gradient average is exact)."""
    optimiser = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimiser.step()


def flat_parameters(model: nn.Module) -> torch.Tensor:
    """All parameters and buffers as one vector (the buffers: running statistics, power vectors)."""
    tensors = [p.detach().reshape(-1) for p in model.parameters()]
    tensors += [b.detach().reshape(-1).to(DTYPE) for b in model.buffers() if b.is_floating_point()]
    return torch.cat(tensors)


def spread_over_ranks(vector: torch.Tensor) -> float:
    """Largest difference of ``vector`` between any process and process 0."""
    gathered = [torch.empty_like(vector) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, vector)
    return max(float((other - gathered[0]).abs().max()) for other in gathered)


def structure_checks(name: str, model: nn.Module, x: torch.Tensor) -> dict[str, object]:
    """The guarantees after training: claimed, and measured by the checks."""
    model.eval()
    if name == "odenet":
        result = check_lipschitz(model, x.detach(), bound=1.0)
        claimed = any(isinstance(p, NonExpansive) for p in model.guarantees())
        return {"claims_non_expansive": claimed, "lipschitz_ok": result.ok, "worst": result.worst}
    result = check_equivariance(model, C4, act_image, lambda g, out: out, x.detach())
    return {"invariant_ok": result.ok, "worst": result.worst}


def run(name: str, build: Callable[[], nn.Module], args: argparse.Namespace) -> dict:
    """Train one model on this process's slice; with --compare, measure against one process."""
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{rank % torch.cuda.device_count()}") if args.cuda else None
    x, y = data(args.batch)[name]
    local = slice(rank * args.batch // world, (rank + 1) * args.batch // world)
    model = SyncGroupBatchNorm.convert(build())
    if device is not None:
        model, x, y = model.to(device), x.to(device), y.to(device)
    # Buffers (running statistics, power-iteration vectors) are broadcast from process 0 at
    # each forward by default; --no-broadcast-buffers shows they stay identical without it.
    sync = {"forward_sync_buffers": False} if args.no_broadcast_buffers else {}
    ddp = DistributedDataParallel(model, device_ids=[device.index] if device else None, **sync)
    train(ddp, x[local], y[local], args.steps, args.lr)
    if name == "odenet":  # monitoring with power iteration updates each field's buffer
        for field in model.fields:
            field.spectral_norm()
    found: dict[str, object] = {"spread_over_ranks": spread_over_ranks(flat_parameters(model))}
    if args.compare:
        reference = build()  # plain GroupBatchNorm, one process, the whole batch
        if device is not None:
            reference = reference.to(device)
        train(reference, x, y, args.steps, args.lr)
        if name == "odenet":
            for field in reference.fields:
                field.spectral_norm()
        difference = flat_parameters(model) - flat_parameters(reference)
        found["difference_to_one_process"] = float(difference.abs().max())
        found.update(structure_checks(name, model, x))
    return found


def main() -> None:
    """Parse the options, join the process group, train both models, report on rank 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="optimiser steps (default 5)")
    parser.add_argument("--batch", type=int, default=8, help="whole batch, split over processes")
    parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate")
    parser.add_argument("--compare", action="store_true", help="measure against one process")
    parser.add_argument("--report", type=Path, help="write rank 0's findings as JSON here")
    parser.add_argument(
        "--no-broadcast-buffers",
        action="store_true",
        help="let DDP keep each process's buffers (they stay identical anyway: see the report)",
    )
    args = parser.parse_args()
    args.cuda = torch.cuda.is_available()
    torch.set_num_threads(1)
    dist.init_process_group(backend="nccl" if args.cuda else "gloo")
    try:
        findings = {name: run(name, build, args) for name, build in _MODELS.items()}
        findings["world_size"] = dist.get_world_size()
        if dist.get_rank() == 0:
            print(json.dumps(findings, indent=2))
            if args.report is not None:
                args.report.write_text(json.dumps(findings, indent=2), encoding="utf-8")
    finally:
        dist.destroy_process_group()


_MODELS = {"odenet": build_odenet, "p4": build_p4}

if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
