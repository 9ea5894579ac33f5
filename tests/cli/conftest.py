"""A fake experiment, registered for one test only, that exercises the whole CLI quickly."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from structdl.experiments import _registry
from structdl.experiments._registry import Experiment, Progress, Result
from structdl.experiments.io import save_figure
from structdl.structure.result import CheckResult

QUESTION = "Does the fake experiment reach the report?"


@dataclass
class FakeConfig:
    """Tiny config with the quick/full presets and the seed field the CLI requires."""

    steps: int = 3
    seed: int = 0

    @classmethod
    def quick(cls) -> FakeConfig:
        return cls(steps=3)

    @classmethod
    def full(cls) -> FakeConfig:
        return cls(steps=5)


@dataclass
class FakeExperiment:
    """The run function plus knobs: ``fail_with`` is raised after the figure is written."""

    name: str = "fake"
    question: str = QUESTION
    fail_with: BaseException | None = None
    calls: list[FakeConfig] = field(default_factory=list)

    def run(self, config: FakeConfig, out_dir: Path, progress: Progress) -> Result:
        self.calls.append(config)
        progress.set_total(config.steps)
        figure = Figure(figsize=(2, 2))
        figure.add_subplot().plot(range(config.steps))
        save_figure(figure, out_dir, "curve.png", dpi=30)
        for step in range(config.steps):
            progress.describe(f"step {step}")
            progress.advance()
        if self.fail_with is not None:
            raise self.fail_with
        return Result(
            metrics={"loss": {"train": 0.5, "test": 0.25}, "steps": config.steps},
            figures=["curve.png"],
            tables={"per step": [{"step": s, "square": s * s} for s in range(config.steps)]},
            checks={
                "energy drift": CheckResult(True, 1e-12, "drift 1e-12 <= 1e-10").as_dict(),
                "lipschitz": CheckResult(False, 1.5, "ratio 1.5 > bound 1").as_dict(),
            },
            notes="a fake experiment for the tests",
        )


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, Experiment]:
    """An empty experiment registry for this test (the real experiments are not imported)."""
    fresh: dict[str, Experiment] = {}
    monkeypatch.setattr(_registry, "_REGISTRY", fresh)
    monkeypatch.setattr(_registry, "_load_all", lambda: None)
    return fresh


def _register_fake(name: str = "fake", question: str = QUESTION) -> FakeExperiment:
    fake = FakeExperiment(name=name, question=question)
    _registry.register(Experiment(name, question, FakeConfig, fake.run))
    return fake


@pytest.fixture
def add_fake(registry: dict[str, Experiment]):
    """Register another fake experiment: ``add_fake(name, question) -> FakeExperiment``."""
    return _register_fake


@pytest.fixture
def fake(registry: dict[str, Experiment]) -> FakeExperiment:
    """One registered fake experiment called ``fake``, asking :data:`QUESTION`."""
    return _register_fake()


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    """Call ``structdl.cli.main(argv)``; return ``(exit status, stdout, stderr)``."""
    from structdl.cli import main

    def call(*argv: str) -> tuple[int, str, str]:
        status = main(list(argv))
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return call
