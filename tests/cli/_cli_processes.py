"""Real `structdl` processes for the signal tests: start in a session, wait, interrupt."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def default_sigint() -> None:
    """Give the child Ctrl-C's default action (a KeyboardInterrupt in Python).

    A shell starts background jobs with SIGINT ignored, and children inherit that: tests run
    from such a job (``.ci/run &``) would otherwise send a SIGINT the driver never sees.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(driver: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Run ``python driver argv…`` in its own session (so Ctrl-C can reach its whole group)."""
    return subprocess.Popen(
        [sys.executable, str(driver), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
        preexec_fn=default_sigint,
    )


def wait_until(process: subprocess.Popen[str], ready: Callable[[], bool], what: str) -> None:
    """Poll ``ready()`` until true; fail if the process ends first or 120 s pass."""
    deadline = time.monotonic() + 120
    while not ready():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{what} did not happen in 120 s"
        time.sleep(0.05)


def interrupt(process: subprocess.Popen[str], signum: int) -> str:
    """Ctrl-C (SIGINT to the whole group) or a kill (SIGTERM to the parent); return stderr.

    The process is killed outright if it has not ended within 120 s.
    """
    try:
        if signum == signal.SIGINT:
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signum)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    return stderr
