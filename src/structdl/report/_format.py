"""Value formatting shared by the HTML and Markdown writers."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["format_value", "format_worst", "table_columns"]


def format_value(value: Any) -> str:
    """Format a metric or table cell: floats to 4 significant digits, others as text."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def format_worst(value: float) -> str:
    """Format the worst value of a check: scientific notation, as defects span decades."""
    return f"{value:.3e}" if math.isfinite(value) else str(value)


def table_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Column names of a table, in first-seen order over all rows (rows may differ)."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(str(key) for key in row))
    return list(columns)
