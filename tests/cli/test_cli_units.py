"""Inner units in worker processes (`run NAME --jobs N`, idle slots of `reproduce --jobs N`):
an interrupt stops every unit process, removes the staging folder and exits 130.

Real processes: a driver script registers an experiment whose units sleep until stopped.
"""

from __future__ import annotations

import os
import signal
import textwrap
import time

import pytest
from _cli_processes import interrupt, start, wait_until

DRIVER = textwrap.dedent(
    """
    import os, sys, time
    from dataclasses import dataclass
    from pathlib import Path

    from structdl.cli import main
    from structdl.experiments import _registry
    from structdl.experiments._registry import Result
    from structdl.experiments.units import map_units


    @dataclass
    class Config:
        seed: int = 0

        @classmethod
        def quick(cls):
            return cls()

        full = quick


    def nap(index):
        folder = Path(os.environ["STRUCTDL_TEST_PIDS"])
        (folder / f"{index}-{os.getpid()}").write_text("started")
        while True:
            time.sleep(0.05)


    def napping(config, out_dir, progress):
        (out_dir / "partial.txt").write_text("x")
        map_units(nap, range(4))
        return Result(metrics={})


    _registry._load_all = lambda: None
    _registry.register(_registry.Experiment("napping", "Stops?", Config, napping))

    if __name__ == "__main__":
        sys.exit(main(sys.argv[1:]))
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow  # spawned unit workers import torch
@pytest.mark.parametrize(
    ("command", "signum"),
    [
        (("run", "napping"), signal.SIGINT),
        (("run", "napping"), signal.SIGTERM),
        (("reproduce",), signal.SIGINT),
        (("reproduce",), signal.SIGTERM),
    ],
    ids=["run-SIGINT", "run-SIGTERM", "reproduce-SIGINT", "reproduce-SIGTERM"],
)
def test_an_interrupt_stops_every_unit_worker_and_cleans_up(tmp_path, command, signum):
    driver, out, pids = tmp_path / "driver.py", tmp_path / "results", tmp_path / "pids"
    driver.write_text(DRIVER, encoding="utf-8")
    pids.mkdir()
    process = start(
        driver,
        *command,
        "--out",
        str(out),
        "--jobs",
        "2",
        env={**os.environ, "STRUCTDL_TEST_PIDS": str(pids)},
    )
    # Two units run at once; the interrupt comes while both sleep.
    wait_until(process, lambda: len(list(pids.iterdir())) == 2, "two unit workers starting")
    stderr = interrupt(process, signum)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    started = [int(p.name.split("-")[1]) for p in pids.iterdir()]
    assert len(started) == 2  # two workers, and no unit started after the interrupt
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in started)
    assert [p.name for p in (out / "napping").iterdir()] == []  # staging folder removed
