"""Render :class:`Results` as Markdown; figures are linked by their path relative to the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from ._format import format_value, format_worst, table_columns
from ._load import ExperimentRecord, Results, flatten_metrics

__all__ = ["render_markdown"]


def _text(value: Any) -> str:
    # A pipe would end the table cell and a newline the row.
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_text(name) for name in header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines.extend("| " + " | ".join(_text(cell) for cell in row) + " |" for row in rows)
    return [*lines, ""]


def _experiment(record: ExperimentRecord, root: Path) -> list[str]:
    meta = f"preset {record.preset}, seed {record.seed}"
    if record.elapsed_s is not None:
        meta += f", {record.elapsed_s:.1f} s"
    meta += "".join(f", {key} {value}" for key, value in record.versions.items())
    lines = [f"## {record.name}", "", f"*{_text(record.question)}*", "", meta, ""]
    if record.notes:
        lines += [record.notes, ""]
    for name in record.figures:
        relative = (record.folder / name).relative_to(root).as_posix()
        if (record.folder / name).is_file():
            lines += [f"![{_text(name)}]({quote(relative)})", ""]
        else:
            lines += [f"*figure {name} is missing from {relative}*", ""]
    lines += ["### Metrics", ""]
    metrics = flatten_metrics(record.metrics)
    if metrics:
        lines += _table(["metric", "value"], [[k, format_value(v)] for k, v in metrics])
    else:
        lines += ["No metrics recorded.", ""]
    for title, rows in record.tables.items():
        columns = table_columns(rows)
        cells = [[format_value(row.get(c, "")) for c in columns] for row in rows]
        lines += [f"### {_text(title)}", "", *_table(columns, cells)]
    lines += ["### Structure checks", ""]
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
    return lines


def render_markdown(results: Results, title: str = "structdl results") -> str:
    """Return the Markdown report (figure links are relative to the results folder)."""
    lines = [f"# {title}", "", "## Summary", ""]
    lines += [
        (
            f"{len(results.experiments)} experiment(s) finished; structure checks: "
            f"{results.checks_passed} passed, {results.checks_failed} failed."
        ),
        "",
    ]
    if results.experiments:
        rows = [
            [
                r.name,
                r.preset,
                f"{sum(c.ok for c in r.checks)}/{len(r.checks)}",
                ("pass" if all(c.ok for c in r.checks) else "FAIL") if r.checks else "no checks",
            ]
            for r in results.experiments
        ]
        lines += _table(["experiment", "preset", "checks passed", "outcome"], rows)
    if results.unfinished:
        lines += [f"Not finished (no metrics.json): {', '.join(results.unfinished)}.", ""]
    for record in results.experiments:
        lines += _experiment(record, results.root)
    return "\n".join(lines).rstrip("\n") + "\n"
