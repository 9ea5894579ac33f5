"""The report is safe with any results folder: links, fake images, stray folders, payloads."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from structdl.report import build_report, png_problem

SECRET = b"-----BEGIN PRIVATE KEY----- the secret -----END PRIVATE KEY-----"


@pytest.fixture(scope="module")
def png() -> bytes:
    figure = Figure(figsize=(1, 1))
    figure.add_subplot().plot([0, 1], [1, 0])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=20)
    return buffer.getvalue()


def _save(root: Path, folder: str, png: bytes, **overrides) -> Path:
    run = root / folder / "quick-seed0"
    run.mkdir(parents=True, exist_ok=True)
    (run / "order.png").write_bytes(png)
    payload = {
        "name": folder,
        "question": "Is it safe?",
        "preset": "quick",
        "seed": 0,
        "metrics": {"error": 1e-15},
        "figures": ["order.png"],
        "tables": {},
        "checks": {"c": {"ok": True, "worst": 0.0, "reason": "fine"}},
    }
    payload.update(overrides)
    (run / "metrics.json").write_text(json.dumps(payload), encoding="utf-8")
    return run


def _everything_written(report) -> bytes:
    return report.html.read_bytes() + report.markdown.read_bytes()


def test_a_figure_linked_to_a_secret_is_not_embedded(tmp_path, png):
    secret = tmp_path / "secret.key"
    secret.write_bytes(SECRET)
    out = tmp_path / "R"
    run = _save(out, "symplectic-structure", png)
    (run / "order.png").unlink()
    (run / "order.png").symlink_to(secret)
    report = build_report(out)
    written = _everything_written(report)
    assert base64.b64encode(SECRET) not in written and b"the secret" not in written
    assert b"order.png is not shown: it is a symbolic link" in report.html.read_bytes()


def test_a_linked_png_outside_the_folder_is_not_embedded_either(tmp_path, png):
    outside = tmp_path / "outside.png"
    outside.write_bytes(png)  # a real image, but not in the results folder
    out = tmp_path / "R"
    run = _save(out, "exp", png)
    (run / "order.png").unlink()
    (run / "order.png").symlink_to(outside)
    assert base64.b64encode(png) not in build_report(out).html.read_bytes()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (SECRET, "wrong signature"),
        (b"\x89PNG\r\n\x1a\n" + SECRET, "truncated"),
        ("truncate", "truncated"),
        ("flip", "bad CRC"),
    ],
)
def test_only_real_pngs_are_embedded(tmp_path, png, content, why):
    if content == "truncate":
        content = png[: len(png) // 2]
    elif content == "flip":
        content = bytearray(png)
        content[40] ^= 0xFF
        content = bytes(content)
    run = _save(tmp_path, "exp", png)
    (run / "order.png").write_bytes(content)
    report = build_report(tmp_path)
    (record,) = report.results.experiments
    assert record.figures[0].data is None and why in record.figures[0].problem
    assert base64.b64encode(content) not in report.html.read_bytes()
    assert b"(exp/quick-seed0/order.png)" not in report.markdown.read_bytes()  # no link either


def test_png_problem_accepts_matplotlib_output(png):
    assert png_problem(png) is None


@pytest.mark.parametrize("where", ["experiment folder", "run folder", "metrics.json"])
def test_linked_folders_and_files_are_skipped(tmp_path, png, where):
    elsewhere = _save(tmp_path / "elsewhere", "exp", png)
    out = tmp_path / "R"
    if where == "experiment folder":
        out.mkdir()
        (out / "exp").symlink_to(elsewhere.parent)
    elif where == "run folder":
        (out / "exp").mkdir(parents=True)
        (out / "exp" / "quick-seed0").symlink_to(elsewhere)
    else:
        run = _save(out, "exp", png)
        (run / "metrics.json").unlink()
        (run / "metrics.json").symlink_to(elsewhere / "metrics.json")
    report = build_report(out, expected=["exp"])
    assert report.results.experiments == []
    written = _everything_written(report)
    assert base64.b64encode(png) not in written


def test_a_stray_copy_is_skipped_with_why_and_the_rest_is_built(tmp_path, png):
    _save(tmp_path, "symplectic-structure", png)
    copy = tmp_path / "symplectic-structure.bak" / "quick-seed0"
    copy.mkdir(parents=True)
    for path in (tmp_path / "symplectic-structure" / "quick-seed0").iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    (tmp_path / "notes.txt").write_text("my notes", encoding="utf-8")
    report = build_report(tmp_path, expected=["symplectic-structure"])
    assert [r.name for r in report.results.experiments] == ["symplectic-structure"]
    skipped = {entry.path: entry for entry in report.results.skipped}
    assert set(skipped) == {"symplectic-structure.bak", "notes.txt"}
    assert "not 'symplectic-structure'" not in skipped["symplectic-structure.bak"].reason
    assert "name 'symplectic-structure.bak'" in skipped["symplectic-structure.bak"].reason
    assert not skipped["symplectic-structure.bak"].expected
    html = report.html.read_text(encoding="utf-8")
    assert 'id="skipped"' in html and "symplectic-structure.bak" in html
    assert "## Skipped" in report.markdown.read_text(encoding="utf-8")


PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.mark.parametrize(
    "field", ["question", "notes", "metric", "table", "check", "figure", "preset", "name"]
)
def test_payloads_are_escaped_in_html_and_markdown(tmp_path, png, field):
    overrides = {
        "question": {"question": PAYLOAD},
        "notes": {"notes": PAYLOAD},
        "metric": {"metrics": {PAYLOAD: PAYLOAD}},
        "table": {"tables": {PAYLOAD: [{PAYLOAD: PAYLOAD}]}},
        "check": {"checks": {PAYLOAD: {"ok": False, "worst": 1.0, "reason": PAYLOAD}}},
        "figure": {"figures": [PAYLOAD.replace("/", "")]},
        "preset": {"preset": PAYLOAD, "seed": PAYLOAD},
        "name": {},
    }[field]
    name = "x<script>" if field == "name" else "exp"
    _save(tmp_path, name, png, **{**overrides, "name": name})
    report = build_report(tmp_path)
    assert report.results.experiments, report.results.skipped
    for path in (report.html, report.markdown):
        text = path.read_text(encoding="utf-8")
        assert "<script" not in text and "<img src=x" not in text, path.name


def test_an_old_flat_layout_is_named_and_a_rerun_replaces_it(tmp_path, png):
    run = _save(tmp_path, "exp", png)
    for path in run.iterdir():  # as written by earlier versions: files directly in exp/
        path.rename(tmp_path / "exp" / path.name)
    run.rmdir()
    (skipped,) = build_report(tmp_path, expected=["exp"]).results.skipped
    assert skipped.expected and "lies directly in the experiment folder" in skipped.reason
    _save(tmp_path, "exp", png)  # a rerun writes exp/quick-seed0/: that is what is shown
    report = build_report(tmp_path, expected=["exp"])
    assert report.results.skipped == [] and report.results.experiments[0].run == "quick-seed0"
