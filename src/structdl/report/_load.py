"""Read the saved results of a results folder, safely, whatever the folder holds.

A results folder holds one sub-folder per experiment, and in it one folder per finished run
(``<preset>-seed<N>/metrics.json`` plus figures) and a ``current`` file naming the run to show
(see :mod:`structdl.experiments.runner`). A results folder may come from anywhere, so:

- nothing is read through a symbolic link (links are listed as skipped);
- ``metrics.json`` is capped in size and nesting depth (``read_metrics``);
- a figure is kept only if it is a complete, decodable PNG (:func:`png_problem`);
- an entry that cannot be read — a stray ``name.bak/`` copy, a corrupt file — is listed in
  :attr:`Results.skipped` with the reason, and the rest of the report is still built.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ..experiments.runner import (
    CURRENT_FILE,
    METRICS_FILE,
    RUN_KEY,
    read_metrics,
)
from ._answer import Answer
from ._png import MAX_FIGURE_BYTES, png_problem

__all__ = [
    "CheckRow",
    "ExperimentRecord",
    "Figure",
    "Results",
    "Skipped",
    "flatten_metrics",
    "load_results",
]

_REPORT_FILES = frozenset({"report.html", "report.md"})


@dataclass(frozen=True)
class CheckRow:
    """One structure check as saved by an experiment: ``ok``, ``worst`` value and ``reason``."""

    name: str
    ok: bool
    worst: float
    reason: str


@dataclass(frozen=True)
class Figure:
    """A figure named by ``metrics.json``: its PNG bytes, or why it is not shown."""

    name: str
    data: bytes | None
    problem: str | None = None


@dataclass(frozen=True)
class Skipped:
    """An entry of the results folder that is not in the report, and why.

    Attributes:
        path: the entry, relative to the results folder.
        reason: why it was skipped.
        expected: whether it is a registered experiment (then its result is missing).
    """

    path: str
    reason: str
    expected: bool = False


@dataclass(frozen=True)
class ExperimentRecord:
    """The validated content of one run's ``metrics.json`` (plus its checked figures)."""

    name: str
    question: str
    preset: str
    seed: Any
    folder: Path
    metrics: dict[str, Any]
    figures: list[Figure]
    tables: dict[str, list[dict[str, Any]]]
    checks: list[CheckRow]
    notes: str
    elapsed_s: float | None
    versions: dict[str, Any]
    run: str = ""
    other_runs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Results:
    """Everything the report shows: finished experiments, unfinished names, skipped entries."""

    root: Path
    experiments: list[ExperimentRecord]
    unfinished: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    answers: dict[str, Answer] = field(default_factory=dict)

    @property
    def checks_passed(self) -> int:
        """Number of saved structure checks that passed, over all experiments."""
        return sum(row.ok for record in self.experiments for row in record.checks)

    @property
    def checks_failed(self) -> int:
        """Number of saved structure checks that failed, over all experiments."""
        return sum(not row.ok for record in self.experiments for row in record.checks)


