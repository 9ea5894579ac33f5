"""Run one experiment into its results folder: resumable, locked, and never losing a result.

Layout of a results folder::

    <out_root>/
      .structdl.lock               held by the one structdl process writing here (see _lock)
      <experiment>/                one folder per experiment
        <preset>-seed<N>/          one folder per finished run, side by side
          metrics.json             the run's record (always present in a finished run)
          *.png                    its figures
        current                    one line: the run the report shows (the latest asked for)
        error.log                  traceback of the last failed attempt (removed on success)
        .staging-…/                a run in progress (removed when it ends or is interrupted)
      report.html, report.md       built by :mod:`structdl.report`

A run writes into its own hidden staging folder. Only when it has finished — figures and
``metrics.json`` written — is the staging folder renamed to ``<preset>-seed<N>``, replacing an
older run of the same preset and seed. So an interrupted ``--force``, ``--seed 1`` or other
preset leaves every earlier result intact. Leftovers of a process killed with ``kill -9`` are
cleaned (or, for a half-done swap, rolled back) the next time the experiment runs.

Resume rule: a finished run with the same preset and seed is skipped unless ``force=True``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import secrets
import shutil
import signal
import stat
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ._lock import LOCK_FILE, ResultsBusy, results_lock
from ._registry import Experiment, Progress, Result
from .io import atomic_write_json, atomic_write_text
from .units import unit_workers

__all__ = [
    "CURRENT_FILE",
    "LOCK_FILE",
    "MAX_METRICS_BYTES",
    "MAX_METRICS_DEPTH",
    "MAX_SEED",
    "METRICS_FILE",
    "PRESETS",
    "ExperimentFailed",
    "ResultsBusy",
    "RunRecord",
    "ensure_out_root",
    "is_finished",
    "make_config",
    "read_metrics",
    "results_lock",
    "run_experiment",
    "run_key",
]

METRICS_FILE = "metrics.json"
ERROR_FILE = "error.log"
CURRENT_FILE = "current"
PRESETS = ("quick", "full")
MAX_SEED = 2**64 - 1  # torch.manual_seed accepts seeds in [0, 2**64 - 1]
#: ``metrics.json`` files larger than this are refused (a real one is a few hundred KiB).
MAX_METRICS_BYTES = 32 * 2**20
#: ``metrics.json`` nested deeper than this is refused (a real one is 5 levels deep).
MAX_METRICS_DEPTH = 64

_STAGING = ".staging-"
_OLD = ".old-"
RUN_KEY = re.compile(r"[a-z]+-seed[0-9]+")


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

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries (reproduce --jobs)
        return (ExperimentFailed, (self.name, self.cause, self.log_path))


@dataclass(frozen=True)
class RunRecord:
    """What :func:`run_experiment` did.

    Attributes:
        name: the experiment's name.
        status: ``"ran"`` or ``"skipped"`` (finished earlier with the same preset and seed).
        out_dir: the run's folder ``<out_root>/<name>/<preset>-seed<N>``.
        elapsed_s: wall-clock seconds of this run (or of the earlier run when skipped).
    """

    name: str
    status: str
    out_dir: Path
    elapsed_s: float


def run_key(preset: str, seed: int) -> str:
    """Name of a run's folder: ``run_key("quick", 0) == "quick-seed0"``."""
    return f"{preset}-seed{seed}"


def ensure_out_root(out_root: Path) -> Path:
    """Create the results root if needed and check that it is a writable folder.

    Raises:
        ConfigError: the path is empty, a file, a dangling link, cannot be created, or is not
            writable.
    """
    if str(out_root) == "":
        raise ConfigError(
            "empty results folder '' — expected a folder path — pass e.g. --out results"
        )
    out_root = Path(out_root)
    if out_root.is_symlink() and not out_root.exists():
        raise ConfigError(
            f"results folder {str(out_root)!r} is a symbolic link to "
            f"{os.readlink(out_root)!r}, which does not exist — expected a folder — create the "
            "target, remove the link, or choose another path with --out"
        )
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
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED
    ):
        raise ConfigError(
            f"invalid seed {seed!r} — expected an integer from 0 to 2**64-1 = {MAX_SEED} — "
            "pass e.g. --seed 0"
        )


def make_config(experiment: Experiment, preset: str, seed: int | None = None) -> Any:
    """Build ``experiment``'s config for ``preset`` (``"quick"`` or ``"full"``), seed overridden.

    Raises:
        ConfigError: unknown preset, or a seed that is not an integer in ``[0, 2**64 - 1]``.
    """
    _validate(preset, seed)
    config = getattr(experiment.config, preset)()
    if seed is not None:
        config = dataclasses.replace(config, seed=seed)
    return config


