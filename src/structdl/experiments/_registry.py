"""Registry of experiments: each module defines a ``Config`` and ``run`` and registers itself.

Contract: ``run(config, out_dir, progress) -> Result``. ``out_dir`` exists (a fresh staging
folder of the runner); the experiment writes its figures (PNG) there through
:func:`structdl.experiments.io.save_figure` and returns their file names in ``Result.figures``.
The runner writes ``metrics.json`` last and then swaps the folder in, so a run's folder exists
only once the run has finished (see :mod:`structdl.experiments.runner`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "EXPERIMENT_MODULES",
    "Experiment",
    "Progress",
    "NullProgress",
    "Result",
    "answers",
    "get",
    "names",
    "register",
]


class Progress(Protocol):
    """What an experiment may tell the progress bar."""

    def set_total(self, total: int) -> None:
        """Announce the number of work units."""

    def advance(self, units: int = 1) -> None:
        """Mark ``units`` work units done."""

    def describe(self, text: str) -> None:
        """Show what is being done now."""


class NullProgress:
    """A progress reporter that shows nothing (tests, library use)."""

    def set_total(self, total: int) -> None:  # noqa: D102
        pass

    def advance(self, units: int = 1) -> None:  # noqa: D102
        pass

    def describe(self, text: str) -> None:  # noqa: D102
        pass


@dataclass
class Result:
    """What an experiment returns.

    Attributes:
        metrics: scalar figures, JSON-serialisable (floats, ints, strings, nested dicts/lists).
        figures: PNG file names written into ``out_dir``.
        tables: named tables, each a list of rows (dict column -> value).
        checks: structure checks run by the experiment: name -> ``CheckResult.as_dict()``.
        notes: free text shown under the experiment in the report.
    """

    metrics: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: str = ""


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: its name, the question it answers, config class and runner.

    ``answer(metrics)`` (optional) derives the answer that opens the experiment's section of
    the report from its saved metrics: it returns ``(verdict, text)`` or ``(verdict, text,
    headline)`` with ``verdict`` one of ``"yes"``, ``"no"``, ``"partly"``, ``text`` one
    paragraph naming the two or three numbers that decide it, and ``headline`` a short figure
    for the summary table (see :func:`structdl.report.derive_answer`).
    """

    name: str
    question: str
    config: type  # dataclass with classmethods quick() and full()
    run: Callable[[Any, Path, Progress], Result]
    answer: Callable[[dict[str, Any]], tuple[str, ...]] | None = None


_REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    """Add ``experiment`` to the registry (module import time); names must be unique."""
    if experiment.name in _REGISTRY and _REGISTRY[experiment.name] is not experiment:
        raise ValueError(f"experiment {experiment.name!r} is registered twice")
    _REGISTRY[experiment.name] = experiment
    return experiment


#: The experiment modules, in report order. Each registers itself when imported; add a new
#: experiment by appending its module name here (data, so the registry never imports itself).
EXPERIMENT_MODULES: tuple[str, ...] = (
    "symplectic_structure",
    "toy_classification",
    "nonexpansive_robustness",
    "sphere_features",
    "learned_hamiltonian",
    "equivariant_reconstruction",
    "rotated_digits",
    "approximate_equivariance",
    "iresnet_inverse",
    "reversible_memory",
    "pmp_costates",
    "msa_training",
    "deep_limits",
    "flows_2d",
    "digits_density",
    "conformal_optimisers",
    "riemannian_training",
    "hamiltonian_benchmarks",
    "port_hamiltonian",
    "mean_field",
)


def _load_all() -> None:
    for module in EXPERIMENT_MODULES:
        importlib.import_module(f"{__package__}.{module}")


def names() -> list[str]:
    """Names of all registered experiments, in registration order."""
    _load_all()
    return list(_REGISTRY)


def answers() -> dict[str, Callable[[dict[str, Any]], tuple[str, ...]] | None]:
    """Each registered experiment's answer function (its own, else the built-in one, else None)."""
    from ._answers import BUILT_IN_ANSWERS

    _load_all()
    return {name: exp.answer or BUILT_IN_ANSWERS.get(name) for name, exp in _REGISTRY.items()}


def get(name: str) -> Experiment:
    """Look up an experiment; unknown names raise ``ConfigError`` listing the known ones."""
    from .._errors import ConfigError

    _load_all()
    if name not in _REGISTRY:
        raise ConfigError(
            f"unknown experiment {name!r}; known experiments: {', '.join(_REGISTRY)}; "
            "see `structdl list`"
        )
    return _REGISTRY[name]
