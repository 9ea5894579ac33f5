"""Run one experiment into its results folder, resumably and without half-written files.

Layout of a results folder (DESIGN §4)::

    <out_root>/
      <experiment>/          one folder per experiment
        metrics.json         written LAST and atomically: its presence means "finished"
        *.png                figures, each written atomically by ``io.save_figure``
        error.log            traceback of the last failed attempt (removed on success)
      report.html, report.md built by :mod:`structdl.report`

Resume rule: an experiment whose ``metrics.json`` exists with the same preset and seed is
skipped unless ``force=True``. A run that is interrupted (Ctrl-C, SIGTERM) has no
``metrics.json`` yet, so the next run redoes it; every file is written through a temporary file
and ``os.replace``, so no file is ever left half-written.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ._registry import Experiment, Progress, Result
from .io import atomic_write_json, atomic_write_text

__all__ = [
    "METRICS_FILE",
    "PRESETS",
    "ExperimentFailed",
    "RunRecord",
    "ensure_out_root",
    "is_finished",
    "make_config",
    "read_metrics",
    "run_experiment",
]

METRICS_FILE = "metrics.json"
ERROR_FILE = "error.log"
PRESETS = ("quick", "full")


class ExperimentFailed(RuntimeError):
    """An experiment raised an unexpected exception (a bug in the experiment, not user input).

    Attributes:
        name: the experiment's name.
        cause: the original exception.
        log_path: where the full traceback was written, or ``None`` if it could not be.
    """

    def __init__(self, name: str, cause: BaseException, log_path: Path | None) -> None:
        where = f"; traceback in {log_path}" if log_path is not None else ""
        text = " ".join(str(cause).split())  # the CLI prints it as one line
        super().__init__(f"experiment {name!r} failed: {type(cause).__name__}: {text}{where}")
        self.name = name
        self.cause = cause
        self.log_path = log_path


@dataclass(frozen=True)
class RunRecord:
    """What :func:`run_experiment` did.

    Attributes:
        name: the experiment's name.
        status: ``"ran"`` or ``"skipped"`` (finished earlier with the same preset and seed).
        out_dir: the experiment's results folder.
        elapsed_s: wall-clock seconds of this run (or of the earlier run when skipped).
    """

    name: str
    status: str
    out_dir: Path
    elapsed_s: float


def ensure_out_root(out_root: Path) -> Path:
    """Create the results root if needed and check that it is a writable folder.

    Raises:
        ConfigError: the path is a file, cannot be created, or is not writable.
    """
    out_root = Path(out_root)
    if out_root.exists() and not out_root.is_dir():
        raise ConfigError(
            f"results folder {str(out_root)!r} is a file — expected a folder (or a path that "
            "does not exist yet) — choose another path with --out"
        )
    try:
        out_root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"cannot create results folder {str(out_root)!r} — expected a creatable folder — "
            f"got {error.strerror or error} — choose another path with --out"
        ) from error
    if not os.access(out_root, os.W_OK | os.X_OK):
        raise ConfigError(
            f"results folder {str(out_root)!r} is not writable — expected write permission — "
            "fix its permissions or choose another path with --out"
        )
    return out_root


def _validate(preset: str, seed: int | None) -> None:
    if preset not in PRESETS:
        raise ConfigError(
            f"unknown preset {preset!r} — expected one of {', '.join(PRESETS)} — "
            "use --quick or --full"
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(
            f"invalid seed {seed!r} — expected a non-negative integer — pass e.g. --seed 0"
        )


def make_config(experiment: Experiment, preset: str, seed: int | None = None) -> Any:
    """Build ``experiment``'s config for ``preset`` (``"quick"`` or ``"full"``), seed overridden.

    Raises:
        ConfigError: unknown preset, or a seed that is not a non-negative integer.
    """
    _validate(preset, seed)
    config = getattr(experiment.config, preset)()
    if seed is not None:
        config = dataclasses.replace(config, seed=seed)
    return config


def read_metrics(path: Path) -> dict[str, Any]:
    """Read a ``metrics.json`` file.

    Raises:
        ConfigError: the file cannot be read, is not valid JSON, or is not a JSON object; the
            message names the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(
            f"cannot read {path} — expected a readable results file — got {reason} — "
            "fix its permissions, or delete it and rerun the experiment"
        ) from error
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"corrupt results file {path} — expected valid JSON — got a parse error at line "
            f"{error.lineno} column {error.colno}: {error.msg} — delete it and rerun the "
            "experiment (or use --force)"
        ) from error
    if not isinstance(payload, dict):
        raise ConfigError(
            f"corrupt results file {path} — expected a JSON object — got "
            f"{type(payload).__name__} — delete it and rerun the experiment (or use --force)"
        )
    return payload


def _plain(value: Any) -> Any:
    # JSON-ready copy: tensors and numpy values become Python numbers/lists; anything else
    # unknown (dtypes, paths, enums) is recorded by its str() rather than crashing the write.
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(getattr(value, "as_dict", None)):  # a CheckResult stored as the object
        return _plain(value.as_dict())
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return _plain(value.item())
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    return str(value)


def _versions() -> dict[str, str]:
    import torch

    from .. import __version__

    return {
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "structdl": __version__,
    }


