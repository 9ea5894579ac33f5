"""The ``structdl`` command line (docs/cli.md).

::

    structdl list                                          experiments, one line each
    structdl run NAME [--quick|--full] [--seed N] [--out DIR] [--force]
    structdl reproduce [--quick|--full] [--out DIR] [--only NAME ...] [--force] [--jobs N]
    structdl report [--out DIR]                            rebuild the report from saved results
    structdl check                                         run every registered structure check

Exit status: 0 success; 1 an experiment raised or a structure check failed; 2 bad input (usage
error, unknown experiment, unusable or corrupt results folder, a results folder in use by
another structdl process, the ``experiments`` extra not installed: any ``StructdlError``),
printed as one line ``structdl: error: …`` on stderr without a traceback; 130 interrupted
(Ctrl-C or SIGTERM) — rerunning resumes, as finished experiments are skipped.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import os
import re
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TextIO

from . import __version__
from ._errors import StructdlError

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
MAX_SEED = 2**64 - 1  # the range torch.manual_seed accepts

# What the command line needs beyond the library (torch, numpy): the `experiments` extra.
_EXTRA_MODULES = {"matplotlib": "matplotlib", "sklearn": "scikit-learn", "rich": "rich"}
_EXTRA_INSTALL = "pip install 'structdl[experiments]'"

# Subpackages whose import registers structure checks in structdl.structure.check_registry.
_CHECK_PACKAGES = (
    "structdl.structure",
    "structdl.dynamics",
    "structdl.equivariant",
    "structdl.invertible",
    "structdl.manifolds",
    "structdl.optim",
    "structdl.control",
)


class _UsageError(Exception):
    """An argparse error, turned into one line and exit status 2 by :func:`main`."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No abbreviations: `--fo` must not silently mean `--force`.
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    # argparse prints the usage block plus the error and exits; we want exactly one line.
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see `{self.prog} --help`)")


def _seed(text: str) -> int:
    # Digits only: int() would also accept "+5", " 5" and "1_000", and "-1" must be rejected.
    if re.fullmatch(r"[0-9]+", text) is None or int(text) > MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"invalid seed {text!r} — expected an integer from 0 to 2**64-1 = {MAX_SEED}, "
            "such as 0 or 42"
        )
    return int(text)


def _folder(text: str) -> Path:
    # Path("") is ".", so an empty --out would silently mean the current folder.
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"empty results folder {text!r} — expected a folder path, e.g. --out results"
        )
    return Path(text)


def _jobs(text: str) -> int:
    if re.fullmatch(r"[0-9]+", text) is None or not 1 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(
            f"invalid job count {text!r} — expected an integer from 1 to 256, e.g. --jobs 2"
        )
    return int(text)


def _add_preset(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--quick",
        dest="preset",
        action="store_const",
        const="quick",
        help="small configuration, about a minute per experiment on one core (default)",
    )
    group.add_argument(
        "--full",
        dest="preset",
        action="store_const",
        const="full",
        help="the full configuration behind the reported figures",
    )
    parser.set_defaults(preset="quick")


def _add_out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=_folder,
        default=Path("results"),
        metavar="DIR",
        help="results folder (default: ./results)",
    )


