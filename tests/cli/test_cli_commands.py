"""The commands on good input: list, run, reproduce (resume, failures, interrupts), report."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import structdl
from structdl import cli
from structdl.structure.result import CheckResult

EXIT_FAILED, EXIT_INTERRUPTED = 1, 130
QUESTION = "Does the fake experiment reach the report?"  # the fake's, see conftest.py


def _metrics(out: Path, name: str = "fake", run: str = "quick-seed0") -> dict:
    return json.loads((out / name / run / "metrics.json").read_text(encoding="utf-8"))


def _temporary_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.name.endswith(".tmp")]


def test_version_and_help(run_cli):
    assert run_cli("--version") == (0, f"structdl {structdl.__version__}\n", "")
    status, out, _ = run_cli("--help")
    assert status == 0
    for command in ("list", "run", "reproduce", "report", "check"):
        assert command in out


def test_list_shows_name_and_question(fake, add_fake, run_cli):
    add_fake("second", "Is there a second one?")
    status, out, err = run_cli("list")
    assert status == 0 and err == ""
    assert out.splitlines() == [f"fake — {QUESTION}", "second — Is there a second one?"]


def test_run_writes_metrics_and_figure(fake, run_cli, tmp_path):
    out = tmp_path / "results"
    status, stdout, stderr = run_cli("run", "fake", "--out", str(out), "--seed", "7")
    assert status == 0 and stderr == ""
    payload = _metrics(out, run="quick-seed7")
    assert payload["name"] == "fake" and payload["question"] == QUESTION
    assert payload["preset"] == "quick" and payload["seed"] == 7
    assert payload["config"] == {"steps": 3, "seed": 7}
    assert payload["metrics"]["loss"] == {"train": 0.5, "test": 0.25}
    assert payload["figures"] == ["curve.png"]
    assert payload["checks"]["lipschitz"]["ok"] is False
    assert set(payload["versions"]) == {"torch", "python", "structdl"}
    assert (out / "fake" / "quick-seed7" / "curve.png").read_bytes().startswith(b"\x89PNG")
    assert fake.calls[0].seed == 7
    assert "done in" in stdout


def test_run_full_preset(fake, run_cli, tmp_path):
    status, _, _ = run_cli("run", "fake", "--full", "--out", str(tmp_path))
    assert status == 0
    assert _metrics(tmp_path, run="full-seed0")["config"]["steps"] == 5


def test_plain_progress_lines_when_not_a_terminal(fake, run_cli, tmp_path):
    _, stdout, _ = run_cli("run", "fake", "--out", str(tmp_path))
    assert "fake: step 0" in stdout
    assert "fake: step 1" not in stdout  # descriptions are throttled
    assert "fake: 33% (1/3)" in stdout and "fake: 100% (3/3)" in stdout
    assert "\x1b[" not in stdout  # no terminal control codes in logs


def test_plain_progress_is_bounded():
    stream = io.StringIO()
    progress = cli._PlainProgress("long", stream)
    progress.set_total(1000)
    for epoch in range(1000):
        progress.describe(f"epoch {epoch}")
        progress.advance()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "  long: epoch 0"
    assert [line for line in lines if "%" in line] == [
        f"  long: {p}% ({10 * p}/1000)" for p in range(10, 101, 10)
    ]
    assert len(lines) <= 10 + 5  # ten percentages, descriptions every 2 s at most


def test_rich_progress_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    with cli._progress("fake", stream) as progress:
        progress.set_total(4)
        progress.describe("[not markup] step")
        progress.advance(4)
    shown = stream.getvalue()
    assert "fake" in shown and "4/4" in shown and "[not markup] step" in shown


def test_rich_progress_without_total_ends_full():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    with cli._progress("fake", stream) as progress:
        progress.describe("working")
    assert "1/1" in stream.getvalue()


def test_rerun_skips_and_force_reruns(fake, run_cli, tmp_path):
    out = str(tmp_path)
    assert run_cli("run", "fake", "--out", out)[0] == 0
    status, stdout, _ = run_cli("run", "fake", "--out", out)
    assert status == 0 and "skipped (done)" in stdout
    assert len(fake.calls) == 1
    assert run_cli("run", "fake", "--out", out, "--force")[0] == 0
    assert len(fake.calls) == 2


def test_other_preset_or_seed_is_not_skipped(fake, run_cli, tmp_path):
    out = str(tmp_path)
    run_cli("run", "fake", "--out", out)
    run_cli("run", "fake", "--out", out, "--full")
    run_cli("run", "fake", "--out", out, "--full", "--seed", "3")
    assert [(c.steps, c.seed) for c in fake.calls] == [(3, 0), (5, 0), (5, 3)]


def test_reproduce_runs_all_then_reports_and_resumes(fake, add_fake, run_cli, tmp_path):
    second = add_fake("second", "Is there a second one?")
    out = tmp_path / "results"
    status, stdout, stderr = run_cli("reproduce", "--out", str(out))
    assert status == 0 and stderr == ""
    assert "[1/2] fake — done" in stdout and "[2/2] second — done" in stdout
    html = (out / "report.html").read_text(encoding="utf-8")
    assert QUESTION in html and "Is there a second one?" in html
    assert (out / "report.md").is_file()

    status, stdout, _ = run_cli("reproduce", "--out", str(out))
    assert status == 0
    assert "[1/2] fake — skipped (done)" in stdout and "[2/2] second — skipped (done)" in stdout
    assert len(fake.calls) == len(second.calls) == 1


def test_reproduce_only(fake, add_fake, run_cli, tmp_path):
    second = add_fake("second", "Is there a second one?")
    status, _, _ = run_cli("reproduce", "--only", "second", "second", "--out", str(tmp_path))
    assert status == 0
    assert fake.calls == [] and len(second.calls) == 1
    # The report still names the experiment that was not run.
    assert "Not finished (no finished run): fake" in (tmp_path / "report.md").read_text("utf-8")


def test_run_failure_is_one_line_and_exit_1(fake, run_cli, tmp_path):
    fake.fail_with = RuntimeError("the model\ndiverged")
    status, _, stderr = run_cli("run", "fake", "--out", str(tmp_path))
    assert status == EXIT_FAILED
    (line,) = stderr.splitlines()
    assert "'fake'" in line and "RuntimeError: the model diverged" in line
    assert not (tmp_path / "fake" / "quick-seed0" / "metrics.json").exists()
    assert "the model\ndiverged" in (tmp_path / "fake" / "error.log").read_text("utf-8")


def test_reproduce_continues_after_a_failure(fake, add_fake, run_cli, tmp_path):
    fake.fail_with = ValueError("bad")
    second = add_fake("second", "Is there a second one?")
    status, _, stderr = run_cli("reproduce", "--out", str(tmp_path))
    assert status == EXIT_FAILED
    assert len(second.calls) == 1
    assert (tmp_path / "second" / "quick-seed0" / "metrics.json").is_file()
    assert "experiment 'fake' failed: ValueError: bad" in stderr
    assert stderr.splitlines()[-1] == "structdl: 1 of 2 experiment(s) failed: fake"
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "Not finished (no finished run): fake" in report

    fake.fail_with = None  # fixed: the rerun redoes only the failed experiment
    assert run_cli("reproduce", "--out", str(tmp_path))[0] == 0
    assert len(fake.calls) == 2 and len(second.calls) == 1


def test_keyboard_interrupt_leaves_no_result_and_rerun_resumes(fake, add_fake, run_cli, tmp_path):
    second = add_fake("second", "Is there a second one?")
    second.fail_with = KeyboardInterrupt()
    status, _, stderr = run_cli("reproduce", "--out", str(tmp_path))
    assert status == EXIT_INTERRUPTED
    assert stderr == "structdl: interrupted; rerun to resume\n"
    assert (tmp_path / "fake" / "quick-seed0" / "metrics.json").is_file()
    assert not (tmp_path / "second" / "quick-seed0" / "metrics.json").exists()
    assert _temporary_files(tmp_path) == []

    second.fail_with = None
    status, stdout, _ = run_cli("reproduce", "--out", str(tmp_path))
    assert status == 0
    assert "fake — skipped (done)" in stdout and "second — done" in stdout
    assert (tmp_path / "second" / "quick-seed0" / "metrics.json").is_file()


def test_report_rebuilds_from_saved_results(fake, run_cli, tmp_path):
    run_cli("run", "fake", "--out", str(tmp_path))
    assert not (tmp_path / "report.html").exists()  # run alone does not build the report
    status, stdout, _ = run_cli("report", "--out", str(tmp_path))
    assert status == 0
    assert "1 checks passed, 1 failed" in stdout
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert QUESTION in html and "data:image/png;base64," in html
    assert len(fake.calls) == 1  # nothing was rerun


def _check_table(stdout: str) -> dict[str, list[str]]:
    rows = {}
    for line in stdout.splitlines()[1:-1]:
        name, outcome, worst, *reason = line.split(maxsplit=3)
        rows[name] = [outcome, worst, *reason]
    return rows


def test_check_passes_when_all_pass(run_cli, monkeypatch):
    monkeypatch.setattr(
        cli, "_collect_checks", lambda: {"good": lambda: CheckResult(True, 2e-13, "fine")}
    )
    status, stdout, _ = run_cli("check")
    assert status == 0
    assert _check_table(stdout)["good"] == ["pass", "2.000e-13", "fine"]
    assert stdout.splitlines()[-1] == "1 checks: 1 passed, 0 failed"


def test_check_fails_with_a_failing_check(run_cli, monkeypatch):
    def broken():
        raise ValueError("cannot build the object")

    checks = {
        "good": lambda: CheckResult(True, 1e-14, "fine"),
        "bad": lambda: CheckResult(False, 0.25, "error 0.25 > 1e-10"),
        "crashes": broken,
        "not-a-result": lambda: 3.0,
    }
    monkeypatch.setattr(cli, "_collect_checks", lambda: checks)
    status, stdout, _ = run_cli("check")
    assert status == EXIT_FAILED
    table = _check_table(stdout)
    assert table["good"][0] == "pass"
    assert table["bad"] == ["FAIL", "2.500e-01", "error 0.25 > 1e-10"]
    assert table["crashes"][:2] == ["FAIL", "-"]
    assert "raised ValueError: cannot build the object" in table["crashes"][2]
    assert table["not-a-result"][0] == "FAIL"
    assert stdout.splitlines()[-1] == "4 checks: 1 passed, 3 failed"


def test_check_with_nothing_registered_fails(run_cli, monkeypatch):
    monkeypatch.setattr(cli, "_collect_checks", dict)
    status, _, stderr = run_cli("check")
    assert status == EXIT_FAILED and "no structure checks" in stderr


def test_check_reports_a_broken_subpackage(monkeypatch):
    real_import = cli.importlib.import_module

    def import_module(name: str):
        if name == "structdl.optim":
            raise RuntimeError("syntax slip")
        return real_import(name)

    monkeypatch.setattr(cli.importlib, "import_module", import_module)
    checks = cli._collect_checks()
    ok, _, reason = cli._run_check(checks["import structdl.optim"])
    assert not ok and "syntax slip" in reason


def test_check_uses_the_check_registry(run_cli, monkeypatch):
    from structdl.structure import check_registry

    # Only the checks registered here: the real subpackages' checks are tested elsewhere.
    monkeypatch.setattr(check_registry, "_REGISTRY", {})
    monkeypatch.setattr(cli, "_CHECK_PACKAGES", ())

    @check_registry.register_check("fake.passes")
    def _passes() -> CheckResult:
        return CheckResult(True, 3e-15, "inverse error 3e-15 <= 1e-10")

    @check_registry.register_check("fake.fails")
    def _fails() -> CheckResult:
        return CheckResult(False, 0.5, "symplectic defect 0.5 > 1e-10")

    status, stdout, _ = run_cli("check")
    assert status == EXIT_FAILED
    table = _check_table(stdout)
    assert table["fake.passes"] == ["pass", "3.000e-15", "inverse error 3e-15 <= 1e-10"]
    assert table["fake.fails"] == ["FAIL", "5.000e-01", "symplectic defect 0.5 > 1e-10"]


def test_python_dash_m_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "structdl", "run"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("structdl: error: the following arguments are required: NAME")
    assert len(done.stderr.splitlines()) == 1
