"""`structdl reproduce --jobs N`: the results of `--jobs 1`, the same resume and interrupts.

Real processes: a driver script registers three small experiments (seeded torch training)
and one that runs until it is stopped; `--jobs 2` runs them in spawned worker processes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _cli_processes import interrupt, start, wait_until

DRIVER = textwrap.dedent(
    """
    import os, sys, time
    from dataclasses import dataclass
    from pathlib import Path

    import torch

    from structdl.cli import main
    from structdl.experiments import _registry
    from structdl.experiments._registry import Result


    @dataclass
    class Config:
        seed: int = 0
        width: int = 8

        @classmethod
        def quick(cls):
            return cls()

        full = quick


    def fit(config, out_dir, progress):
        torch.manual_seed(config.seed)
        torch.set_num_threads(1)
        model = torch.nn.Sequential(torch.nn.Linear(3, config.width), torch.nn.Tanh(),
                                    torch.nn.Linear(config.width, 1))
        x, y = torch.randn(64, 3), torch.randn(64, 1)
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(50):
            optimiser.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimiser.step()
        weights = torch.cat([p.detach().flatten() for p in model.parameters()])
        return Result(metrics={"loss": float(loss.detach()), "weights": weights.tolist(),
                               "pid": os.getpid()})


    def endless(config, out_dir, progress):
        marker = Path(os.environ["STRUCTDL_TEST_MARKER"])
        (out_dir / "partial.txt").write_text("x")
        marker.write_text("started")
        while True:
            time.sleep(0.05)


    _registry._load_all = lambda: None
    for name in ("alpha", "beta", "gamma"):
        _registry.register(_registry.Experiment(name, f"Does {name} fit?", Config, fit))
    if os.environ.get("STRUCTDL_TEST_MARKER"):
        _registry.register(_registry.Experiment("endless", "Stops?", Config, endless))

    if __name__ == "__main__":
        sys.exit(main(sys.argv[1:]))
    """
)


def _driver(tmp_path: Path) -> Path:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    return driver


def _metrics(out: Path, name: str) -> dict:
    return json.loads((out / name / "quick-seed0" / "metrics.json").read_text(encoding="utf-8"))


def _reproduce(tmp_path: Path, out: Path, *extra: str, env: dict | None = None):
    return subprocess.run(
        [sys.executable, str(_driver(tmp_path)), "reproduce", "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


@pytest.mark.slow  # spawned workers import torch: ~30 s on an idle 2-core machine
def test_jobs_2_gives_the_results_of_jobs_1_bit_for_bit(tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert _reproduce(tmp_path, serial).returncode == 0
    done = _reproduce(tmp_path, parallel, "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert {f"[{i}/3] {n} — done" for i, n in enumerate(("alpha", "beta", "gamma"), 1)} <= {
        line.split(" in ")[0] for line in done.stdout.splitlines()
    }
    pids = set()
    for name in ("alpha", "beta", "gamma"):
        one, two = _metrics(serial, name), _metrics(parallel, name)
        pids.add(two["metrics"].pop("pid"))
        one["metrics"].pop("pid")
        assert one["metrics"] == two["metrics"]  # floats compared exactly, as saved
        assert one["config"] == two["config"]
    assert len(pids) == 3  # each experiment ran in its own worker process
    assert (parallel / "report.html").is_file()

    rerun = _reproduce(tmp_path, parallel, "--jobs", "2")
    assert rerun.returncode == 0
    assert rerun.stdout.count("skipped (done)") == 3


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupting_jobs_2_stops_the_workers_and_resumes(tmp_path, signum):
    import os

    out, marker = tmp_path / "results", tmp_path / "started"
    env = {**os.environ, "STRUCTDL_TEST_MARKER": str(marker)}
    process = start(_driver(tmp_path), "reproduce", "--out", str(out), "--jobs", "2", env=env)
    wait_until(process, marker.exists, "the endless experiment starting")
    time.sleep(0.3)
    # SIGINT: Ctrl-C, to every process of the group; SIGTERM: a kill, to the parent only.
    stderr = interrupt(process, signum)
    assert process.returncode == 130
    assert stderr.splitlines()[-1] == "structdl: interrupted; rerun to resume"
    assert "Traceback" not in stderr
    assert [p.name for p in (out / "endless").iterdir()] == []  # the worker cleaned up
    hidden = [p.name for p in out.rglob(".*") if p.name != ".structdl.lock"]
    assert hidden == []

    # The finished ones are kept and skipped; (without the endless one) the rerun completes.
    rerun = _reproduce(tmp_path, out, "--jobs", "2")
    assert rerun.returncode == 0, rerun.stderr
    finished = [line for line in rerun.stdout.splitlines() if "skipped (done)" in line]
    assert len(finished) + rerun.stdout.count("— done in") == 3
