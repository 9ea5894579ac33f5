"""Validation of optimiser hyper-parameters, in one place (typed errors, one message template)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._errors import ConfigError, ShapeError, StepSizeError

__all__ = [
    "check_outputs",
    "evaluate_closure",
    "in_unit_interval",
    "non_negative",
    "positive",
    "require_closure",
]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def positive(value: Any, name: str, who: str, *, step: bool = False) -> float:
    """A finite number > 0; a step size raises :class:`StepSizeError`, others ConfigError."""
    number = _number(value)
    if number is None or not math.isfinite(number) or number <= 0:
        error = StepSizeError if step else ConfigError
        raise error(
            f"{who}: `{name}` is invalid — expected a finite number > 0 — received {value!r} — "
            f"pass e.g. {name}=0.1"
        )
    return number


def non_negative(value: Any, name: str, who: str) -> float:
    """A finite number ≥ 0 (a friction, a weight decay)."""
    number = _number(value)
    if number is None or not math.isfinite(number) or number < 0:
        raise ConfigError(
            f"{who}: `{name}` is invalid — expected a finite number ≥ 0 (negative values pump "
            f"energy in instead of dissipating it) — received {value!r} — pass e.g. {name}=0.0"
        )
    return number


def in_unit_interval(value: Any, name: str, who: str, *, closed_low: bool = True) -> float:
    """A number in ``[0, 1)`` (or ``(0, 1)`` with ``closed_low=False``)."""
    number = _number(value)
    low_ok = number is not None and (number >= 0 if closed_low else number > 0)
    if number is None or not low_ok or not number < 1:
        interval = "[0, 1)" if closed_low else "(0, 1)"
        raise ConfigError(
            f"{who}: `{name}` is invalid — expected a number in {interval} — received "
            f"{value!r} — pass e.g. {name}=0.9"
        )
    return number


def evaluate_closure(closure: Callable[[], Tensor] | None) -> Tensor | None:
    """The loss of ``closure()`` with gradients on (a step runs under ``no_grad``), or ``None``.

    What ``torch.optim`` optimisers do with the optional closure of ``step``: re-evaluate the
    loss (and its gradients) before the update.
    """
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def require_closure(closure: Any, who: str) -> None:
    """Methods that evaluate the gradient mid-step need ``step(closure)``."""
    if closure is None:
        raise ConfigError(
            f"{who}: this method evaluates the gradient inside the step — expected "
            f"step(closure) with a closure that zeroes the gradients, computes the loss and "
            f"calls backward() — received no closure — pass one, as for torch.optim.LBFGS"
        )


def check_outputs(outputs: Tensor, targets: Tensor, likelihood: str, who: str) -> None:
    """Raise :class:`ShapeError` unless a closure's ``(outputs, targets)`` fit the likelihood.

    ``"categorical"``: ``(N, C)`` logits with ``(N,)`` labels; ``"gaussian"``: one shape
    ``(N, …)`` for both.
    """
    if likelihood == "categorical":
        if outputs.dim() != 2 or targets.shape != outputs.shape[:1]:
            raise ShapeError(
                f"{who}: categorical outputs must be (N, C) logits with (N,) targets — received "
                f"{tuple(outputs.shape)} and {tuple(targets.shape)} — return (logits, labels) "
                "from the closure"
            )
    elif outputs.shape != targets.shape or outputs.dim() < 1:
        raise ShapeError(
            f"{who}: gaussian outputs and targets must have one shape (N, …) — received "
            f"{tuple(outputs.shape)} and {tuple(targets.shape)} — return (outputs, targets) "
            "of one shape from the closure"
        )
