"""Build the results report (``report.html`` and ``report.md``) from saved experiment results.

The report is made only from what the runner saved under the results folder (for each
experiment, the run named by its ``current`` file: ``metrics.json`` and PNG figures), so
``structdl report`` can rebuild it at any time without rerunning anything. Each section opens
with the answer to the experiment's question, derived from its metrics by the experiment's
answer function. ``report.html`` is self-contained (figures embedded as base64 data URIs);
``report.md`` links the figures by relative path. Both are written atomically.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ..experiments.io import atomic_write_text
from ._answer import VERDICTS, Answer, derive_answer
from ._html import render_html
from ._load import (
    CheckRow,
    ExperimentRecord,
    Figure,
    Results,
    Skipped,
    flatten_metrics,
    load_results,
)
from ._markdown import render_markdown
from ._png import png_problem

__all__ = [
    "VERDICTS",
    "Answer",
    "CheckRow",
    "ExperimentRecord",
    "Figure",
    "Report",
    "Results",
    "Skipped",
    "build_report",
    "derive_answer",
    "flatten_metrics",
    "load_results",
    "png_problem",
    "render_html",
    "render_markdown",
]


@dataclass(frozen=True)
class Report:
    """Where the report was written and what it covers."""

    html: Path
    markdown: Path
    results: Results


def build_report(
    out_root: Path,
    expected: Sequence[str] = (),
    answers: Mapping[str, Callable[[dict[str, Any]], Any] | None] | None = None,
) -> Report:
    """Write ``out_root/report.html`` and ``out_root/report.md`` from the saved results.

    Args:
        out_root: the results folder.
        expected: experiment names in report order (usually the registry); those without a
            finished run are listed as unfinished in the summary.
        answers: experiment name -> ``answer(metrics)`` function (see :func:`derive_answer`);
            experiments without one say so in place of an answer.

    Returns:
        A :class:`Report`; ``report.results.skipped`` lists the entries of the folder that
        could not be read (stray folders, corrupt or oversized files, links) and why.

    Raises:
        ConfigError: the folder is missing, unreadable or not writable.
    """
    results = load_results(Path(out_root), expected)
    answers = answers or {}
    derived = {r.name: derive_answer(answers.get(r.name), r.metrics) for r in results.experiments}
    results = dataclasses.replace(results, answers=derived)
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
