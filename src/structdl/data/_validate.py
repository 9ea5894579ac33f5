"""Argument validation shared by the data generators (user input → :class:`ConfigError`)."""

from __future__ import annotations

import math

import torch

from .._errors import ConfigError

__all__ = ["check_dtype", "check_fraction", "check_nonnegative", "check_positive"]


def _as_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(
            f"{name} must be a real number — expected a float — got {value!r} of type "
            f"{type(value).__name__} — pass a plain float"
        )
    result = float(value)
    if not math.isfinite(result):
        raise ConfigError(
            f"{name} must be finite — expected a finite float — got {result} — pass a finite value"
        )
    return result


def check_nonnegative(name: str, value: object) -> float:
    """Return ``value`` as a float if it is finite and ``≥ 0``."""
    result = _as_float(name, value)
    if result < 0:
        raise ConfigError(
            f"{name} is negative — expected a value ≥ 0 — got {result} — pass e.g. {name}=0.0"
        )
    return result


def check_positive(name: str, value: object) -> float:
    """Return ``value`` as a float if it is finite and ``> 0``."""
    result = _as_float(name, value)
    if result <= 0:
        raise ConfigError(
            f"{name} must be positive — expected a value > 0 — got {result} — pass e.g. {name}=1.0"
        )
    return result


def check_fraction(name: str, value: object) -> float:
    """Return ``value`` if it lies strictly between 0 and 1."""
    result = _as_float(name, value)
    if not 0.0 < result < 1.0:
        raise ConfigError(
            f"{name} is out of range — expected 0 < {name} < 1 — got {result} — "
            f"pass e.g. {name}=0.25"
        )
    return result


def check_dtype(dtype: object) -> torch.dtype:
    """Return ``dtype`` if it is ``torch.float32`` or ``torch.float64``."""
    if dtype not in (torch.float32, torch.float64):
        raise ConfigError(
            f"unsupported dtype — expected torch.float32 or torch.float64 — got {dtype!r} — "
            "pass dtype=torch.float64 for exact checks or torch.float32 for training"
        )
    return dtype  # type: ignore[return-value]
