"""Data-parallel training under torchrun: 2 processes (gloo) match one process on the batch.

The bar: an ODENet with the clip rule and a p4 network with (synchronised) group batch norm
train a few steps; parameters (and buffers) are identical on both processes and equal a
single-process run on the full batch to 1e-6 in float64; the guarantees still hold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from structdl.equivariant import C4, D4, GroupBatchNorm
from structdl.equivariant.sync_norm import SyncGroupBatchNorm

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ddp_train.py"


def _torchrun(tmp_path: Path, *extra: str) -> dict:
    report = tmp_path / "ddp.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",  # a free port on this machine, so parallel test runs cannot collide
            "--nproc_per_node",
            "2",
            str(EXAMPLE),
            "--steps",
            "3",
            "--compare",
            "--report",
            str(report),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(report.read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.parametrize("buffers", ["broadcast", "not broadcast"])
def test_two_processes_equal_one_process_on_the_whole_batch(tmp_path, buffers):
    extra = ("--no-broadcast-buffers",) if buffers == "not broadcast" else ()
    found = _torchrun(tmp_path, *extra)
    assert found["world_size"] == 2
    for name in ("odenet", "p4"):
        assert found[name]["spread_over_ranks"] == 0.0, name  # bitwise identical processes
        assert found[name]["difference_to_one_process"] <= 1e-6, name
    assert found["odenet"]["claims_non_expansive"] and found["odenet"]["lipschitz_ok"]
    assert found["odenet"]["worst"] <= 1.0
    assert found["p4"]["invariant_ok"] and found["p4"]["worst"] <= 1e-12


def test_one_process_sync_norm_is_group_batch_norm():
    torch.manual_seed(0)
    plain = GroupBatchNorm(3, D4).double()
    with torch.no_grad():
        plain.weight.normal_()
        plain.bias.normal_()
    synced = SyncGroupBatchNorm.convert(torch.nn.Sequential(plain))[0]
    assert isinstance(synced, SyncGroupBatchNorm) and synced.weight.dtype == torch.float64
    assert torch.equal(synced.weight, plain.weight) and torch.equal(synced.bias, plain.bias)
    x = torch.randn(4, 3, 8, 5, 5, dtype=torch.float64)
    assert torch.equal(synced(x), plain(x))  # no process group: exactly the plain layer
    assert torch.equal(synced.running_var, plain.running_var)
    trivial = SyncGroupBatchNorm.convert(GroupBatchNorm(2, C4, rep="trivial"))
    assert trivial(torch.randn(3, 2, 4, 4)).shape == (3, 2, 4, 4)
