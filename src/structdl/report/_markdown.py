"""Render :class:`Results` as Markdown; figures are linked by their path relative to the report.

Markdown renderers pass raw HTML through, so every piece of text from the results folder is
HTML-escaped (``<script>`` becomes ``&lt;script&gt;``), and pipes and newlines are neutralised
inside table cells, just as the HTML writer escapes everything it writes.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

from ._answer import Answer
from ._format import format_value, format_worst, table_columns
from ._load import ExperimentRecord, Results, flatten_metrics

__all__ = ["render_markdown"]

_NONE = Answer("?", "", "", "no answer function is registered for this experiment")
# Characters that Markdown would read as code, emphasis or links (an underscore inside a word,
# as in metric names, is not emphasis and stays readable).
_MARKUP = str.maketrans({c: f"\\{c}" for c in "\\`*[]"})


def _text(value: Any) -> str:
    """Escape text for Markdown: HTML special characters, Markdown markup, line breaks."""
    return escape(str(value), quote=False).translate(_MARKUP).replace("\n", " ")


class _Markdown(str):
    """Text that is already escaped Markdown (a link built here), not to be escaped again."""


def _cell(value: Any) -> str:
    # A pipe would end the table cell.
    text = value if isinstance(value, _Markdown) else _text(value)
    return text.replace("|", "\\|")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(name) for name in header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines.extend("| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows)
    return [*lines, ""]


def _answer_line(answer: Answer) -> str:
    if answer.problem is not None:
        return f"**No answer.** {_text(answer.problem)}."
    return f"**{answer.verdict.capitalize()}.** {_text(answer.text)}"


def _experiment(record: ExperimentRecord, answer: Answer) -> list[str]:
    meta = f"Shown: run {record.run} (preset {record.preset}, seed {record.seed}"
    if record.elapsed_s is not None:
        meta += f", {record.elapsed_s:.1f} s"
    meta += "".join(f", {key} {value}" for key, value in record.versions.items()) + ")."
    if record.other_runs:
        meta += f" Also saved: {', '.join(record.other_runs)}."
    lines = [f"## {_text(record.name)}", "", f"*{_text(record.question)}*", ""]
    lines += [_answer_line(answer), "", _text(meta), ""]
    for figure in record.figures:
        relative = f"{record.folder.parent.name}/{record.folder.name}/{figure.name}"
        if figure.data is not None:
            lines += [f"![{_text(figure.name)}]({quote(relative)})", ""]
        else:
            lines += [f"*figure {_text(figure.name)} is not shown: {_text(figure.problem)}.*", ""]
    if record.notes:
        lines += [_text(record.notes), ""]
    lines += ["<details><summary>Structure checks</summary>", ""]
    if record.checks:
        lines += _table(
            ["check", "outcome", "worst", "reason"],
            [
                [row.name, "pass" if row.ok else "FAIL", format_worst(row.worst), row.reason]
                for row in record.checks
            ],
        )
    else:
        lines += ["No structure checks recorded.", ""]
    lines += ["</details>", "", "<details><summary>All metrics and the tables</summary>", ""]
    metrics = flatten_metrics(record.metrics)
    if metrics:
        lines += _table(["metric", "value"], [[k, format_value(v)] for k, v in metrics])
    else:
        lines += ["No metrics recorded.", ""]
    for title, rows in record.tables.items():
        columns = table_columns(rows)
        cells = [[format_value(row.get(c, "")) for c in columns] for row in rows]
        lines += [f"### {_text(title)}", "", *_table(columns, cells)]
    return [*lines, "</details>", ""]


def render_markdown(results: Results, title: str = "structdl results") -> str:
    """Return the Markdown report (figure links are relative to the results folder)."""
    lines = [f"# {_text(title)}", "", "## Summary", ""]
    lines += [
        (
            f"{len(results.experiments)} experiment(s) finished; structure checks: "
            f"{results.checks_passed} passed, {results.checks_failed} failed."
        ),
        "",
    ]
    if results.experiments:
        rows = []
        for r in results.experiments:
            answer = results.answers.get(r.name, _NONE)
            outcome = ("pass" if all(c.ok for c in r.checks) else "FAIL") if r.checks else "none"
            shown = [f for f in r.figures if f.data is not None]
            link = quote(f"{r.name}/{r.run}/{shown[0].name}") if shown else ""
            figure = f" ([{_text(shown[0].name)}]({link}))" if shown else ""
            rows.append(
                [
                    r.name,
                    "no answer" if answer.problem else answer.verdict,
                    _Markdown(_text(answer.headline) + figure),
                    r.run,
                    f"{sum(c.ok for c in r.checks)}/{len(r.checks)} {outcome}",
                ]
            )
        header = ["experiment", "answer", "headline figure", "run shown", "structure checks"]
        lines += _table(header, rows)
    if results.unfinished:
        lines += [f"Not finished (no finished run): {_text(', '.join(results.unfinished))}.", ""]
    for record in results.experiments:
        lines += _experiment(record, results.answers.get(record.name, _NONE))
    if results.skipped:
        lines += ["## Skipped", ""]
        lines += [f"- {_text(s.path)}: {_text(s.reason)}" for s in results.skipped] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
