"""Render :class:`Results` as one self-contained HTML page (figures embedded as data URIs).

Each experiment's section opens with the answer to its question (derived from its metrics),
then its figures, then — folded in ``<details>`` — every metric, table and structure check.
Every piece of text from the results folder is escaped: the folder may come from anywhere.
"""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from ._answer import Answer
from ._format import format_value, format_worst, table_columns
from ._load import ExperimentRecord, Results, flatten_metrics

__all__ = ["render_html"]

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto; padding: 0 1rem;
       color: #1b1b1b; line-height: 1.45; }
h1, h2, h3 { line-height: 1.2; }
section { border-top: 1px solid #ccc; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #116611; font-weight: 600; }
.fail { color: #b00020; font-weight: 600; }
.verdict { font-weight: 700; padding: 0.05rem 0.4rem; border-radius: 0.25rem; }
.verdict-yes { background: #d8f0d8; color: #0b4d0b; }
.verdict-no { background: #f6d5d9; color: #7a0014; }
.verdict-partly { background: #fbeccb; color: #5c4100; }
.verdict-unknown { background: #e6e6e6; color: #333; }
.answer { font-size: 1.02rem; }
.question { font-style: italic; }
.meta, .missing { color: #555; font-size: 0.85rem; }
details { margin: 0.5rem 0 1rem; }
summary { cursor: pointer; font-weight: 600; }
figure { margin: 1rem 0; }
img { max-width: 100%; }
img.thumb { max-height: 4rem; max-width: 12rem; display: block; margin-top: 0.2rem; }
"""


def _cell(value: Any) -> str:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    css = ' class="num"' if numeric else ""
    return f"<td{css}>{escape(format_value(value))}</td>"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _outcome(ok: bool) -> str:  # noqa: FBT001
    return '<span class="pass">pass</span>' if ok else '<span class="fail">FAIL</span>'


def _verdict(answer: Answer) -> str:
    kind = answer.verdict if answer.problem is None else "unknown"
    label = answer.verdict.capitalize() if answer.problem is None else "No answer"
    return f'<span class="verdict verdict-{escape(kind)}">{escape(label)}</span>'


def _anchor(record: ExperimentRecord) -> str:
    return f"exp-{record.name}"


def _figure(record: ExperimentRecord, index: int) -> str:
    figure = record.figures[index]
    if figure.data is None:
        problem = escape(figure.problem or "")
        return f'<p class="missing">figure {escape(figure.name)} is not shown: {problem}.</p>'
    data = base64.b64encode(figure.data).decode("ascii")
    anchor = escape(f"{_anchor(record)}-fig-{index}")
    return (
        f'<figure id="{anchor}"><img alt="{escape(figure.name)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{escape(figure.name)}</figcaption>'
        "</figure>"
    )


def _checks(record: ExperimentRecord) -> str:
    if not record.checks:
        return "<p>No structure checks recorded.</p>"
    rows = "".join(
        f"<tr><td>{escape(row.name)}</td><td>{_outcome(row.ok)}</td>"
        f'<td class="num">{escape(format_worst(row.worst))}</td><td>{escape(row.reason)}</td></tr>'
        for row in record.checks
    )
    head = "<tr><th>check</th><th>outcome</th><th>worst</th><th>reason</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>"


def _meta(record: ExperimentRecord) -> str:
    text = f"Shown: run {escape(record.run)} (preset {escape(record.preset)}, seed "
    text += escape(str(record.seed))
    if record.elapsed_s is not None:
        text += f", {record.elapsed_s:.1f} s"
    text += "".join(f", {escape(str(k))} {escape(str(v))}" for k, v in record.versions.items())
    text += ")."
    if record.other_runs:
        text += f" Also saved: {escape(', '.join(record.other_runs))}."
    return f'<p class="meta">{text}</p>'


def _answer_paragraph(answer: Answer) -> str:
    if answer.problem is not None:
        return f'<p class="answer">{_verdict(answer)} {escape(answer.problem)}.</p>'
    return f'<p class="answer">{_verdict(answer)} {escape(answer.text)}</p>'


def _experiment(record: ExperimentRecord, answer: Answer) -> str:
    passed = sum(row.ok for row in record.checks)
    failed = len(record.checks) - passed
    parts = [
        f'<section id="{escape(_anchor(record))}"><h2>{escape(record.name)}</h2>',
        f'<p class="question">{escape(record.question)}</p>',
        _answer_paragraph(answer),
        _meta(record),
    ]
    parts.extend(_figure(record, index) for index in range(len(record.figures)))
    if record.notes:
        parts.append(f"<p>{escape(record.notes)}</p>")
    summary = f"Structure checks: {passed} passed, {failed} failed"
    open_attr = " open" if failed else ""  # a failing check is never hidden
    parts.append(f"<details{open_attr}><summary>{escape(summary)}</summary>{_checks(record)}")
    parts.append("</details>")
    metrics = flatten_metrics(record.metrics)
    parts.append(f"<details><summary>All {len(metrics)} metrics and the tables</summary>")
    parts.append(
        _table(["metric", "value"], [list(row) for row in metrics])
        if metrics
        else "<p>No metrics recorded.</p>"
    )
    for title, rows in record.tables.items():
        columns = table_columns(rows)
        parts.append(f"<h3>{escape(title)}</h3>")
        parts.append(_table(columns, [[row.get(c, "") for c in columns] for row in rows]))
    parts.append("</details></section>")
    return "\n".join(parts)


def _thumbnail(record: ExperimentRecord) -> str:
    # The experiment's first figure, small, linking to it in the experiment's section.
    for index, figure in enumerate(record.figures):
        if figure.data is not None:
            data = base64.b64encode(figure.data).decode("ascii")
            anchor = escape(f"{_anchor(record)}-fig-{index}")
            return (
                f'<a href="#{anchor}"><img class="thumb" alt="{escape(figure.name)}" '
                f'src="data:image/png;base64,{data}"></a>'
            )
    return ""


def _summary_row(record: ExperimentRecord, answer: Answer) -> str:
    passed = sum(c.ok for c in record.checks)
    outcome = _outcome(all(c.ok for c in record.checks)) if record.checks else "no checks"
    headline = escape(answer.headline) if answer.problem is None else ""
    cells = [
        f'<a href="#{escape(_anchor(record))}">{escape(record.name)}</a>',
        _verdict(answer),
        headline + _thumbnail(record),
        escape(record.run),
        f"{passed}/{len(record.checks)} {outcome}",
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _skipped(results: Results) -> str:
    if not results.skipped:
        return ""
    items = "".join(
        f"<li><code>{escape(entry.path)}</code>: {escape(entry.reason)}</li>"
        for entry in results.skipped
    )
    return f'<h2 id="skipped">Skipped</h2><p>Not in this report:</p><ul>{items}</ul>'


def _summary(results: Results) -> str:
    answers = results.answers
    rows = "".join(_summary_row(r, answers.get(r.name, _NONE)) for r in results.experiments)
    head = (
        "<tr><th>experiment</th><th>answer</th><th>headline figure</th><th>run shown</th>"
        "<th>structure checks</th></tr>"
    )
    lines = [
        "<h2>Summary</h2>",
        (
            f"<p>{len(results.experiments)} experiment(s) finished; structure checks: "
            f'<span class="pass">{results.checks_passed} passed</span>, '
            f'<span class="{"fail" if results.checks_failed else "pass"}">'
            f"{results.checks_failed} failed</span>.</p>"
        ),
    ]
    if rows:
        lines.append(f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>")
    if results.unfinished:
        names = ", ".join(escape(name) for name in results.unfinished)
        lines.append(f'<p class="missing">Not finished (no finished run): {names}.</p>')
    if results.skipped:
        lines.append(
            f'<p class="missing">{len(results.skipped)} entr'
            f"{'y' if len(results.skipped) == 1 else 'ies'} of the results folder skipped: "
            'see <a href="#skipped">Skipped</a>.</p>'
        )
    return "\n".join(lines)


_NONE = Answer("?", "", "", "no answer function is registered for this experiment")


def render_html(results: Results, title: str = "structdl results") -> str:
    """Return the complete HTML report; PNG figures are embedded, so the file stands alone."""
    sections = "\n".join(
        _experiment(record, results.answers.get(record.name, _NONE))
        for record in results.experiments
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>{escape(title)}</h1>\n{_summary(results)}\n{sections}\n{_skipped(results)}\n"
        "</body></html>\n"
    )