def _previous_run(out_dir: Path, preset: str, seed: int) -> dict[str, Any] | None:
    # Resume: only a finished run with the same preset and seed counts as done.
    path = out_dir / METRICS_FILE
    if not path.exists():
        return None
    previous = read_metrics(path)
    if previous.get("preset") == preset and previous.get("seed") == seed:
        return previous
    return None


def is_finished(exp: Experiment, preset: str, out_root: Path, seed: int | None = None) -> bool:
    """Whether ``exp`` has a finished result under ``out_root`` for this preset and seed.

    Raises:
        ConfigError: bad preset/seed, or an unreadable or corrupt ``metrics.json``.
    """
    _validate(preset, seed)
    out_dir = Path(out_root) / exp.name
    if not out_dir.is_dir():
        return False
    try:
        effective_seed = getattr(make_config(exp, preset, seed), "seed", seed)
    except Exception:
        return False  # a broken preset is the experiment's bug; run_experiment reports it
    return _previous_run(out_dir, preset, effective_seed) is not None


def _clear_leftovers(out_dir: Path) -> None:
    # A process killed with SIGKILL cannot clean its temporary files; remove them, and the old
    # metrics.json, so that this attempt is "unfinished" until its own metrics.json lands.
    for stale in out_dir.glob(".*.tmp"):
        stale.unlink(missing_ok=True)
    (out_dir / METRICS_FILE).unlink(missing_ok=True)


def _check_result(result: Any, out_dir: Path) -> Result:
    # Catch an experiment's malformed Result here, where the error names the experiment,
    # rather than later in the report, where rerunning could not fix it.
    if not isinstance(result, Result):
        raise TypeError(f"run() returned {type(result).__name__}, expected a Result")
    for figure in result.figures:
        if Path(figure).name != figure or not (out_dir / figure).is_file():
            raise FileNotFoundError(
                f"Result.figures lists {figure!r}, which is not a file in {out_dir}"
            )
    for name, check in _plain(result.checks).items():
        if not isinstance(check, dict) or not isinstance(check.get("ok"), bool):
            raise TypeError(f"Result.checks[{name!r}] is {check!r}, expected CheckResult.as_dict()")
    return result


def _write_error_log(out_dir: Path, error: BaseException) -> Path | None:
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        atomic_write_text(out_dir / ERROR_FILE, text)
    except OSError:
        return None
    return out_dir / ERROR_FILE


def run_experiment(
    exp: Experiment,
    preset: str,
    out_root: Path,
    seed: int | None,
    progress: Progress,
    force: bool = False,  # noqa: FBT001, FBT002  (signature fixed by the CLI contract)
) -> RunRecord:
    """Run ``exp`` with its ``preset`` config into ``out_root/<exp.name>/``.

    The experiment writes its figures; then ``metrics.json`` is written last and atomically
    with ``{name, question, preset, seed, config, metrics, figures, tables, checks, notes,
    elapsed_s, versions}``.

    Args:
        exp: the registered experiment.
        preset: ``"quick"`` or ``"full"``.
        out_root: the results root (created if missing).
        seed: overrides ``config.seed``; ``None`` keeps the preset's seed.
        progress: receives ``set_total``/``advance``/``describe`` from the experiment.
        force: rerun even if a finished run with the same preset and seed exists.

    Returns:
        A :class:`RunRecord` saying whether it ran or was skipped.

    Raises:
        ConfigError: bad preset/seed, unusable results folder, or an unreadable previous
            ``metrics.json`` (when not forcing).
        ExperimentFailed: the experiment itself raised; the traceback is in ``error.log``.
        KeyboardInterrupt: propagated untouched; no ``metrics.json`` has been written.
    """
    _validate(preset, seed)
    out_root = ensure_out_root(out_root)
    out_dir = out_root / exp.name
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(
            f"{out_dir} is a file — expected the experiment's results folder — move or delete it"
        )
    try:
        # The presets are the experiment's own code: a failure here is its bug, not user input.
        config = make_config(exp, preset, seed)
    except Exception as error:
        raise ExperimentFailed(exp.name, error, None) from error
    effective_seed = getattr(config, "seed", seed)

    if not force:
        previous = _previous_run(out_dir, preset, effective_seed)
        if previous is not None:
            elapsed = previous.get("elapsed_s")
            elapsed = float(elapsed) if isinstance(elapsed, (int, float)) else 0.0
            return RunRecord(exp.name, "skipped", out_dir, elapsed)

    out_dir.mkdir(exist_ok=True)
    _clear_leftovers(out_dir)
    start = time.perf_counter()
    try:
        result = _check_result(exp.run(config, out_dir, progress), out_dir)
    except Exception as error:
        raise ExperimentFailed(exp.name, error, _write_error_log(out_dir, error)) from error
    elapsed = time.perf_counter() - start

    payload = {
        "name": exp.name,
        "question": exp.question,
        "preset": preset,
        "seed": effective_seed,
        "config": _plain(dataclasses.asdict(config)),
        "metrics": _plain(result.metrics),
        "figures": list(result.figures),
        "tables": _plain(result.tables),
        "checks": _plain(result.checks),
        "notes": str(result.notes),
        "elapsed_s": round(elapsed, 3),
        "versions": _versions(),
    }
    (out_dir / ERROR_FILE).unlink(missing_ok=True)
    atomic_write_json(out_dir / METRICS_FILE, payload)
    return RunRecord(exp.name, "ran", out_dir, elapsed)
