"""Registry of named structure checks that ``structdl check`` runs.

Each subpackage registers checks of its default objects in a private module imported by its
``__init__`` (``dynamics/_selfchecks.py``, ``structure/_checker_selftests.py``, …)::

    @register_check("dynamics.stormer_verlet_symplectic")
    def _verlet_is_symplectic() -> CheckResult:
        return check_symplectic(step, z)

A registered function takes no arguments and returns a
:class:`~structdl.structure.result.CheckResult`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .._errors import ConfigError
from .result import CheckResult

__all__ = ["CheckFn", "all_checks", "register_check"]

CheckFn = Callable[[], CheckResult]
_F = TypeVar("_F", bound=CheckFn)

_REGISTRY: dict[str, CheckFn] = {}


def _identity(fn: CheckFn) -> tuple[str, str]:
    return getattr(fn, "__module__", "?"), getattr(fn, "__qualname__", repr(fn))


def register_check(name: str) -> Callable[[_F], _F]:
    """Decorator registering ``fn() -> CheckResult`` under a unique ``name``.

    Args:
        name: a non-empty, unique name, by convention ``"<subpackage>.<what>"``.

    Raises:
        ConfigError: an empty or non-string name, a name already registered to another
            function, or a decorated object that is not callable.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            f"register_check: invalid check name — expected a non-empty string such as "
            f"'dynamics.verlet_symplectic' — received {name!r} — give the check a name"
        )

    def decorate(fn: _F) -> _F:
        if not callable(fn):
            raise ConfigError(
                f"register_check({name!r}): the decorated object is not callable — expected a "
                f"function returning a CheckResult — received {type(fn).__name__} — decorate a "
                f"function"
            )
        existing = _REGISTRY.get(name)
        # Re-registering the same function (a module reloaded) is harmless.
        if existing is not None and _identity(existing) != _identity(fn):
            raise ConfigError(
                f"register_check: the name {name!r} is already taken — expected a unique name — "
                f"received a second function {getattr(fn, '__qualname__', fn)!r} — rename one "
                f"of the checks"
            )
        _REGISTRY[name] = fn
        return fn

    return decorate


def all_checks() -> dict[str, CheckFn]:
    """Return a copy of the registry, sorted by name (name → ``fn() -> CheckResult``)."""
    return {name: _REGISTRY[name] for name in sorted(_REGISTRY)}
