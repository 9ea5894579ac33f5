"""The answer that opens each section of the report, derived from the saved metrics.

An experiment may register ``answer(metrics) -> (verdict, text)`` or ``(verdict, text,
headline)``: ``verdict`` is ``"yes"``, ``"no"`` or ``"partly"``; ``text`` is one paragraph with
the two or three numbers that decide it; ``headline`` a short figure for the summary table.
The function reads the numbers from ``metrics``, so the answer always matches the run shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["VERDICTS", "Answer", "derive_answer"]

VERDICTS = ("yes", "no", "partly")


@dataclass(frozen=True)
class Answer:
    """A derived answer, or (``problem`` set) why none could be derived."""

    verdict: str
    text: str
    headline: str = ""
    problem: str | None = None


def _unanswered(problem: str) -> Answer:
    return Answer("?", "", "", problem)


def derive_answer(function: Callable[[dict[str, Any]], Any] | None, metrics: dict) -> Answer:
    """Call an experiment's answer function on ``metrics``; never raises.

    Example:
        >>> derive_answer(lambda m: ("yes", f"error {m['error']:.1e} ≤ 1e-12"), {"error": 3e-15})
        Answer(verdict='yes', text='error 3.0e-15 ≤ 1e-12', headline='', problem=None)
        >>> derive_answer(lambda m: ("yes", str(m["absent"])), {}).problem
        "no answer: the metric 'absent' is not in this run's metrics"
    """
    if function is None:
        return _unanswered("no answer function is registered for this experiment")
    try:
        given = function(metrics)
    except KeyError as error:
        return _unanswered(f"no answer: the metric {error} is not in this run's metrics")
    except Exception as error:  # a bad answer must not cost the report
        return _unanswered(f"no answer: the answer function raised {type(error).__name__}")
    if (
        not isinstance(given, tuple)
        or len(given) not in (2, 3)
        or not all(isinstance(part, str) for part in given)
    ):
        return _unanswered("no answer: the answer function did not return (verdict, text)")
    verdict, text, *headline = given
    if verdict not in VERDICTS:
        return _unanswered(f"no answer: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    return Answer(verdict, text, headline[0] if headline else "")
