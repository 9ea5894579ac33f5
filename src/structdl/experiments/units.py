"""Independent units of work inside one experiment, run in worker processes where allowed.

An experiment that trains several models, sizes or seeds, each from its own seed and its own
data, lists them as *units* and calls ``map_units(train_one, units)``. With one worker (the
default) the units run in order, in this process, exactly as a plain loop would. Under
``unit_workers(n)`` with ``n > 1`` (``structdl run NAME --jobs N``, or the idle slots of
``structdl reproduce --jobs N``) they run in ``n`` fresh ``spawn`` processes, each pinned to one
thread, and come back in the order of ``units``.

The results are the same either way, bit for bit, provided each unit seeds what it draws
(``torch.manual_seed`` or a ``torch.Generator`` of its own) and returns plain data (numbers,
tensors, state dicts): a unit sees the same operations, the same seeds and the same thread
count in a worker as in the loop.

Interrupts: workers ignore SIGINT, so a Ctrl-C (or the SIGTERM that ``reproduce --jobs`` turns
into ``KeyboardInterrupt``) is handled once, in the experiment's process, which terminates
the pool before the interrupt propagates; the runner then removes the staging folder as for any
interrupted run.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

from ..structure._validate import require_int

__all__ = ["current_unit_workers", "map_units", "unit_workers"]

Unit = TypeVar("Unit")
Outcome = TypeVar("Outcome")

_workers = 1
_POLL_S = 0.1  # how often the experiment's process looks up from waiting on its units


def current_unit_workers() -> int:
    """The number of worker processes :func:`map_units` may use now (1: run in order here)."""
    return _workers


@contextmanager
def unit_workers(n: int) -> Iterator[None]:
    """Let :func:`map_units` use up to ``n`` worker processes inside this block.

    Example:
        >>> with unit_workers(1):
        ...     map_units(abs, [-2, 3])
        [2, 3]
    """
    global _workers
    previous, _workers = _workers, require_int(n, "workers", "unit_workers")
    try:
        yield
    finally:
        _workers = previous


def _start_worker() -> None:
    # The experiment's process handles Ctrl-C once and terminates the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)  # as start_run does for the loop in the experiment's process


def _call(task: tuple[Callable[[Any], Any], int, Any]) -> tuple[int, Any]:
    function, index, unit = task
    return index, function(unit)


def map_units(
    function: Callable[[Unit], Outcome],
    units: Sequence[Unit],
    *,
    on_done: Callable[[int], None] | None = None,
) -> list[Outcome]:
    """``[function(u) for u in units]``, in worker processes when :func:`unit_workers` allows.

    Args:
        function: a module-level function (it is pickled by reference) of one unit.
        units: picklable arguments, one per independent run.
        on_done: called with a unit's index when it finishes (for progress), in this process;
            in order when running here, in completion order in workers.

    Returns:
        The outcomes, in the order of ``units``.
    """
    units = list(units)
    workers = min(_workers, len(units))
    if workers <= 1:
        outcomes = []
        for index, unit in enumerate(units):
            outcomes.append(function(unit))
            if on_done is not None:
                on_done(index)
        return outcomes
    pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_start_worker)
    try:
        found: dict[int, Any] = {}
        tasks = [(function, index, unit) for index, unit in enumerate(units)]
        results = pool.imap_unordered(_call, tasks)
        while len(found) < len(units):
            try:
                # Wake up often: a signal that the kernel hands to one of the pool's threads
                # would otherwise never interrupt an untimed wait in this (the main) thread.
                index, outcome = results.next(timeout=_POLL_S)
            except multiprocessing.TimeoutError:
                continue
            found[index] = outcome
            if on_done is not None:
                on_done(index)
        pool.close()
        pool.join()
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    return [found[index] for index in range(len(units))]