def flatten_metrics(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten nested metric dicts (and lists) into ``("a.b.0", value)`` rows, in order.

    Example:
        >>> flatten_metrics({"loss": {"train": 0.1, "test": 0.2}, "steps": [1, 2]})
        [('loss.train', 0.1), ('loss.test', 0.2), ('steps.0', 1), ('steps.1', 2)]
    """
    rows: list[tuple[str, Any]] = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows.extend(flatten_metrics(value, prefix=f"{name}."))
        elif isinstance(value, list) and value:
            rows.extend(flatten_metrics(dict(enumerate(value)), prefix=f"{name}."))
        else:
            rows.append((name, value))
    return rows


def _corrupt(path: Path, what: str, got: Any) -> ConfigError:
    shown = repr(got)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return ConfigError(
        f"corrupt results file {path} — expected {what} — got {shown} — delete the file and "
        "rerun the experiment (or run it with --force)"
    )


def _field(payload: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path) -> Any:
    if key not in payload:
        raise _corrupt(path, f"a {key!r} entry", "no such key")
    value = payload[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise _corrupt(path, f"{key!r} to be a {names}", type(value).__name__)
    return value


def _checks(raw: dict[str, Any], path: Path) -> list[CheckRow]:
    rows = []
    for name, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("ok"), bool):
            raise _corrupt(path, f"check {name!r} as {{ok: bool, worst, reason}}", entry)
        worst = entry.get("worst", math.nan)
        try:
            worst = float(worst)  # non-finite values are saved as strings ("inf", "nan")
        except (TypeError, ValueError):
            raise _corrupt(path, f"a number for the worst value of check {name!r}", worst) from None
        rows.append(CheckRow(str(name), entry["ok"], worst, str(entry.get("reason", ""))))
    return rows


def _read_figure(folder: Path, name: str) -> Figure:
    path = folder / name
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as error:
        if path.is_symlink():
            return Figure(name, None, "it is a symbolic link, which the report never follows")
        return Figure(name, None, f"it cannot be read ({error.strerror or error})")
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return Figure(name, None, "it is not a regular file")
    if info.st_size > MAX_FIGURE_BYTES:
        os.close(fd)
        return Figure(name, None, f"it is larger than {MAX_FIGURE_BYTES // 2**20} MiB")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_FIGURE_BYTES + 1)
    problem = png_problem(data)
    if problem is not None:
        return Figure(name, None, f"it is not a valid PNG image: {problem}")
    return Figure(name, data)


def _figures(raw: list[Any], folder: Path, path: Path) -> list[Figure]:
    for name in raw:
        # A figure must be a plain file name inside the run's folder: the HTML report embeds
        # the file, so a path like "../../secret" must not be followed.
        if not isinstance(name, str) or not name or Path(name).name != name or name in {".", ".."}:
            raise _corrupt(path, "figure entries that are plain file names", name)
    return [_read_figure(folder, name) for name in raw]


def _tables(raw: dict[str, Any], path: Path) -> dict[str, list[dict[str, Any]]]:
    for name, rows in raw.items():
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise _corrupt(path, f"table {name!r} as a list of rows (objects)", rows)
    return raw


def _record(run_dir: Path, experiment: str, others: tuple[str, ...]) -> ExperimentRecord:
    path = run_dir / METRICS_FILE
    payload = read_metrics(path)
    elapsed = payload.get("elapsed_s")
    name = _field(payload, "name", str, path)
    if name != experiment:
        raise _corrupt(path, f"name {experiment!r} (the name of its experiment folder)", name)
    return ExperimentRecord(
        name=name,
        question=_field(payload, "question", str, path),
        preset=_field(payload, "preset", str, path),
        seed=payload.get("seed"),
        folder=run_dir,
        metrics=_field(payload, "metrics", dict, path),
        figures=_figures(_field(payload, "figures", list, path), run_dir, path),
        tables=_tables(_field(payload, "tables", dict, path), path),
        checks=_checks(_field(payload, "checks", dict, path), path),
        notes=str(payload.get("notes", "")),
        elapsed_s=float(elapsed) if isinstance(elapsed, (int, float)) else None,
        versions=payload.get("versions") if isinstance(payload.get("versions"), dict) else {},
        run=run_dir.name,
        other_runs=others,
    )


def _runs(folder: Path) -> dict[str, float]:
    """The finished runs in an experiment folder: run key -> time metrics.json was written."""
    runs = {}
    for entry in os.scandir(folder):
        if RUN_KEY.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
            try:
                runs[entry.name] = os.lstat(Path(entry.path) / METRICS_FILE).st_mtime
            except FileNotFoundError:
                continue  # not a finished run
    return runs


def _current(folder: Path, runs: dict[str, float]) -> str:
    # The run last asked for (``current``); without a usable pointer, the newest run.
    path = folder / CURRENT_FILE
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            key = handle.read(64).decode("ascii", "replace").strip()
    except OSError:
        key = ""
    return key if key in runs else max(runs, key=runs.__getitem__)


def _experiment(folder: Path) -> ExperimentRecord | None:
    runs = _runs(folder)
    if not runs and ((folder / METRICS_FILE).exists() or (folder / METRICS_FILE).is_symlink()):
        raise ConfigError(
            f"{folder / METRICS_FILE} lies directly in the experiment folder — expected runs "
            f"in {folder.name}/<preset>-seed<N>/ (the layout of earlier structdl versions) — "
            f"rerun the experiment, or move the files into {folder.name}/quick-seed0/"
        )
    if not runs:
        return None
    shown = _current(folder, runs)
    others = tuple(sorted(key for key in runs if key != shown))
    return _record(folder / shown, folder.name, others)


def _entries(root: Path) -> list[os.DirEntry[str]]:
    try:
        return sorted(os.scandir(root), key=lambda entry: entry.name)
    except OSError as error:
        raise ConfigError(
            f"cannot read results folder {root} — expected a readable folder — got "
            f"{error.strerror or error} — fix its permissions or pass another --out"
        ) from error


def load_results(root: Path, expected: Sequence[str] = ()) -> Results:
    """Load every finished experiment under ``root``; list what cannot be read as skipped.

    Args:
        root: the results folder (``structdl … --out``).
        expected: experiment names that should be there, in report order (the registry);
            finished experiments not in it follow in alphabetical order, and expected ones
            without a finished run are listed as unfinished.

    Raises:
        ConfigError: ``root`` is missing, not a folder, or unreadable. Problems inside it
            never raise: they are listed in :attr:`Results.skipped`.
    """
    root = Path(root)
    if root.is_symlink() and not root.exists():
        raise ConfigError(
            f"results folder {root} is a symbolic link to {os.readlink(root)!r}, which does not "
            "exist — expected the folder written by `structdl reproduce` — pass the right --out"
        )
    if not root.is_dir():
        state = "is not a folder" if root.exists() else "does not exist"
        raise ConfigError(
            f"results folder {root} {state} — expected the folder written by `structdl run` or "
            "`structdl reproduce` — run `structdl reproduce` first or pass the right --out"
        )
    wanted = set(expected)
    records: dict[str, ExperimentRecord] = {}
    skipped: list[Skipped] = []
    for entry in _entries(root):
        name = entry.name
        if name.startswith(".") or name in _REPORT_FILES:
            continue  # the lock, temporary files, the report itself
        if entry.is_symlink():
            reason = "a symbolic link, which the report never follows"
            skipped.append(Skipped(name, reason, name in wanted))
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                skipped.append(Skipped(name, "a file, not an experiment folder", name in wanted))
                continue
            record = _experiment(Path(entry.path))
        except ConfigError as error:
            skipped.append(Skipped(name, str(error), name in wanted))
            continue
        except OSError as error:
            reason = f"cannot be read ({error.strerror or error})"
            skipped.append(Skipped(name, reason, name in wanted))
            continue
        if record is not None:
            records[name] = record
        elif name not in wanted:
            skipped.append(Skipped(name, "no finished run inside (not an experiment folder?)"))
    order = [name for name in expected if name in records]
    order += sorted(name for name in records if name not in wanted)
    unfinished = [
        name for name in expected if name not in records and all(s.path != name for s in skipped)
    ]
    return Results(root, [records[name] for name in order], unfinished, skipped)
