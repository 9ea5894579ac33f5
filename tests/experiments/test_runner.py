"""run_experiment: metrics.json written last and atomically, resume rules, failures, interrupts."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from matplotlib.figure import Figure

import structdl
from structdl import ConfigError
from structdl.experiments import io as results_io
from structdl.experiments._registry import Experiment, NullProgress, Result
from structdl.experiments.runner import (
    ExperimentFailed,
    ensure_out_root,
    is_finished,
    make_config,
    read_metrics,
    run_experiment,
)
from structdl.structure.result import CheckResult


@dataclass
class Config:
    steps: int = 2
    seed: int = 0
    dtype: torch.dtype = torch.float64  # not JSON: must be stored by name

    @classmethod
    def quick(cls) -> Config:
        return cls()

    @classmethod
    def full(cls) -> Config:
        return cls(steps=4)


@dataclass
class Fake:
    """An experiment whose behaviour each test adjusts."""

    fail_with: BaseException | None = None
    result: object = None
    seen_metrics_during_run: list[bool] = field(default_factory=list)
    calls: int = 0

    def run(self, config: Config, out_dir: Path, progress) -> Result:
        self.calls += 1
        self.seen_metrics_during_run.append((out_dir / "metrics.json").exists())
        figure = Figure(figsize=(1, 1))
        figure.add_subplot().plot([0, 1])
        results_io.save_figure(figure, out_dir, "plot.png", dpi=20)
        if self.fail_with is not None:
            raise self.fail_with
        if self.result is not None:
            return self.result
        return Result(
            metrics={"error": torch.tensor(0.125), "nested": {"nan": math.nan}, "n": config.steps},
            figures=["plot.png"],
            checks={"inverse": {"ok": True, "worst": 1e-15, "reason": "fine"}},
        )


@pytest.fixture
def fake() -> Fake:
    return Fake()


@pytest.fixture
def experiment(fake: Fake) -> Experiment:
    return Experiment("demo", "Does the runner work?", Config, fake.run)


def _run(experiment, root, seed=None, preset="quick", *, force=False):
    return run_experiment(experiment, preset, root, seed, NullProgress(), force=force)


def _tmp_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.name.endswith(".tmp")]


def _entries(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_metrics_json_content(experiment, fake, tmp_path):
    record = _run(experiment, tmp_path, seed=5)
    assert record.status == "ran" and record.out_dir == tmp_path / "demo" / "quick-seed5"
    payload = read_metrics(tmp_path / "demo" / "quick-seed5" / "metrics.json")
    assert list(payload) == [
        "name", "question", "preset", "seed", "config", "metrics", "figures", "tables",
        "checks", "notes", "elapsed_s", "versions",
    ]  # fmt: skip
    assert payload["seed"] == 5 and payload["config"]["seed"] == 5
    assert payload["config"]["dtype"] == "torch.float64"
    assert payload["metrics"] == {"error": 0.125, "nested": {"nan": "nan"}, "n": 2}
    assert payload["versions"]["torch"] == torch.__version__
    assert payload["versions"]["structdl"] == structdl.__version__
    assert payload["elapsed_s"] >= 0
    assert fake.seen_metrics_during_run == [False]  # metrics.json comes after the run


def test_skip_rerun_and_force(experiment, fake, tmp_path):
    assert not is_finished(experiment, "quick", tmp_path)
    assert _run(experiment, tmp_path).status == "ran"
    assert is_finished(experiment, "quick", tmp_path) and is_finished(
        experiment, "quick", tmp_path, 0
    )
    assert not is_finished(experiment, "quick", tmp_path, 1)
    assert not is_finished(experiment, "full", tmp_path)
    assert _run(experiment, tmp_path).status == "skipped"
    assert _run(experiment, tmp_path, seed=0).status == "skipped"  # the preset's own seed
    assert _run(experiment, tmp_path, seed=1).status == "ran"
    assert _run(experiment, tmp_path, seed=1, preset="full").status == "ran"
    assert _run(experiment, tmp_path, seed=1, preset="full", force=True).status == "ran"
    assert fake.calls == 4
    assert fake.seen_metrics_during_run == [False] * 4  # each run starts in a fresh folder
    # Results of different presets and seeds live side by side.
    runs = sorted(p.name for p in (tmp_path / "demo").iterdir() if not p.name.startswith("."))
    assert runs == ["current", "full-seed1", "quick-seed0", "quick-seed1"]
    assert (tmp_path / "demo" / "current").read_text(encoding="utf-8") == "full-seed1\n"
    assert _run(experiment, tmp_path).status == "skipped"
    assert (tmp_path / "demo" / "current").read_text(encoding="utf-8") == "quick-seed0\n"


def test_interrupt_while_writing_metrics_leaves_nothing_half_written(
    experiment, tmp_path, monkeypatch
):
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst).name == "metrics.json":
            raise KeyboardInterrupt  # Ctrl-C between writing the temp file and renaming it
        real_replace(src, dst)

    monkeypatch.setattr(results_io.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        _run(experiment, tmp_path)
    assert _entries(tmp_path / "demo") == []  # the staging folder went with the interrupt
    assert _tmp_files(tmp_path) == []

    monkeypatch.setattr(results_io.os, "replace", real_replace)
    assert _run(experiment, tmp_path).status == "ran"  # the rerun redoes it
    assert (tmp_path / "demo" / "quick-seed0" / "metrics.json").is_file()


def test_interrupt_inside_the_experiment(experiment, fake, tmp_path):
    fake.fail_with = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        _run(experiment, tmp_path)
    assert _entries(tmp_path / "demo") == []  # no result, no staging folder, no error.log


def test_leftover_temporary_files_are_removed(experiment, tmp_path):
    folder = tmp_path / "demo"
    (folder / ".staging-quick-seed0-0a1b2c3d").mkdir(parents=True)  # as after kill -9
    (folder / ".staging-quick-seed0-0a1b2c3d" / ".plot.png.abc123.tmp").write_bytes(b"half")
    (folder / ".current.ab12.tmp").write_bytes(b"qu")
    _run(experiment, tmp_path)
    assert _entries(folder) == ["current", "quick-seed0"]


def test_failure_is_wrapped_logged_and_cleared(experiment, fake, tmp_path):
    fake.fail_with = ZeroDivisionError("division by zero in layer 3")
    with pytest.raises(ExperimentFailed, match="'demo' failed: ZeroDivisionError") as info:
        _run(experiment, tmp_path)
    assert isinstance(info.value.cause, ZeroDivisionError)
    log = tmp_path / "demo" / "error.log"
    assert "division by zero in layer 3" in log.read_text(encoding="utf-8")
    assert _entries(tmp_path / "demo") == ["error.log"]

    fake.fail_with = None
    assert _run(experiment, tmp_path).status == "ran"
    assert not log.exists()


@pytest.mark.parametrize(
    ("result", "match"),
    [
        ({"metrics": {}}, "expected a Result"),
        (Result(figures=["absent.png"]), "absent.png"),
        (Result(figures=["../plot.png"]), "not a file"),
        (Result(checks={"c": {"worst": 1.0}}), "expected CheckResult.as_dict"),
        (Result(checks={"c": "fine"}), "expected CheckResult.as_dict"),
    ],
)
def test_bad_result_is_a_failure(experiment, fake, tmp_path, result, match):
    fake.result = result
    with pytest.raises(ExperimentFailed, match=match):
        _run(experiment, tmp_path)
    assert _entries(tmp_path / "demo") == ["error.log"]


@pytest.mark.parametrize(
    ("preset", "seed", "match"),
    [
        ("medium", None, "unknown preset 'medium'"),
        ("quick", -1, "invalid seed -1"),
        ("quick", True, "invalid seed True"),
        ("quick", "3", "invalid seed '3'"),
        ("quick", 1.0, "invalid seed 1.0"),
        ("quick", 2**64, "invalid seed 18446744073709551616"),
    ],
)
def test_bad_preset_or_seed(experiment, fake, tmp_path, preset, seed, match):
    with pytest.raises(ConfigError, match=match):
        _run(experiment, tmp_path, seed=seed, preset=preset)
    assert fake.calls == 0
    assert not (tmp_path / "demo").exists()


def test_make_config_presets(experiment):
    assert make_config(experiment, "full").steps == 4
    assert make_config(experiment, "quick", seed=9).seed == 9


def test_config_without_seed_field_is_a_failure(tmp_path):
    @dataclass
    class NoSeed:
        steps: int = 1

        @classmethod
        def quick(cls) -> NoSeed:
            return cls()

    broken = Experiment("noseed", "?", NoSeed, lambda c, o, p: Result())
    with pytest.raises(ExperimentFailed, match="noseed"):
        _run(broken, tmp_path, seed=3)


def test_out_root_checks(tmp_path):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="is a file"):
        ensure_out_root(tmp_path / "file")
    with pytest.raises(ConfigError, match="cannot create"):
        ensure_out_root(tmp_path / "file" / "below")
    assert ensure_out_root(tmp_path / "a" / "b").is_dir()


def test_read_metrics_errors_name_the_file(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"name": ', encoding="utf-8")
    with pytest.raises(ConfigError, match="corrupt results file .*metrics.json"):
        read_metrics(path)
    path.write_text(json.dumps("text"), encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        read_metrics(path)
    with pytest.raises(ConfigError, match="cannot read"):
        read_metrics(tmp_path / "absent.json")


def test_check_result_objects_are_stored_as_dicts(experiment, fake, tmp_path):
    fake.result = Result(checks={"inverse": CheckResult(False, 0.5, "error 0.5 > 1e-10")})
    _run(experiment, tmp_path)
    payload = read_metrics(tmp_path / "demo" / "quick-seed0" / "metrics.json")
    assert payload["checks"] == {
        "inverse": {"ok": False, "worst": 0.5, "reason": "error 0.5 > 1e-10"}
    }


# --------------------------------------------------------------------------- results never lost


@pytest.mark.parametrize(
    ("seed", "preset", "force"),
    [(None, "quick", True), (1, "quick", False), (None, "full", False)],
    ids=["--force", "--seed 1", "--full"],
)
@pytest.mark.parametrize("stop", [KeyboardInterrupt(), ZeroDivisionError("bug")], ids=repr)
def test_a_cut_rerun_keeps_the_finished_result(
    experiment, fake, tmp_path, seed, preset, force, stop
):
    _run(experiment, tmp_path)
    finished = tmp_path / "demo" / "quick-seed0"
    before = {p.name: p.read_bytes() for p in finished.iterdir()}
    fake.fail_with = stop
    with pytest.raises((KeyboardInterrupt, ExperimentFailed)):
        _run(experiment, tmp_path, seed=seed, preset=preset, force=force)
    assert {p.name: p.read_bytes() for p in finished.iterdir()} == before
    assert [n for n in _entries(tmp_path / "demo") if n.startswith(".")] == []
    assert (tmp_path / "demo" / "current").read_text(encoding="utf-8") == "quick-seed0\n"


def test_forced_rerun_replaces_the_run_whole(experiment, fake, tmp_path):
    _run(experiment, tmp_path)
    (tmp_path / "demo" / "quick-seed0" / "stale.png").write_bytes(b"from the first run")
    _run(experiment, tmp_path, force=True)
    assert _entries(tmp_path / "demo" / "quick-seed0") == ["metrics.json", "plot.png"]


@pytest.mark.parametrize(
    ("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_files_follow_the_umask(experiment, tmp_path, umask, file_mode, dir_mode):
    previous = os.umask(umask)
    try:
        _run(experiment, tmp_path)
    finally:
        os.umask(previous)
    run = tmp_path / "demo" / "quick-seed0"
    assert run.stat().st_mode & 0o777 == dir_mode
    for name in ("metrics.json", "plot.png"):
        assert (run / name).stat().st_mode & 0o777 == file_mode
    assert (tmp_path / "demo" / "current").stat().st_mode & 0o777 == file_mode


def test_a_swap_cut_by_kill_9_is_rolled_back(experiment, fake, tmp_path):
    _run(experiment, tmp_path)
    folder = tmp_path / "demo"
    # kill -9 between the swap's two renames: the old run is parked, the new one staged.
    os.rename(folder / "quick-seed0", folder / ".old-quick-seed0-1a2b3c4d")
    (folder / ".staging-quick-seed0-5e6f7a8b").mkdir()
    assert _run(experiment, tmp_path).status == "skipped"  # the old run is back, and counts
    assert _entries(folder) == ["current", "quick-seed0"]
    assert fake.calls == 1


def test_a_second_process_is_refused_with_the_holder_named(experiment, fake, tmp_path):
    import subprocess
    import sys

    script = (
        "import sys, time; from structdl.experiments.runner import results_lock\n"
        "with results_lock(sys.argv[1], 'structdl run demo --out R'):\n"
        "    print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(ConfigError, match=f"in use by pid {holder.pid} .*structdl run demo"):
            _run(experiment, tmp_path)
    finally:
        holder.kill()
        holder.communicate()
    assert fake.calls == 0
    assert _run(experiment, tmp_path).status == "ran"  # the kernel freed the lock with the holder


# --------------------------------------------------------------------------- hostile metrics.json


def test_read_metrics_refuses_deep_nesting(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"a": ' + "[" * 200_000 + "]" * 200_000 + "}", encoding="utf-8")
    with pytest.raises(ConfigError, match="nested at most 64 levels"):
        read_metrics(path)
    path.write_text('{"a": ' + "[" * 100 + "]" * 100 + "}", encoding="utf-8")  # below recursion
    with pytest.raises(ConfigError, match="nested at most 64 levels"):
        read_metrics(path)


def test_read_metrics_refuses_a_huge_file_without_reading_it(tmp_path):
    path = tmp_path / "metrics.json"
    with path.open("wb") as handle:
        handle.truncate(4 * 2**30)  # sparse: 4 GiB on paper, nothing on disk
    with pytest.raises(ConfigError, match="too large — expected at most 32 MiB — got 4096 MiB"):
        read_metrics(path)


def test_read_metrics_names_utf8_errors_and_links(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_bytes(b'{"name": "\xff"}')
    with pytest.raises(ConfigError, match="expected UTF-8 text — got an invalid byte at position"):
        read_metrics(path)
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "absent.json")
    with pytest.raises(ConfigError, match="symbolic link .*never followed"):
        read_metrics(link)


def test_dangling_symlink_as_results_folder(tmp_path):
    (tmp_path / "results").symlink_to(tmp_path / "gone")
    with pytest.raises(ConfigError, match="symbolic link to .*gone', which does not exist"):
        ensure_out_root(tmp_path / "results")
    with pytest.raises(ConfigError, match="empty results folder"):
        ensure_out_root("")


def test_an_interrupt_while_the_temporary_file_is_created_leaves_none(tmp_path, monkeypatch):
    # The cause of the old flaky SIGTERM test: the signal landed just after the temporary file
    # was created inside tempfile.mkstemp, before the writer's try block could remove it.
    real_open = os.open

    def open_then_interrupted(path, flags, *args):
        real_open(path, flags, *args)
        raise KeyboardInterrupt  # as if SIGTERM arrived while open() was returning

    monkeypatch.setattr(results_io.os, "open", open_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        results_io.atomic_write_text(tmp_path / "partial.txt", "y" * 1000)
    assert _entries(tmp_path) == []
