"""The report in a real browser: headless Chromium loads it with no console errors, every
image decodes, every in-page link has its target. Skipped (one line) without Chromium."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from _browser import PAGE_AUDIT, Browser, find_chromium
from matplotlib.figure import Figure

from structdl.experiments._answers import BUILT_IN_ANSWERS
from structdl.report import build_report

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"
)
METRICS = json.loads((Path(__file__).parent / "data" / "quick_metrics.json").read_text("utf-8"))


def _png(label: str) -> bytes:
    figure = Figure(figsize=(3, 2))
    figure.add_subplot().plot([0, 1, 2], [2, 0, 1], label=label)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=40)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    for name, metrics in METRICS.items():
        run = root / name / "quick-seed0"
        run.mkdir(parents=True)
        (run / "main.png").write_bytes(_png(name))
        (run / "fake.png").write_bytes(b"<html>not an image</html>")
        payload = {
            "name": name,
            "question": f"What does {name} show? <b>not bold</b>",
            "preset": "quick",
            "seed": 0,
            "metrics": metrics,
            "figures": ["main.png", "fake.png"],
            "tables": {"rows": [{"a": 1, "b": "<script>alert(1)</script>"}]},
            "checks": {"c": {"ok": name != "rotated-digits", "worst": 0.5, "reason": "r"}},
            "notes": "notes <script>alert(2)</script>",
        }
        (run / "metrics.json").write_text(json.dumps(payload), encoding="utf-8")
    (root / "symplectic-structure.bak").mkdir()
    return build_report(root, expected=list(METRICS), answers=BUILT_IN_ANSWERS)


@pytest.fixture(scope="module")
def audit(report):
    browser = Browser(CHROMIUM)
    try:
        browser.open(report.html)
        found = json.loads(browser.evaluate(PAGE_AUDIT))
        found["errors"] = browser.errors
        found["sections"] = browser.evaluate(
            "Array.from(document.querySelectorAll('section')).map(s =>"
            " Array.from(s.children).map(c => c.tagName + '.' + c.className))"
        )
    finally:
        browser.close()
    return found


def test_no_console_errors(audit):
    assert audit["errors"] == []


def test_every_image_decodes(audit):
    # One figure per section and its thumbnail in the summary; the fake PNGs are not embedded.
    assert len(audit["images"]) == 2 * len(METRICS)
    assert all(image["complete"] and image["width"] > 0 for image in audit["images"])


def test_every_internal_link_resolves_and_nothing_is_external(audit):
    assert audit["links"] >= len(METRICS) + 1  # summary rows and the "Skipped" link
    assert audit["brokenLinks"] == []
    assert audit["otherLinks"] == []  # self-contained: nothing loaded from elsewhere


def test_each_section_opens_with_the_answer_then_figures_then_folded_tables(audit):
    assert len(audit["sections"]) == len(METRICS)
    for children in audit["sections"]:
        tags = [child.split(".")[0] for child in children]
        assert children[:3] == ["H2.", "P.question", "P.answer"]
        assert tags.index("FIGURE") < tags.index("DETAILS")
        assert tags[-1] == "DETAILS"
