"""Render :class:`Results` as one self-contained HTML page (figures embedded as data URIs)."""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from ._format import format_value, format_worst, table_columns
from ._load import ExperimentRecord, Results, flatten_metrics

__all__ = ["render_html"]

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #1b1b1b; line-height: 1.45; }
h1, h2, h3 { line-height: 1.2; }
section { border-top: 1px solid #ccc; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #116611; font-weight: 600; }
.fail { color: #b00020; font-weight: 600; }
.question { font-style: italic; }
.meta, .missing { color: #555; font-size: 0.85rem; }
figure { margin: 1rem 0; }
img { max-width: 100%; }
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


def _figure(record: ExperimentRecord, name: str) -> str:
    path = record.folder / name
    try:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError:
        return f'<p class="missing">figure {escape(name)} is missing from {escape(str(path))}</p>'
    return (
        f'<figure><img alt="{escape(name)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(name)}</figcaption></figure>"
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


def _experiment(record: ExperimentRecord) -> str:
    parts = [
        f'<section id="{escape(record.name)}"><h2>{escape(record.name)}</h2>',
        f'<p class="question">{escape(record.question)}</p>',
        f'<p class="meta">preset {escape(record.preset)}, seed {escape(str(record.seed))}'
        + (f", {record.elapsed_s:.1f} s" if record.elapsed_s is not None else "")
        + "".join(f", {escape(k)} {escape(str(v))}" for k, v in record.versions.items())
        + "</p>",
    ]
    if record.notes:
        parts.append(f"<p>{escape(record.notes)}</p>")
    parts.extend(_figure(record, name) for name in record.figures)
    parts.append("<h3>Metrics</h3>")
    metrics = flatten_metrics(record.metrics)
    parts.append(
        _table(["metric", "value"], [list(row) for row in metrics])
        if metrics
        else "<p>No metrics recorded.</p>"
    )
    for title, rows in record.tables.items():
        columns = table_columns(rows)
        parts.append(f"<h3>{escape(title)}</h3>")
        parts.append(_table(columns, [[row.get(c, "") for c in columns] for row in rows]))
    parts.append("<h3>Structure checks</h3>")
    parts.append(_checks(record))
    parts.append("</section>")
    return "\n".join(parts)


def _summary(results: Results) -> str:
    rows = [
        [
            f'<a href="#{escape(r.name)}">{escape(r.name)}</a>',
            escape(r.preset),
            escape(f"{sum(c.ok for c in r.checks)}/{len(r.checks)}"),
            _outcome(all(c.ok for c in r.checks)) if r.checks else "no checks",
        ]
        for r in results.experiments
    ]
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    head = "<tr><th>experiment</th><th>preset</th><th>checks passed</th><th>outcome</th></tr>"
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
        lines.append(f"<table><thead>{head}</thead><tbody>{body}</tbody></table>")
    if results.unfinished:
        names = ", ".join(escape(name) for name in results.unfinished)
        lines.append(f'<p class="missing">Not finished (no metrics.json): {names}.</p>')
    return "\n".join(lines)


def render_html(results: Results, title: str = "structdl results") -> str:
    """Return the complete HTML report; PNG figures are embedded, so the file stands alone."""
    sections = "\n".join(_experiment(record) for record in results.experiments)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>{escape(title)}</h1>\n{_summary(results)}\n{sections}\n</body></html>\n"
    )