def _depth(value: Any) -> int:
    # Iterative, so that measuring a deep document cannot itself overflow the stack.
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level > MAX_METRICS_DEPTH:
                return level
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _read_small_file(path: Path, limit: int, what: str) -> bytes:
    # O_NOFOLLOW: a results folder may come from anywhere; never read through a link.
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as error:
        if path.is_symlink():
            reason = f"a symbolic link (to {os.readlink(path)!r}), which is never followed"
        else:
            reason = error.strerror or str(error)
        raise ConfigError(
            f"cannot read {path} — expected a readable {what} — got {reason} — delete it and "
            "rerun the experiment"
        ) from error
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(
                f"cannot read {path} — expected a regular file ({what}) — got something else "
                "(a folder, device or pipe) — delete it and rerun the experiment"
            )
        if info.st_size > limit:
            raise ConfigError(
                f"results file {path} is too large — expected at most {limit // 2**20} MiB — "
                f"got {info.st_size / 2**20:.0f} MiB — delete it and rerun the experiment"
            )
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as handle:  # (FileIO refuses folders: checked above)
        return handle.read(limit + 1)


def read_metrics(path: Path) -> dict[str, Any]:
    """Read a ``metrics.json`` file, refusing links, huge files and absurd nesting.

    Raises:
        ConfigError: the file is a link, unreadable, larger than :data:`MAX_METRICS_BYTES`,
            not UTF-8, not valid JSON, nested deeper than :data:`MAX_METRICS_DEPTH`, or not a
            JSON object; the message names the file.
    """
    path = Path(path)
    data = _read_small_file(path, MAX_METRICS_BYTES, "results file")
    if len(data) > MAX_METRICS_BYTES:  # grew while being read
        raise ConfigError(
            f"results file {path} is too large — expected at most "
            f"{MAX_METRICS_BYTES // 2**20} MiB — delete it and rerun the experiment"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"corrupt results file {path} — expected UTF-8 text — got an invalid byte at "
            f"position {error.start} — delete it and rerun the experiment (or use --force)"
        ) from None
    too_deep = ConfigError(
        f"corrupt results file {path} — expected JSON nested at most {MAX_METRICS_DEPTH} "
        "levels deep — got deeper nesting — delete it and rerun the experiment (or use --force)"
    )
    try:
        payload = json.loads(text)
    except RecursionError:
        raise too_deep from None
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
    if _depth(payload) > MAX_METRICS_DEPTH:
        raise too_deep
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


def _previous_run(run_dir: Path, preset: str, seed: int) -> dict[str, Any] | None:
    # Resume: only a finished run with the same preset and seed counts as done.
    path = run_dir / METRICS_FILE
    if not path.exists() and not path.is_symlink():
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
    try:
        effective_seed = getattr(make_config(exp, preset, seed), "seed", seed)
    except Exception:
        return False  # a broken preset is the experiment's bug; run_experiment reports it
    run_dir = Path(out_root) / exp.name / run_key(preset, effective_seed)
    if run_dir.is_symlink() or not run_dir.is_dir():
        return False
    return _previous_run(run_dir, preset, effective_seed) is not None


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _recover(out_dir: Path) -> None:
    """Clean up after a process that was killed (``kill -9``) while it ran here.

    Called with the results lock held, so no staging folder belongs to a live run. A swap
    that was cut between its two renames left the old run as ``.old-<key>-…`` and no
    ``<key>``: it is put back.
    """
    for entry in sorted(out_dir.iterdir()):
        name = entry.name
        if name.startswith(_STAGING) or (name.startswith(".") and name.endswith(".tmp")):
            if entry.is_dir() and not entry.is_symlink():
                _remove_tree(entry)
            else:
                entry.unlink(missing_ok=True)
        elif name.startswith(_OLD) and entry.is_dir() and not entry.is_symlink():
            key = name[len(_OLD) :].rsplit("-", 1)[0]
            target = out_dir / key
            if RUN_KEY.fullmatch(key) and not target.exists() and not target.is_symlink():
                os.rename(entry, target)
            else:
                _remove_tree(entry)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM for the few system calls of a swap, then deliver them.

    Without this, a KeyboardInterrupt between the two renames would leave neither run in
    place until the next start rolls it back.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    wanted = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda s, f: pending.append(s)) for signum in wanted}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if pending:
            signal.raise_signal(pending[0])


def _set_current(out_dir: Path, key: str) -> None:
    atomic_write_text(out_dir / CURRENT_FILE, key + "\n")


def _swap_in(staging: Path, out_dir: Path, key: str) -> Path:
    final = out_dir / key
    old = out_dir / f"{_OLD}{key}-{secrets.token_hex(4)}"
    with _signals_deferred():
        replaced = final.exists() or final.is_symlink()
        if replaced:
            os.rename(final, old)
        os.rename(staging, final)
        _set_current(out_dir, key)
    if replaced:
        if old.is_dir() and not old.is_symlink():
            _remove_tree(old)
        else:
            old.unlink(missing_ok=True)
    return final


