"""Build the results report (``report.html`` and ``report.md``) from saved experiment results.

The report is made only from what the runner saved under the results folder (each
``<experiment>/metrics.json`` and its PNG figures), so ``structdl report`` can rebuild it at any
time without rerunning anything. ``report.html`` is self-contained (figures embedded as base64
data URIs); ``report.md`` links the figures by relative path. Both are written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .._errors import ConfigError
from ..experiments.io import atomic_write_text
from ._html import render_html
from ._load import CheckRow, ExperimentRecord, Results, flatten_metrics, load_results
from ._markdown import render_markdown

__all__ = [
    "CheckRow",
    "ExperimentRecord",
    "Report",
    "Results",
    "build_report",
    "flatten_metrics",
    "load_results",
    "render_html",
    "render_markdown",
]


@dataclass(frozen=True)
class Report:
    """Where the report was written and what it covers."""

    html: Path
    markdown: Path
    results: Results


def build_report(out_root: Path, expected: Sequence[str] = ()) -> Report:
    """Write ``out_root/report.html`` and ``out_root/report.md`` from the saved results.

    Args:
        out_root: the results folder.
        expected: experiment names in report order (usually the registry); those without a
            ``metrics.json`` are listed as unfinished in the summary.

    Raises:
        ConfigError: the folder is missing or unreadable, or a ``metrics.json`` is corrupt
            (the message names the file).
    """
    results = load_results(Path(out_root), expected)
    html_path = results.root / "report.html"
    markdown_path = results.root / "report.md"
    try:
        atomic_write_text(html_path, render_html(results))
        atomic_write_text(markdown_path, render_markdown(results))
    except OSError as error:
        raise ConfigError(
            f"cannot write the report into {results.root} — expected a writable folder — got "
            f"{error.strerror or error} — fix its permissions or pass another --out"
        ) from error
    return Report(html_path, markdown_path, results)
