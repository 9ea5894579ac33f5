"""Validation helpers shared by the experiments' ``Config.validate`` methods."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from .._errors import ConfigError
from ..structure._validate import require_int

__all__ = ["require_ints", "require_known", "start_run"]


def require_ints(bounds: Iterable[tuple[str, object, int]]) -> None:
    """Raise :class:`ConfigError` unless each ``(name, value, least)`` has int ``value ≥ least``."""
    for name, value, least in bounds:
        require_int(value, name, minimum=least)


def require_known(kind: str, chosen: Iterable[str], known: Iterable[str]) -> None:
    """Raise :class:`ConfigError` for a name in ``chosen`` that is not in ``known``."""
    known = tuple(known)
    chosen = tuple(chosen)
    for name in chosen:
        if name not in known:
            raise ConfigError(
                f"unknown {kind} {name!r} — expected some of {known} — got {chosen} — remove it"
            )


def start_run(config: object) -> torch.Generator:
    """Validate ``config``, pin one thread and seed torch; return a generator seeded alike.

    One thread keeps an experiment's numbers reproducible and leaves the other core free.
    """
    config.validate()  # type: ignore[attr-defined]
    torch.set_num_threads(1)
    torch.manual_seed(config.seed)  # type: ignore[attr-defined]
    return torch.Generator().manual_seed(config.seed)  # type: ignore[attr-defined]
