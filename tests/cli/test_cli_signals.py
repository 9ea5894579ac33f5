"""A real ``structdl run`` process, stopped by Ctrl-C (SIGINT) or ``kill`` (SIGTERM) mid-run."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

DRIVER = textwrap.dedent(
    """
    import sys
    from dataclasses import dataclass
    from pathlib import Path

    from structdl.cli import main
    from structdl.experiments import _registry
    from structdl.experiments.io import atomic_write_text


    @dataclass
    class Config:
        seed: int = 0

        @classmethod
        def quick(cls):
            return cls()

        full = quick


    def run(config, out_dir, progress):
        marker = Path(sys.argv[2])
        while True:  # keeps writing files until it is stopped, so a signal can land mid-write
            atomic_write_text(out_dir / "partial.txt", "y" * 200_000)
            if not marker.exists():
                marker.write_text("started")


    _registry._load_all = lambda: None
    _registry.register(_registry.Experiment("endless", "Can it be stopped?", Config, run))
    sys.exit(main(["run", "endless", "--out", sys.argv[1]]))
    """
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_leaves_no_partial_files(signum, tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    out, marker = tmp_path / "results", tmp_path / "started"
    process = subprocess.Popen(
        [sys.executable, str(driver), str(out), str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the driver did not start in 60 s"
            time.sleep(0.05)
        time.sleep(0.2)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert stderr == "structdl: interrupted; rerun to resume\n"
    assert (out / "endless" / "partial.txt").is_file()
    assert not (out / "endless" / "metrics.json").exists()
    assert [p for p in out.rglob("*") if p.name.endswith(".tmp")] == []
