"""The report is built from saved results only: HTML (self-contained) and Markdown."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from structdl import ConfigError
from structdl.report import build_report, flatten_metrics, load_results

QUESTION = "Is the <leapfrog> map symplectic?"


@pytest.fixture(scope="module")
def png() -> bytes:
    figure = Figure(figsize=(1, 1))
    figure.add_subplot().plot([0, 1], [1, 0])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=20)
    return buffer.getvalue()


def _save(root: Path, folder_name: str, png: bytes, **overrides) -> Path:
    """Write a run as the runner does: ``<name>/quick-seed0/`` with a figure and metrics.json."""
    folder = root / folder_name / "quick-seed0"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "phase.png").write_bytes(png)
    payload = {
        "name": folder_name,
        "question": QUESTION,
        "preset": "quick",
        "seed": 0,
        "config": {"steps": 3, "seed": 0},
        "metrics": {"energy": {"drift": 1.23456789e-9, "max": 2.0}, "epochs": 3, "ok": True},
        "figures": ["phase.png"],
        "tables": {"by step size": [{"h": 0.1, "error": 1e-3}, {"h": 0.05, "note": "a|b"}]},
        "checks": {
            "symplectic": {"ok": True, "worst": 3.2e-15, "reason": "defect 3.2e-15 <= 1e-10"},
            "lipschitz": {"ok": False, "worst": 1.75, "reason": "ratio 1.75 > bound 1"},
        },
        "notes": "Stormer-Verlet, 3 steps.",
        "elapsed_s": 1.5,
        "versions": {"torch": "2.13.0", "python": "3.11.7", "structdl": "0.1.0"},
    }
    payload.update(overrides)
    (folder / "metrics.json").write_text(json.dumps(payload), encoding="utf-8")
    return folder


def test_html_is_self_contained_and_complete(tmp_path, png):
    _save(tmp_path, "leapfrog", png)
    report = build_report(tmp_path)
    html = report.html.read_text(encoding="utf-8")
    assert "Is the &lt;leapfrog&gt; map symplectic?" in html  # escaped, not markup
    assert "<leapfrog>" not in html
    assert f"data:image/png;base64,{base64.b64encode(png).decode()}" in html
    # Self-contained: every src/href is an embedded image or an in-page anchor.
    for link in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert link.startswith(("data:image/png;base64,", "#")) or link == "data:,"  # no icon
    assert "<td>energy.drift</td>" in html and "1.235e-09" in html
    assert "<th>h</th><th>error</th><th>note</th>" in html
    assert "defect 3.2e-15 &lt;= 1e-10" in html and "3.200e-15" in html
    assert "ratio 1.75 &gt; bound 1" in html and "1.750e+00" in html
    assert html.count('class="fail">FAIL') == 2  # the check row and the summary row
    assert "1 experiment(s) finished" in html
    assert "1 passed</span>" in html and "1 failed</span>" in html


def test_markdown_links_figures_relative_to_the_report(tmp_path, png):
    _save(tmp_path, "leapfrog", png)
    markdown = build_report(tmp_path).markdown.read_text(encoding="utf-8")
    assert "*Is the &lt;leapfrog&gt; map symplectic?*" in markdown  # raw HTML is escaped
    (link,) = re.findall(r"!\[phase\.png\]\(([^)]+)\)", markdown)
    assert link == "leapfrog/quick-seed0/phase.png" and (tmp_path / link).read_bytes() == png
    assert "| energy.drift | 1.235e-09 |" in markdown
    assert "| symplectic | pass | 3.200e-15 | defect 3.2e-15 &lt;= 1e-10 |" in markdown
    assert "| lipschitz | FAIL | 1.750e+00 | ratio 1.75 &gt; bound 1 |" in markdown
    assert "a\\|b" in markdown  # a pipe inside a cell does not split the table
    assert "structure checks: 1 passed, 1 failed." in markdown


def test_summary_counts_over_experiments_and_order(tmp_path, png):
    _save(tmp_path, "b_second", png)
    _save(tmp_path, "a_first", png, checks={"c": {"ok": True, "worst": 0.0, "reason": "r"}})
    (tmp_path / "not_finished").mkdir()  # a folder without a finished run is skipped
    results = load_results(tmp_path, expected=["b_second", "missing", "a_first"])
    assert [r.name for r in results.experiments] == ["b_second", "a_first"]
    assert results.unfinished == ["missing"]
    assert (results.checks_passed, results.checks_failed) == (2, 1)
    markdown = build_report(tmp_path, expected=["b_second", "missing"]).markdown.read_text("utf-8")
    assert markdown.index("## b_second") < markdown.index("## a_first")  # registry, then rest
    assert "Not finished (no finished run): missing." in markdown


def test_rebuild_overwrites_atomically(tmp_path, png):
    _save(tmp_path, "leapfrog", png)
    build_report(tmp_path)
    _save(tmp_path, "leapfrog", png, question="A new question?")
    html = build_report(tmp_path).html.read_text(encoding="utf-8")
    assert "A new question?" in html and QUESTION not in html.replace("&lt;", "<")
    assert [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")] == []


def test_missing_figure_is_noted_not_fatal(tmp_path, png):
    folder = _save(tmp_path, "leapfrog", png)
    (folder / "phase.png").unlink()
    report = build_report(tmp_path)
    assert "figure phase.png is not shown: it cannot be read" in report.html.read_text("utf-8")
    assert "figure phase.png is not shown: it cannot be read" in report.markdown.read_text("utf-8")


def test_empty_results_folder_gives_an_empty_report(tmp_path):
    report = build_report(tmp_path, expected=["a"])
    assert "0 experiment(s) finished" in report.markdown.read_text(encoding="utf-8")
    assert "Not finished (no finished run): a." in report.markdown.read_text(encoding="utf-8")


def test_non_finite_worst_values(tmp_path, png):
    _save(tmp_path, "x", png, checks={"blowup": {"ok": False, "worst": "inf", "reason": "r"}})
    assert "| blowup | FAIL | inf | r |" in build_report(tmp_path).markdown.read_text("utf-8")


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"metrics": [1, 2]}, "'metrics' to be a dict"),
        ({"question": None}, "'question' to be a str"),
        ({"figures": ["../../etc/passwd"]}, "plain file names"),
        ({"figures": "phase.png"}, "'figures' to be a list"),
        ({"checks": {"c": {"worst": 1.0}}}, "check 'c'"),
        ({"checks": {"c": {"ok": True, "worst": "big"}}}, "worst value of check 'c'"),
        ({"tables": {"t": [1, 2]}}, "table 't'"),
        ({"name": "other"}, "the name of its experiment folder"),
    ],
)
def test_invalid_metrics_json_is_skipped_naming_the_file(tmp_path, png, overrides, match):
    _save(tmp_path, "leapfrog", png, **overrides)
    _save(tmp_path, "intact", png)
    report = build_report(tmp_path, expected=["leapfrog", "intact"])
    (skipped,) = report.results.skipped
    assert skipped.path == "leapfrog" and skipped.expected
    assert match in skipped.reason
    assert str(tmp_path / "leapfrog" / "quick-seed0" / "metrics.json") in skipped.reason
    assert [r.name for r in report.results.experiments] == ["intact"]  # the rest is reported
    assert "leapfrog" not in report.results.unfinished


def test_corrupt_json_is_skipped(tmp_path, png):
    folder = _save(tmp_path, "leapfrog", png)
    (folder / "metrics.json").write_text('{"name": "leapfrog", ', encoding="utf-8")
    (skipped,) = build_report(tmp_path).results.skipped
    assert "expected valid JSON" in skipped.reason


def test_missing_root_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        build_report(tmp_path / "absent")


def test_flatten_metrics():
    nested = {"loss": {"train": 0.1, "test": {"a": 1}}, "steps": [1, 2], "empty": {}, "x": "y"}
    assert flatten_metrics(nested) == [
        ("loss.train", 0.1),
        ("loss.test.a", 1),
        ("steps.0", 1),
        ("steps.1", 2),
        ("empty", {}),
        ("x", "y"),
    ]
