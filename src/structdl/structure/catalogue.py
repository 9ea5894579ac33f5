"""Former name of :mod:`structdl.structure.check_registry` (the registry of named checks).

Kept so that subpackages written against it keep importing; new code imports
``structdl.structure.check_registry`` (or ``register_check`` from ``structdl.structure``).
"""

from __future__ import annotations

from .check_registry import CheckFn, all_checks, register_check

__all__ = ["CheckFn", "all_checks", "register_check"]
