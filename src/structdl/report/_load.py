"""Read and validate the saved results of a results folder.

A results folder holds one sub-folder per experiment; an experiment is *finished* when its
``metrics.json`` exists (the runner writes it last, atomically). This module turns those files
into validated :class:`ExperimentRecord` objects for the HTML and Markdown writers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ..experiments.runner import METRICS_FILE, read_metrics

__all__ = ["CheckRow", "ExperimentRecord", "Results", "flatten_metrics", "load_results"]


@dataclass(frozen=True)
class CheckRow:
    """One structure check as saved by an experiment: ``ok``, ``worst`` value and ``reason``."""

    name: str
    ok: bool
    worst: float
    reason: str


@dataclass(frozen=True)
class ExperimentRecord:
    """The validated content of one ``metrics.json`` (plus where its figures live)."""

    name: str
    question: str
    preset: str
    seed: Any
    folder: Path
    metrics: dict[str, Any]
    figures: list[str]
    tables: dict[str, list[dict[str, Any]]]
    checks: list[CheckRow]
    notes: str
    elapsed_s: float | None
    versions: dict[str, Any]


@dataclass(frozen=True)
class Results:
    """Everything the report shows: finished experiments and expected-but-unfinished names."""

    root: Path
    experiments: list[ExperimentRecord]
    unfinished: list[str] = field(default_factory=list)

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
    return ConfigError(
        f"corrupt results file {path} — expected {what} — got {got!r} — delete the file and "
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


def _figures(raw: list[Any], path: Path) -> list[str]:
    for name in raw:
        # A figure must be a plain file name inside the experiment folder: the HTML report
        # embeds the file, so a path like "../../secret" must not be followed.
        if not isinstance(name, str) or not name or Path(name).name != name or name in {".", ".."}:
            raise _corrupt(path, "figure entries that are plain file names", name)
    return list(raw)


def _tables(raw: dict[str, Any], path: Path) -> dict[str, list[dict[str, Any]]]:
    for name, rows in raw.items():
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise _corrupt(path, f"table {name!r} as a list of rows (objects)", rows)
    return raw


def _record(folder: Path) -> ExperimentRecord:
    path = folder / METRICS_FILE
    payload = read_metrics(path)
    elapsed = payload.get("elapsed_s")
    name = _field(payload, "name", str, path)
    if name != folder.name:
        raise _corrupt(path, f"name {folder.name!r} (the name of its folder)", name)
    return ExperimentRecord(
        name=name,
        question=_field(payload, "question", str, path),
        preset=_field(payload, "preset", str, path),
        seed=payload.get("seed"),
        folder=folder,
        metrics=_field(payload, "metrics", dict, path),
        figures=_figures(_field(payload, "figures", list, path), path),
        tables=_tables(_field(payload, "tables", dict, path), path),
        checks=_checks(_field(payload, "checks", dict, path), path),
        notes=str(payload.get("notes", "")),
        elapsed_s=float(elapsed) if isinstance(elapsed, (int, float)) else None,
        versions=payload.get("versions") if isinstance(payload.get("versions"), dict) else {},
    )


def _experiment_folders(root: Path) -> list[Path]:
    try:
        entries = sorted(os.scandir(root), key=lambda entry: entry.name)
    except OSError as error:
        raise ConfigError(
            f"cannot read results folder {root} — expected a readable folder — got "
            f"{error.strerror or error} — fix its permissions or pass another --out"
        ) from error
    folders = []
    for entry in entries:
        try:
            if entry.is_dir() and (Path(entry.path) / METRICS_FILE).exists():
                folders.append(Path(entry.path))
        except OSError as error:
            raise ConfigError(
                f"cannot read {entry.path} — expected a readable experiment folder — got "
                f"{error.strerror or error} — fix its permissions or delete it"
            ) from error
    return folders


def load_results(root: Path, expected: Sequence[str] = ()) -> Results:
    """Load every finished experiment under ``root``.

    Args:
        root: the results folder (``structdl … --out``).
        expected: experiment names that should be there, in report order (the registry);
            finished experiments not in it follow in alphabetical order, and expected ones
            without ``metrics.json`` are listed as unfinished.

    Raises:
        ConfigError: ``root`` is missing, not a folder, or unreadable; or a ``metrics.json``
            is not valid JSON or lacks a required entry (the message names the file).
    """
    root = Path(root)
    if not root.is_dir():
        state = "is not a folder" if root.exists() else "does not exist"
        raise ConfigError(
            f"results folder {root} {state} — expected the folder written by `structdl run` or "
            "`structdl reproduce` — run `structdl reproduce` first or pass the right --out"
        )
    records = {record.name: record for record in map(_record, _experiment_folders(root))}
    order = [name for name in expected if name in records]
    order += sorted(name for name in records if name not in set(expected))
    unfinished = [name for name in expected if name not in records]
    return Results(root, [records[name] for name in order], unfinished)
