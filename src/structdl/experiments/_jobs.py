"""Run independent experiments in worker processes (``structdl reproduce --jobs N``).

One fresh process per experiment (``spawn``: no state is inherited, so each experiment sees
exactly what it would see in ``--jobs 1``), at most ``jobs`` alive at a time. Once no
experiment is left waiting, one that starts gets the idle slots for its own independent
model/seed runs (:mod:`structdl.experiments.units`). The parent holds
the results folder's lock; workers call :func:`run_experiment` with ``lock=False``.

Interrupts: Ctrl-C reaches every process of the terminal's process group, and the parent
forwards SIGTERM to its workers; each worker turns either into ``KeyboardInterrupt``, removes
its staging folder and exits quietly, so the results folder is left as after an interrupted
``--jobs 1`` run and the next run resumes.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .runner import ExperimentFailed, RunRecord, run_experiment

__all__ = ["JobOutcome", "run_in_workers"]


@dataclass(frozen=True)
class JobOutcome:
    """What became of one experiment: a record, or the failure message."""

    index: int
    name: str
    record: RunRecord | None
    failure: str | None


class _FirstSignalInterrupts:
    """Signal handler: the first SIGINT/SIGTERM raises KeyboardInterrupt, later ones do nothing.

    Ctrl-C reaches the worker and its parent, and the parent then sends SIGTERM to stop the
    workers: the second signal must not interrupt the clean-up the first one started. (The
    handler stays a Python function: switching to SIG_IGN inside it would turn a signal already
    pending into "OSError: Signal 15 ignored due to race condition".)
    """

    def __init__(self) -> None:
        self.fired = False

    def __call__(self, signum: int, frame: Any) -> None:
        if not self.fired:
            self.fired = True
            raise KeyboardInterrupt


def _worker(
    experiment: Any,
    preset: str,
    out_root: Path,
    force: bool,  # noqa: FBT001
    progress_factory: Callable[[str], Any],
    connection: multiprocessing.connection.Connection,
    unit_workers: int,
) -> None:
    handler = _FirstSignalInterrupts()
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    try:
        progress = progress_factory(experiment.name)
        record = run_experiment(
            experiment, preset, out_root, None, progress, force, lock=False, workers=unit_workers
        )
        connection.send(("ran", record))
    except KeyboardInterrupt:
        sys.exit(130)  # quietly: the parent reports the interrupt once
    except ExperimentFailed as failure:
        connection.send(("failed", str(failure)))
    except Exception as error:  # a ConfigError that appeared after the parent's checks
        connection.send(("failed", f"experiment {experiment.name!r}: {error}"))
    finally:
        connection.close()


def _outcome(index: int, name: str, process: Any, connection: Any) -> JobOutcome:
    try:
        kind, value = connection.recv() if connection.poll() else ("lost", None)
    except (EOFError, OSError):
        kind, value = "lost", None
    if kind == "ran":
        return JobOutcome(index, name, value, None)
    if kind == "failed":
        return JobOutcome(index, name, None, value)
    return JobOutcome(
        index,
        name,
        None,
        f"experiment {name!r} failed: its worker process ended with exit status "
        f"{process.exitcode} without a result",
    )


def run_in_workers(
    experiments: Sequence[tuple[int, Any]],
    preset: str,
    out_root: Path,
    *,
    force: bool,
    jobs: int,
    progress_factory: Callable[[str], Any],
) -> Iterator[JobOutcome]:
    """Run ``(index, experiment)`` pairs in at most ``jobs`` processes; yield as they finish.

    ``progress_factory(name)`` is called in the worker (it must be picklable, e.g. a
    module-level function) to make the experiment's progress reporter.

    Raises:
        KeyboardInterrupt: after every worker has been stopped and has cleaned up.
    """
    context = multiprocessing.get_context("spawn")
    waiting = list(experiments)
    running: dict[Any, tuple[int, str, Any, Any]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                index, experiment = waiting.pop(0)
                # Slots that no queued experiment will take go to this one's inner runs.
                idle = max(0, jobs - len(running) - 1 - len(waiting))
                receive, send = context.Pipe(duplex=False)
                process = context.Process(
                    target=_worker,
                    args=(experiment, preset, out_root, force, progress_factory, send, 1 + idle),
                    name=f"structdl-{experiment.name}",
                )
                process.start()
                send.close()  # the child holds its own copy
                running[process.sentinel] = (index, experiment.name, process, receive)
            ready = multiprocessing.connection.wait(list(running))
            for sentinel in ready:
                index, name, process, receive = running.pop(sentinel)
                process.join()
                outcome = _outcome(index, name, process, receive)
                receive.close()
                yield outcome
    except BaseException:
        for _, _, process, _ in running.values():
            if process.is_alive():
                process.terminate()  # SIGTERM: the worker removes its staging folder
        for _, _, process, receive in running.values():
            process.join()
            receive.close()
        raise
