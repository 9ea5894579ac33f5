"""Helpers shared by the check modules: result formatting and small validators."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .._errors import ConfigError
from ._validate import State
from .result import CheckResult

__all__ = ["dtype_name", "positive_number", "state_dtype", "verdict"]


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` → ``"float32"``, for the reason strings."""
    return str(dtype).replace("torch.", "")


def verdict(worst: float, limit: float, claim: str, measure: str, bar: str) -> CheckResult:
    """Result ``ok = worst ≤ limit`` whose reason reads "<claim> holds: <measure> = w ≤ <bar>"."""
    ok = bool(worst <= limit)  # False for NaN
    word, cmp = ("holds", "≤") if ok else ("VIOLATED", ">")
    return CheckResult(
        ok=ok, worst=worst, reason=f"{claim} {word}: {measure} = {worst:.3g} {cmp} {bar}"
    )


def positive_number(value: Any, name: str, check: str) -> float:
    """Validate a finite number > 0 (a float, int or one-element tensor)."""
    if isinstance(value, Tensor) and value.numel() == 1:
        value = float(value.detach())
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 0)
    ):
        raise ConfigError(
            f"{check}: `{name}` is invalid — expected a finite number > 0 — received "
            f"{value!r} — pass e.g. {name}=1.0"
        )
    return float(value)


def state_dtype(y: State) -> torch.dtype:
    """The dtype of a tensor state or of the first part of a partitioned state."""
    return (y[0] if isinstance(y, tuple) else y).dtype