def _add_force(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help="rerun even if a finished result with the same preset exists",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``structdl`` command."""
    parser = _Parser(
        prog="structdl",
        description="Structure-preserving deep learning: experiments, report and checks.",
    )
    parser.add_argument("--version", action="version", version=f"structdl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    commands.add_parser("list", help="list the experiments, one line each")

    run = commands.add_parser("run", help="run one experiment")
    run.add_argument("name", metavar="NAME", help="experiment name (see `structdl list`)")
    _add_preset(run)
    run.add_argument(
        "--seed", type=_seed, default=None, metavar="N", help="random seed (default: preset's)"
    )
    _add_out(run)
    _add_force(run)
    run.add_argument(
        "--jobs",
        type=_jobs,
        default=1,
        metavar="N",
        help="run the experiment's independent model/seed runs in up to N processes (default: 1)",
    )

    reproduce = commands.add_parser(
        "reproduce", help="run every experiment (resuming), then build the report"
    )
    _add_preset(reproduce)
    _add_out(reproduce)
    reproduce.add_argument(
        "--only", nargs="+", metavar="NAME", default=None, help="run only these experiments"
    )
    _add_force(reproduce)
    reproduce.add_argument(
        "--jobs",
        type=_jobs,
        default=1,
        metavar="N",
        help="run up to N experiments at once, each in its own process; an experiment "
        "started when fewer remain also runs its model/seed runs in the idle ones (default: 1)",
    )

    report = commands.add_parser("report", help="rebuild report.html/report.md from results")
    _add_out(report)

    commands.add_parser("check", help="run every registered structure check")
    return parser


# --------------------------------------------------------------------------- progress display


class _PlainProgress:
    """Progress as plain lines (stdout is not a terminal: logs, CI, pipes).

    At most one line per 10 % of the total, and descriptions at most every
    ``describe_interval_s`` seconds, so that an experiment describing every epoch does not
    flood a CI log.
    """

    describe_interval_s = 2.0

    def __init__(self, name: str, stream: TextIO) -> None:
        self._name, self._stream = name, stream
        self._total: int | None = None
        self._done = 0
        self._shown_tenth = 0
        self._text = ""
        self._last_described = -math.inf

    def _say(self, text: str) -> None:
        print(f"  {self._name}: {text}", file=self._stream, flush=True)

    def set_total(self, total: int) -> None:
        self._total, self._done, self._shown_tenth = max(int(total), 0), 0, 0

    def advance(self, units: int = 1) -> None:
        self._done += units
        if not self._total:
            return
        tenth = min(10, self._done * 10 // self._total)
        if tenth > self._shown_tenth:  # at most ten lines per experiment
            self._shown_tenth = tenth
            self._say(f"{100 * self._done // self._total}% ({self._done}/{self._total})")

    def describe(self, text: str) -> None:
        now = time.monotonic()
        if text != self._text and now - self._last_described >= self.describe_interval_s:
            self._text, self._last_described = text, now
            self._say(text)


class _RichProgress:
    """Progress as a rich live bar (stdout is a terminal)."""

    def __init__(self, bar: Any, task: Any) -> None:
        self._bar, self._task = bar, task

    def set_total(self, total: int) -> None:
        self._bar.update(self._task, total=max(int(total), 0), completed=0)

    def advance(self, units: int = 1) -> None:
        self._bar.advance(self._task, units)

    def describe(self, text: str) -> None:
        self._bar.update(self._task, description=text)


@contextmanager
def _progress(name: str, stream: TextIO) -> Iterator[Any]:
    if not stream.isatty():
        yield _PlainProgress(name, stream)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        SpinnerColumn(),
        TextColumn(name, markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", markup=False),
    )
    with Progress(*columns, console=Console(file=stream)) as bar:
        task = bar.add_task("", total=None)
        yield _RichProgress(bar, task)
        # An experiment that never announced a total still ends with a full bar.
        done = max(bar.tasks[0].completed, 1)
        if bar.tasks[0].total is None:
            bar.update(task, total=done, completed=done)


# --------------------------------------------------------------------------- commands


def _registry() -> Any:
    from .experiments import _registry

    return _registry


def _cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    registry = _registry()
    names = registry.names()
    if not names:
        print("no experiments are registered", file=out)
    for name in names:
        print(f"{name} — {registry.get(name).question}", file=out)
    return EXIT_OK


def _run_one(
    experiment: Any, args: argparse.Namespace, seed: int | None, label: str, out: TextIO
) -> Any:
    from .experiments._registry import NullProgress
    from .experiments.runner import is_finished, run_experiment

    if not args.force and is_finished(experiment, args.preset, args.out, seed):
        # No progress bar for an experiment that will be skipped.
        record = run_experiment(experiment, args.preset, args.out, seed, NullProgress())
    else:
        with _progress(experiment.name, out) as progress:
            record = run_experiment(
                experiment, args.preset, args.out, seed, progress, args.force, workers=args.jobs
            )
    _say_done(record, label, out)
    return record


def _say_done(record: Any, label: str, out: TextIO) -> None:
    if record.status == "skipped":
        print(f"{label} — skipped (done)", file=out, flush=True)
    else:
        where = record.out_dir / "metrics.json"
        print(f"{label} — done in {record.elapsed_s:.1f} s → {where}", file=out, flush=True)


def _cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    from .experiments.runner import ExperimentFailed, ensure_out_root, results_lock

    experiment = _registry().get(args.name)
    ensure_out_root(args.out)
    with results_lock(args.out, args.command_line):
        try:
            _run_one(experiment, args, args.seed, experiment.name, out)
        except ExperimentFailed as failure:
            print(f"structdl: {failure}", file=sys.stderr)
            return EXIT_FAILED
    return EXIT_OK


def _worker_progress(name: str) -> _PlainProgress:
    # Worker processes share the terminal: plain prefixed lines, never competing live bars.
    return _PlainProgress(name, sys.stdout)


def _reproduce_in_workers(
    experiments: list[Any], args: argparse.Namespace, out: TextIO
) -> list[str]:
    from contextlib import closing

    from .experiments._jobs import run_in_workers
    from .experiments.runner import is_finished

    total, failed, pending = len(experiments), [], []
    for index, experiment in enumerate(experiments, start=1):
        if not args.force and is_finished(experiment, args.preset, args.out):
            _run_one(experiment, args, None, f"[{index}/{total}] {experiment.name}", out)
        else:
            pending.append((index, experiment))
    outcomes = run_in_workers(
        pending,
        args.preset,
        args.out,
        force=args.force,
        jobs=args.jobs,
        progress_factory=_worker_progress,
    )
    with closing(outcomes):
        for outcome in outcomes:
            label = f"[{outcome.index}/{total}] {outcome.name}"
            if outcome.record is not None:
                _say_done(outcome.record, label, out)
            else:
                print(f"structdl: {outcome.failure}", file=sys.stderr, flush=True)
                failed.append(outcome.name)
    return failed


def _reproduce_in_order(experiments: list[Any], args: argparse.Namespace, out: TextIO) -> list:
    from .experiments.runner import ExperimentFailed

    failed = []
    for index, experiment in enumerate(experiments, start=1):
        label = f"[{index}/{len(experiments)}] {experiment.name}"
        try:
            _run_one(experiment, args, None, label, out)
        except ExperimentFailed as failure:
            # One broken experiment should not cost the results of the others.
            print(f"structdl: {failure}", file=sys.stderr, flush=True)
            failed.append(experiment.name)
    return failed


def _cmd_reproduce(args: argparse.Namespace, out: TextIO) -> int:
    from .experiments.runner import ensure_out_root, results_lock
    from .report import build_report

    registry = _registry()
    selected = list(dict.fromkeys(args.only)) if args.only else registry.names()
    experiments = [registry.get(name) for name in selected]  # unknown names fail before work
    ensure_out_root(args.out)
    with results_lock(args.out, args.command_line):
        if args.jobs > 1:
            failed = _reproduce_in_workers(experiments, args, out)
        else:
            failed = _reproduce_in_order(experiments, args, out)
        report = build_report(args.out, expected=registry.names(), answers=registry.answers())
    print(f"report: {report.html} and {report.markdown}", file=out)
    status = _skipped_status(report.results)
    if failed:
        print(
            f"structdl: {len(failed)} of {len(experiments)} experiment(s) failed: "
            f"{', '.join(sorted(failed, key=selected.index))}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return status


def _skipped_status(results: Any) -> int:
    """Say what the report skipped: notes for stray entries, one error line for lost results.

    A registered experiment whose results could not be read is bad input (exit 2, one line);
    a stray entry such as ``name.bak/`` only earns a note (the report is complete without it).
    """
    lost = [entry for entry in results.skipped if entry.expected]
    if lost:
        first = lost[0]
        more = f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""
        print(
            f"structdl: error: the report was built without {first.path}{more}: "
            f"{' '.join(first.reason.split())}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    for entry in results.skipped:
        reason = " ".join(entry.reason.split())
        print(f"structdl: note: the report skipped {entry.path}: {reason}", file=sys.stderr)
    return EXIT_OK


def _cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    from .report import build_report

    registry = _registry()
    report = build_report(args.out, expected=registry.names(), answers=registry.answers())
    results = report.results
    print(
        f"report of {len(results.experiments)} experiment(s) "
        f"({results.checks_passed} checks passed, {results.checks_failed} failed): "
        f"{report.html} and {report.markdown}",
        file=out,
    )
    return _skipped_status(results)


def _failing_import(module: str, error: BaseException) -> Callable[[], Any]:
    def check() -> Any:
        raise error

    check.__name__ = f"import {module}"
    return check


def _collect_checks() -> dict[str, Callable[[], Any]]:
    """Import the subpackages (so they register their checks) and return the registered checks.

    A subpackage that is absent is skipped; one that fails to import becomes a failing row, so
    a broken install cannot pass ``structdl check`` silently.
    """
    checks: dict[str, Callable[[], Any]] = {}
    for module in (*_CHECK_PACKAGES, "structdl.structure.check_registry"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module or module.endswith("check_registry"):
                checks[f"import {module}"] = _failing_import(module, error)
        except Exception as error:
            checks[f"import {module}"] = _failing_import(module, error)
    registry = sys.modules.get("structdl.structure.check_registry")
    if registry is not None:
        checks.update(registry.all_checks())
    return checks


def _run_check(check: Callable[[], Any]) -> tuple[bool, float | None, str]:
    try:
        result = check()
    except Exception as error:  # a crashing check is a failed check, reported, not fatal
        return False, None, f"raised {type(error).__name__}: {error}"
    if not all(hasattr(result, attr) for attr in ("ok", "worst", "reason")):
        return False, None, f"returned {type(result).__name__}, expected a CheckResult"
    return bool(result.ok), float(result.worst), str(result.reason)


def _cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    checks = _collect_checks()
    if not checks:
        print("structdl: no structure checks are registered", file=sys.stderr)
        return EXIT_FAILED
    width = max(len("check"), *(len(name) for name in checks))
    print(f"{'check':<{width}}  {'result':<6}  {'worst':>10}  reason", file=out)
    failed = 0
    for name, check in checks.items():
        ok, worst, reason = _run_check(check)
        failed += not ok
        shown = "-" if worst is None else f"{worst:.3e}"
        print(f"{name:<{width}}  {'pass' if ok else 'FAIL':<6}  {shown:>10}  {reason}", file=out)
        out.flush()
    print(f"{len(checks)} checks: {len(checks) - failed} passed, {failed} failed", file=out)
    return EXIT_FAILED if failed else EXIT_OK


_COMMANDS = {
    "list": _cmd_list,
    "run": _cmd_run,
    "reproduce": _cmd_reproduce,
    "report": _cmd_report,
    "check": _cmd_check,
}


# --------------------------------------------------------------------------- entry point


def _os_error_line(error: OSError) -> str:
    where = f"{error.filename}: " if error.filename else ""
    path = Path(error.filename) if isinstance(error.filename, str) else None
    if path is not None and path.is_symlink() and not path.exists():
        return (
            f"{where}a symbolic link to {os.readlink(path)!r}, which does not exist — expected "
            "a file or folder — remove the link or create its target"
        )
    return f"{where}{error.strerror or error} — check the path and its permissions"


def _interrupt(signum: int, frame: Any) -> NoReturn:
    # SIGTERM (kill) takes the same clean path as Ctrl-C: temporary files are removed by the
    # atomic writers' exception handlers, and no metrics.json is written for the cut run.
    raise KeyboardInterrupt


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _missing_extra() -> list[str]:
    """The packages of the ``experiments`` extra that cannot be imported."""
    return [
        package
        for module, package in _EXTRA_MODULES.items()
        if importlib.util.find_spec(module) is None
    ]


def _error(message: str) -> int:
    print(f"structdl: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    # Experiments only save figures; never open a window, whatever the user's matplotlib rc.
    os.environ.setdefault("MPLBACKEND", "Agg")
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with _sigterm_as_interrupt():
            try:
                args = parser.parse_args(argv)
            except SystemExit as done:  # --help and --version
                return int(done.code or 0)
            # How a second process sees this one (the results folder's lock names it).
            args.command_line = shlex.join(["structdl", *argv])
            if args.command is None:
                raise _UsageError(
                    f"no command given — expected one of {', '.join(_COMMANDS)} — "
                    "e.g. `structdl reproduce --quick` (see `structdl --help`)"
                )
            missing = _missing_extra()
            if missing:
                raise _UsageError(
                    f"the command line needs {', '.join(missing)}, which "
                    f"{'is' if len(missing) == 1 else 'are'} not installed — "
                    f"expected the `experiments` extra — install it with `{_EXTRA_INSTALL}` "
                    "(or `pip install -e '.[experiments]'` in a checkout)"
                )
            return _COMMANDS[args.command](args, sys.stdout)
    except _UsageError as error:
        return _error(str(error))
    except StructdlError as error:
        return _error(str(error).replace("\n", " "))
    except OSError as error:
        # Filesystem trouble outside an experiment (disk full, permissions) is the user's
        # environment, not a bug: one line, like a ConfigError.
        return _error(_os_error_line(error))
    except KeyboardInterrupt:
        print("structdl: interrupted; rerun to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
