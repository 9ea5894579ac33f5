"""One structdl process at a time per results folder: an advisory lock on ``<out>/.structdl.lock``.

The lock is ``fcntl.flock`` on an open file, so the kernel releases it when the holder exits in
any way (even ``kill -9``): there is never a stale lock to remove by hand. The file keeps one
line naming the holder (pid, command, start time) for the message a second process prints.
On systems without ``fcntl`` (Windows) no lock is taken.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .._errors import ConfigError

__all__ = ["LOCK_FILE", "ResultsBusy", "results_lock"]

LOCK_FILE = ".structdl.lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

# Roots locked by this process, so nested calls (reproduce → run_experiment) do not deadlock.
_HELD: dict[Path, int] = {}


class ResultsBusy(ConfigError):
    """Another process holds the results folder's lock."""


def _holder_line(command: str) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime())
    return f"pid {os.getpid()} (`{command}`, started {started})"


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 400, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text.splitlines()[0] if text else "another structdl process"


@contextmanager
def results_lock(out_root: Path, command: str | None = None) -> Iterator[None]:
    """Hold the lock of ``out_root`` for the duration of the block.

    Args:
        out_root: an existing results folder.
        command: how the holder is described to a second process (default: ``sys.argv``).

    Raises:
        ResultsBusy: another process holds the lock; the message names it.
    """
    root = Path(out_root).resolve()
    if fcntl is None or root in _HELD:
        yield
        return
    path = root / LOCK_FILE
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as error:
        raise ConfigError(
            f"cannot create the lock file {path} — expected a regular file the user can write — "
            f"got {error.strerror or error} — remove it or pass another --out"
        ) from error
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResultsBusy(
                f"results folder {out_root} is in use by {_read_holder(fd)} — expected one "
                "structdl run per results folder at a time — wait for it to finish or pass "
                "another --out"
            ) from None
        description = command or " ".join(["structdl", *sys.argv[1:]])
        os.ftruncate(fd, 0)
        os.pwrite(fd, (_holder_line(description) + "\n").encode("utf-8"), 0)
        _HELD[root] = fd
        try:
            yield
        finally:
            del _HELD[root]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
