"""Bad input reaches the user as exactly one line ``structdl: error: …`` and exit status 2."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

EXIT_USAGE = 2


def _one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("structdl: error: ")
    assert "Traceback" not in stderr
    return lines[0]


def _finished_results(tmp_path: Path, run_cli) -> Path:
    out = tmp_path / "results"
    status, _, _ = run_cli("run", "fake", "--out", str(out))
    assert status == 0
    return out


def _metrics_path(out: Path) -> Path:
    return out / "fake" / "quick-seed0" / "metrics.json"


def _corrupt_json(tmp_path: Path, run_cli) -> list[str]:
    out = _finished_results(tmp_path, run_cli)
    _metrics_path(out).write_text('{"name": "fake", "question": ', encoding="utf-8")
    return ["report", "--out", str(out)]


def _json_not_object(tmp_path: Path, run_cli) -> list[str]:
    out = _finished_results(tmp_path, run_cli)
    _metrics_path(out).write_text("[1, 2, 3]\n", encoding="utf-8")
    return ["report", "--out", str(out)]


def _json_missing_key(tmp_path: Path, run_cli) -> list[str]:
    out = _finished_results(tmp_path, run_cli)
    path = _metrics_path(out)
    payload = json.loads(path.read_text(encoding="utf-8"))
    del payload["metrics"]
    path.write_text(json.dumps(payload), encoding="utf-8")
    return ["report", "--out", str(out)]


def _figure_path_escapes(tmp_path: Path, run_cli) -> list[str]:
    out = _finished_results(tmp_path, run_cli)
    path = _metrics_path(out)
    payload = json.loads(path.read_text(encoding="utf-8"))
    payload["figures"] = ["../../secret.png"]
    path.write_text(json.dumps(payload), encoding="utf-8")
    return ["report", "--out", str(out)]


def _metrics_is_a_folder(tmp_path: Path, run_cli) -> list[str]:
    out = tmp_path / "results"
    _metrics_path(out).mkdir(parents=True)
    return ["report", "--out", str(out)]


def _missing_results(tmp_path: Path, run_cli) -> list[str]:
    return ["report", "--out", str(tmp_path / "never-ran")]


def _out_is_file(tmp_path: Path, run_cli) -> list[str]:
    (tmp_path / "results").write_text("not a folder", encoding="utf-8")
    return ["run", "fake", "--out", str(tmp_path / "results")]


def _out_below_file(tmp_path: Path, run_cli) -> list[str]:
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")
    return ["reproduce", "--out", str(tmp_path / "file" / "results")]


def _report_out_is_file(tmp_path: Path, run_cli) -> list[str]:
    (tmp_path / "results").write_text("not a folder", encoding="utf-8")
    return ["report", "--out", str(tmp_path / "results")]


def _experiment_folder_is_file(tmp_path: Path, run_cli) -> list[str]:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "fake").write_text("not a folder", encoding="utf-8")
    return ["run", "fake", "--out", str(tmp_path / "results")]


def _corrupt_json_on_resume(tmp_path: Path, run_cli) -> list[str]:
    out = _finished_results(tmp_path, run_cli)
    _metrics_path(out).write_text("{oops", encoding="utf-8")
    return ["run", "fake", "--out", str(out)]


def _dangling_out(tmp_path: Path, run_cli) -> list[str]:
    (tmp_path / "results").symlink_to(tmp_path / "gone")
    return ["run", "fake", "--out", str(tmp_path / "results")]


def _not_utf8_on_resume(tmp_path: Path, run_cli) -> list[str]:
    out = _finished_results(tmp_path, run_cli)
    _metrics_path(out).write_bytes(b'{"name": "caf\xe9"}')
    return ["run", "fake", "--out", str(out)]


def _deep_on_resume(tmp_path: Path, run_cli) -> list[str]:
    out = _finished_results(tmp_path, run_cli)
    _metrics_path(out).write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    return ["run", "fake", "--out", str(out)]


def _deep_in_report(tmp_path: Path, run_cli) -> list[str]:
    out = _finished_results(tmp_path, run_cli)
    _metrics_path(out).write_text('{"a":' + "[" * 200_000 + "]" * 200_000 + "}", "utf-8")
    return ["report", "--out", str(out)]


def _huge_in_report(tmp_path: Path, run_cli) -> list[str]:
    out = _finished_results(tmp_path, run_cli)
    with _metrics_path(out).open("r+b") as handle:
        handle.truncate(4 * 2**30)  # sparse 4 GiB
    return ["report", "--out", str(out)]


def _args(*argv: str) -> Callable[[Path, object], list[str]]:
    return lambda tmp_path, run_cli: list(argv)


BAD_INPUTS = {
    "unknown experiment": (_args("run", "nope"), "unknown experiment 'nope'"),
    "unknown option": (_args("run", "fake", "--bogus"), "unrecognized arguments: --bogus"),
    "quick and full": (_args("run", "fake", "--quick", "--full"), "not allowed with"),
    "negative seed": (_args("run", "fake", "--seed", "-1"), "invalid seed '-1'"),
    "non-integer seed": (_args("run", "fake", "--seed", "abc"), "invalid seed 'abc'"),
    "fractional seed": (_args("run", "fake", "--seed", "1.5"), "invalid seed '1.5'"),
    "unknown command": (_args("frobnicate"), "invalid choice: 'frobnicate'"),
    "no command": (_args(), "no command given"),
    "run without name": (_args("run"), "required: NAME"),
    "unknown --only name": (_args("reproduce", "--only", "fake", "nope"), "'nope'"),
    "unknown option of report": (_args("report", "--quick"), "unrecognized arguments"),
    "out is a file": (_out_is_file, "is a file"),
    "out below a file": (_out_below_file, "cannot create results folder"),
    "report out is a file": (_report_out_is_file, "is not a folder"),
    "experiment folder is a file": (_experiment_folder_is_file, "is a file"),
    "missing results folder": (_missing_results, "does not exist"),
    "corrupt metrics.json": (_corrupt_json, "metrics.json"),
    "metrics.json not an object": (_json_not_object, "expected a JSON object"),
    "metrics.json missing key": (_json_missing_key, "'metrics'"),
    "figure path escapes folder": (_figure_path_escapes, "plain file names"),
    "metrics.json unreadable": (_metrics_is_a_folder, "cannot read"),
    "corrupt metrics.json on resume": (_corrupt_json_on_resume, "corrupt results file"),
    "seed above 2**64-1": (_args("run", "fake", "--seed", str(2**64)), "invalid seed"),
    "empty --out": (_args("run", "fake", "--out", ""), "empty results folder ''"),
    "empty --out of report": (_args("report", "--out", ""), "empty results folder"),
    "abbreviated --force": (_args("run", "fake", "--fo"), "unrecognized arguments: --fo"),
    "abbreviated --only": (_args("reproduce", "--on", "fake"), "unrecognized arguments: --on"),
    "abbreviated --version": (_args("--vers"), "unrecognized arguments: --vers"),
    "jobs zero": (_args("reproduce", "--jobs", "0"), "invalid job count '0'"),
    "run with jobs x": (_args("run", "fake", "--jobs", "x"), "invalid job count 'x'"),
    "dangling symlink as --out": (_dangling_out, "a symbolic link to"),
    "metrics.json not UTF-8 on resume": (_not_utf8_on_resume, "expected UTF-8 text"),
    "metrics.json nested 200000 deep on resume": (_deep_on_resume, "nested at most 64"),
    "metrics.json nested 200000 deep in report": (_deep_in_report, "nested at most 64"),
    "metrics.json of 4 GiB in report": (_huge_in_report, "too large"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(case, fake, run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a stray default ./results lands in the temporary folder
    make_argv, expected = BAD_INPUTS[case]
    argv = make_argv(tmp_path, run_cli)
    status, _, stderr = run_cli(*argv)
    assert status == EXIT_USAGE
    assert expected in _one_error_line(stderr)


def test_corrupt_metrics_error_names_the_file(fake, run_cli, tmp_path):
    argv = _corrupt_json(tmp_path, run_cli)
    _, _, stderr = run_cli(*argv)
    assert str(_metrics_path(tmp_path / "results")) in stderr


def test_bad_input_runs_nothing(fake, run_cli, tmp_path):
    status, _, _ = run_cli("reproduce", "--only", "fake", "nope", "--out", str(tmp_path / "r"))
    assert status == EXIT_USAGE
    assert fake.calls == []  # names are validated before any experiment starts
    assert not (tmp_path / "r").exists()


def test_force_recovers_from_corrupt_metrics(fake, run_cli, tmp_path):
    argv = _corrupt_json_on_resume(tmp_path, run_cli)
    status, _, _ = run_cli(*argv, "--force")
    assert status == 0
    payload = json.loads(_metrics_path(tmp_path / "results").read_text("utf-8"))
    assert payload["name"] == "fake"


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores file permissions"
)
def test_unreadable_results_folder(fake, run_cli, tmp_path):
    out = _finished_results(tmp_path, run_cli)
    os.chmod(out, 0)
    try:
        status, _, stderr = run_cli("report", "--out", str(out))
    finally:
        os.chmod(out, 0o755)
    assert status == EXIT_USAGE
    assert "cannot read" in _one_error_line(stderr)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores file permissions"
)
def test_out_not_writable(fake, run_cli, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    os.chmod(out, 0o500)
    try:
        status, _, stderr = run_cli("run", "fake", "--out", str(out))
    finally:
        os.chmod(out, 0o755)
    assert status == EXIT_USAGE
    assert "not writable" in _one_error_line(stderr)


def test_unreadable_results_folder_simulated(fake, run_cli, tmp_path, monkeypatch):
    # The permission tests above are skipped as root; simulate the OS refusing instead.
    from structdl.report import _load

    out = _finished_results(tmp_path, run_cli)

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(_load.os, "scandir", refuse)
    status, _, stderr = run_cli("report", "--out", str(out))
    assert status == EXIT_USAGE
    line = _one_error_line(stderr)
    assert "cannot read results folder" in line and "Permission denied" in line


def test_out_not_writable_simulated(fake, run_cli, tmp_path, monkeypatch):
    from structdl.experiments import runner

    monkeypatch.setattr(runner.os, "access", lambda path, mode: False)
    status, _, stderr = run_cli("run", "fake", "--out", str(tmp_path))
    assert status == EXIT_USAGE
    assert "is not writable" in _one_error_line(stderr)
    assert fake.calls == []


def test_messages_do_not_mislead(fake, run_cli, tmp_path):
    # Neither "File exists" for a dangling link nor "permissions" for bad bytes.
    _, _, stderr = run_cli(*_dangling_out(tmp_path, run_cli))
    assert "File exists" not in stderr and "does not exist" in stderr
    _, _, stderr = run_cli(*_not_utf8_on_resume(tmp_path / "b", run_cli))
    assert "permission" not in stderr


def test_largest_seed_is_accepted(fake, run_cli, tmp_path):
    assert run_cli("run", "fake", "--seed", str(2**64 - 1), "--out", str(tmp_path))[0] == 0
    assert fake.calls[0].seed == 2**64 - 1


def test_a_stray_folder_is_a_note_not_a_failure(fake, run_cli, tmp_path):
    out = _finished_results(tmp_path, run_cli)
    (out / "fake.bak").mkdir()
    (out / "fake.bak" / "quick-seed0").mkdir()
    (out / "fake.bak" / "quick-seed0" / "metrics.json").write_bytes(_metrics_path(out).read_bytes())
    status, stdout, stderr = run_cli("report", "--out", str(out))
    assert status == 0 and "report of 1 experiment(s)" in stdout
    (line,) = stderr.splitlines()
    assert line.startswith("structdl: note: the report skipped fake.bak: corrupt results file")


def test_command_line_without_the_extra_exits_2_naming_the_install(fake, run_cli, monkeypatch):
    from structdl import cli

    real = cli.importlib.util.find_spec
    monkeypatch.setattr(
        cli.importlib.util, "find_spec", lambda name, *a: None if name == "rich" else real(name)
    )
    status, _, stderr = run_cli("list")
    assert status == EXIT_USAGE
    line = _one_error_line(stderr)
    assert "needs rich" in line and "pip install 'structdl[experiments]'" in line
