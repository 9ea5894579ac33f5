"""Validation helpers shared by the experiments' ``Config.validate`` methods."""

from __future__ import annotations

from collections.abc import Iterable

from .._errors import ConfigError

__all__ = ["require_ints", "require_known"]


def require_ints(bounds: Iterable[tuple[str, object, int]]) -> None:
    """Raise :class:`ConfigError` unless each ``(name, value, least)`` has int ``value ≥ least``."""
    for what, value, least in bounds:
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(
                f"{what} must be an integer ≥ {least} — got {value!r} — pass e.g. {least}"
            )


def require_known(kind: str, chosen: Iterable[str], known: Iterable[str]) -> None:
    """Raise :class:`ConfigError` for a name in ``chosen`` that is not in ``known``."""
    known = tuple(known)
    chosen = tuple(chosen)
    for name in chosen:
        if name not in known:
            raise ConfigError(
                f"unknown {kind} {name!r} — expected some of {known} — got {chosen} — remove it"
            )
