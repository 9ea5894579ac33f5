"""Real ``structdl`` processes stopped by Ctrl-C (SIGINT) or ``kill`` (SIGTERM) mid-run.

The driver registers one experiment, ``endless``: with ``--seed 0`` (the preset's) it
finishes at once; with any other seed, ``--full`` or ``--force`` it keeps writing files until
it is stopped, so a signal lands mid-write.
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
from _cli_processes import default_sigint

from structdl.report import build_report

DRIVER = textwrap.dedent(
    """
    import sys
    from dataclasses import dataclass
    from pathlib import Path

    from structdl.cli import main
    from structdl.experiments import _registry
    from structdl.experiments._registry import Result
    from structdl.experiments.io import atomic_write_text


    @dataclass
    class Config:
        seed: int = 0
        steps: int = 1

        @classmethod
        def quick(cls):
            return cls()

        @classmethod
        def full(cls):
            return cls(steps=2)


    def run(config, out_dir, progress):
        marker = Path(sys.argv[1])
        atomic_write_text(out_dir / "partial.txt", "first")
        if config.seed == 0 and config.steps == 1 and not marker.parent.joinpath("loop").exists():
            return Result(metrics={"seed": config.seed, "steps": config.steps})
        while True:  # keeps writing files until it is stopped, so a signal can land mid-write
            atomic_write_text(out_dir / "partial.txt", "y" * 200_000)
            if not marker.exists():
                marker.write_text("started")


    _registry._load_all = lambda: None
    _registry.register(_registry.Experiment("endless", "Can it be stopped?", Config, run))
    if __name__ == "__main__":
        sys.exit(main(sys.argv[2:]))
    """
)


def _start(tmp_path: Path, *argv: str) -> subprocess.Popen[str]:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, str(driver), str(tmp_path / "started"), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,  # SIGINT as at a terminal, also when pytest runs in a job
    )


def _wait_started(process: subprocess.Popen[str], marker: Path) -> None:
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the driver did not start in 60 s"
        time.sleep(0.05)
    time.sleep(0.2)


def _stop(process: subprocess.Popen[str], signum: int) -> str:
    try:
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return stderr


def _leftovers(root: Path) -> list[str]:
    return [
        p.name for p in root.rglob("*") if p.name.startswith(".") and p.name != ".structdl.lock"
    ]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_leaves_no_partial_files(signum, tmp_path):
    out = tmp_path / "results"
    (tmp_path / "loop").touch()
    process = _start(tmp_path, "run", "endless", "--out", str(out))
    _wait_started(process, tmp_path / "started")
    stderr = _stop(process, signum)
    assert process.returncode == 130
    assert stderr == "structdl: interrupted; rerun to resume\n"
    assert sorted(p.name for p in (out / "endless").iterdir()) == []  # no run, no staging
    assert _leftovers(out) == []


@pytest.mark.parametrize(
    ("rerun", "signum"),
    [(["--force"], signal.SIGINT), (["--seed", "1"], signal.SIGTERM), (["--full"], signal.SIGTERM)],
    ids=["--force SIGINT", "--seed 1 SIGTERM", "--full SIGTERM"],
)
def test_interrupted_rerun_keeps_the_finished_result(rerun, signum, tmp_path):
    out = tmp_path / "results"
    first = _start(tmp_path, "run", "endless", "--out", str(out))
    assert first.communicate(timeout=120)[1] == "" and first.returncode == 0
    finished = out / "endless" / "quick-seed0"
    before = {p.name: p.read_bytes() for p in finished.iterdir()}

    (tmp_path / "loop").touch()  # the rerun now runs until it is stopped
    process = _start(tmp_path, "run", "endless", "--out", str(out), *rerun)
    _wait_started(process, tmp_path / "started")
    assert _stop(process, signum) == "structdl: interrupted; rerun to resume\n"
    assert process.returncode == 130

    assert {p.name: p.read_bytes() for p in finished.iterdir()} == before
    assert json.loads(before["metrics.json"])["seed"] == 0
    assert _leftovers(out) == []
    (shown,) = build_report(out).results.experiments
    assert shown.run == "quick-seed0" and shown.other_runs == ()


def test_second_process_on_the_same_folder_exits_2_naming_the_holder(tmp_path):
    out = tmp_path / "results"
    (tmp_path / "loop").touch()
    holder = _start(tmp_path, "run", "endless", "--out", str(out))
    try:
        _wait_started(holder, tmp_path / "started")
        second = _start(tmp_path, "reproduce", "--out", str(out))
        _, stderr = second.communicate(timeout=120)
        assert second.returncode == 2
        (line,) = stderr.splitlines()
        assert line.startswith(
            f"structdl: error: results folder {out} is in use by pid {holder.pid}"
        )
        assert "structdl run endless --out" in line and "pass another --out" in line
    finally:
        _stop(holder, signal.SIGTERM)
    assert holder.returncode == 130