def _check_result(result: Any, run_dir: Path) -> Result:
    # Catch an experiment's malformed Result here, where the error names the experiment,
    # rather than later in the report, where rerunning could not fix it.
    if not isinstance(result, Result):
        raise TypeError(f"run() returned {type(result).__name__}, expected a Result")
    for figure in result.figures:
        if Path(figure).name != figure or not (run_dir / figure).is_file():
            raise FileNotFoundError(
                f"Result.figures lists {figure!r}, which is not a file in the run's folder"
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


def _experiment_dir(out_root: Path, name: str) -> Path:
    out_dir = out_root / name
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        what = "a symbolic link" if out_dir.is_symlink() else "a file"
        raise ConfigError(
            f"{out_dir} is {what} — expected the experiment's results folder — move or delete it"
        )
    out_dir.mkdir(exist_ok=True)
    return out_dir


def run_experiment(
    exp: Experiment,
    preset: str,
    out_root: Path,
    seed: int | None,
    progress: Progress,
    force: bool = False,  # noqa: FBT001, FBT002  (signature fixed by the CLI contract)
    *,
    lock: bool = True,
    workers: int = 1,
) -> RunRecord:
    """Run ``exp`` with its ``preset`` config into ``out_root/<exp.name>/<preset>-seed<N>/``.

    The experiment runs in a staging folder; its figures and then ``metrics.json`` (``{name,
    question, preset, seed, config, metrics, figures, tables, checks, notes, elapsed_s,
    versions}``) are written there, and only then is the folder swapped in, replacing an
    older run of the same preset and seed.

    Args:
        exp: the registered experiment.
        preset: ``"quick"`` or ``"full"``.
        out_root: the results root (created if missing).
        seed: overrides ``config.seed``; ``None`` keeps the preset's seed.
        progress: receives ``set_total``/``advance``/``describe`` from the experiment.
        force: rerun even if a finished run with the same preset and seed exists.
        lock: take the results folder's lock (``False`` only when the caller holds it, as the
            workers of ``reproduce --jobs`` do).
        workers: processes the experiment may use for its independent model/seed runs
            (:func:`structdl.experiments.units.map_units`); 1 runs them in order here.

    Returns:
        A :class:`RunRecord` saying whether it ran or was skipped.

    Raises:
        ConfigError: bad preset/seed, unusable results folder, or an unreadable previous
            ``metrics.json`` (when not forcing).
        ResultsBusy: another process is writing into ``out_root``.
        ExperimentFailed: the experiment itself raised; the traceback is in ``error.log``.
        KeyboardInterrupt: propagated after the staging folder is removed; every earlier
            result is untouched.
    """
    _validate(preset, seed)
    out_root = ensure_out_root(out_root)
    with unit_workers(workers):
        if lock:
            with results_lock(out_root):
                return _run_locked(exp, preset, out_root, seed, progress, force)
        return _run_locked(exp, preset, out_root, seed, progress, force)


def _run_locked(
    exp: Experiment,
    preset: str,
    out_root: Path,
    seed: int | None,
    progress: Progress,
    force: bool,  # noqa: FBT001
) -> RunRecord:
    out_dir = _experiment_dir(out_root, exp.name)
    try:
        # The presets are the experiment's own code: a failure here is its bug, not user input.
        config = make_config(exp, preset, seed)
    except Exception as error:
        raise ExperimentFailed(exp.name, error, None) from error
    effective_seed = getattr(config, "seed", seed)
    key = run_key(preset, effective_seed)
    _recover(out_dir)

    if not force:
        previous = _previous_run(out_dir / key, preset, effective_seed)
        if previous is not None:
            _set_current(out_dir, key)  # the report shows what was asked for last
            elapsed = previous.get("elapsed_s")
            elapsed = float(elapsed) if isinstance(elapsed, (int, float)) else 0.0
            return RunRecord(exp.name, "skipped", out_dir / key, elapsed)

    staging = out_dir / f"{_STAGING}{key}-{secrets.token_hex(4)}"
    try:
        os.mkdir(staging, 0o777)  # the umask decides, as for any folder the user makes
        start = time.perf_counter()
        try:
            result = _check_result(exp.run(config, staging, progress), staging)
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
        atomic_write_json(staging / METRICS_FILE, payload)
        final = _swap_in(staging, out_dir, key)
    except BaseException:
        _remove_tree(staging)
        raise
    (out_dir / ERROR_FILE).unlink(missing_ok=True)
    return RunRecord(exp.name, "ran", final, elapsed)
