"""Structure declared as data: a property and the condition under which it holds.

Every object that claims structure — a bijection, a manifold constraint, an optimiser, a
learned Hamiltonian map — lists it as :class:`Claim` s in a ``claims`` attribute (a class
attribute, or a property when the claim depends on the object's hyper-parameters)::

    class IResNetBlock(Bijection):
        claims = (
            Claim(Invertible(), when=AttributeBelow("lipschitz", 1.0),
                  reason="Banach fixed point: x = y − g(x) contracts when Lip(g) < 1"),
        )

:func:`derive` evaluates the conditions on the object and returns the properties that hold;
:func:`structdl.structure.guarantees` calls it for any object given alone. Conditions are
frozen dataclasses, so a claim prints, compares and documents itself; they read the object's
attributes and never import the package that defines it (``structure`` is the bottom floor).
"""

from __future__ import annotations

import inspect
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import ConfigError
from .properties import Property

__all__ = [
    "ALWAYS",
    "AllOf",
    "Always",
    "AttributeAtMost",
    "AttributeBelow",
    "AttributeEquals",
    "Claim",
    "Condition",
    "EveryPart",
    "Explanation",
    "claims_of",
    "declares_claims",
    "derive",
    "explain",
]

Context = Mapping[str, Any]


@dataclass(frozen=True)
class Condition:
    """When a claimed property holds: ``holds(obj, context)`` reads only declared data."""

    def holds(self, obj: Any, context: Context) -> bool:  # pragma: no cover - abstract
        """Whether the condition holds for ``obj`` in ``context``."""
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        """The condition in words, for reports and error messages."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class Always(Condition):
    """The property holds by construction, for every parameter value."""

    def holds(self, obj: Any, context: Context) -> bool:
        return True

    def describe(self) -> str:
        return "always (by construction)"


#: The unconditional condition.
ALWAYS = Always()


def _attribute(obj: Any, name: str) -> Any:
    value = obj
    for part in name.split("."):
        if not hasattr(value, part):
            raise ConfigError(
                f"claim condition reads `{name}` of {type(obj).__name__} — expected the object "
                f"to expose it — received an object without `{part}` — declare the attribute or "
                f"fix the claim"
            )
        value = getattr(value, part)
    # A bound method (``lipschitz_bound``) is called; modules and other callables are data.
    return value() if inspect.ismethod(value) else value


def _as_float(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ConfigError(
            f"claim condition compares `{name}` — expected a number — received "
            f"{type(value).__name__} — declare a float-valued attribute"
        ) from exc
    return number


@dataclass(frozen=True)
class _Compare(Condition):
    """``attribute <op> bound`` on a (possibly dotted, possibly callable) attribute."""

    attribute: str
    bound: float

    _op = staticmethod(operator.lt)
    _symbol = "<"

    def holds(self, obj: Any, context: Context) -> bool:
        value = _as_float(_attribute(obj, self.attribute), self.attribute)
        # A NaN or infinite measured value never satisfies a bound.
        return math.isfinite(value) and bool(self._op(value, self.bound))

    def describe(self) -> str:
        return f"{self.attribute} {self._symbol} {self.bound:g}"


@dataclass(frozen=True)
class AttributeBelow(_Compare):
    """``obj.<attribute> < bound`` (strict): e.g. an i-ResNet's Lipschitz constant below 1."""

    _op = staticmethod(operator.lt)
    _symbol = "<"


@dataclass(frozen=True)
class AttributeAtMost(_Compare):
    """``obj.<attribute> ≤ bound``: e.g. a step size at most a stability limit."""

    _op = staticmethod(operator.le)
    _symbol = "≤"


@dataclass(frozen=True)
class AttributeEquals(Condition):
    """``obj.<attribute> == value``: e.g. a relaxation knob that is exactly zero."""

    attribute: str
    value: Any

    def holds(self, obj: Any, context: Context) -> bool:
        return bool(_attribute(obj, self.attribute) == self.value)

    def describe(self) -> str:
        return f"{self.attribute} == {self.value!r}"


@dataclass(frozen=True)
class AllOf(Condition):
    """Every one of ``conditions`` holds."""

    conditions: tuple[Condition, ...]

    def holds(self, obj: Any, context: Context) -> bool:
        return all(c.holds(obj, context) for c in self.conditions)

    def describe(self) -> str:
        return " and ".join(f"({c.describe()})" for c in self.conditions) or "always"


@dataclass(frozen=True)
class EveryPart(Condition):
    """Every part in ``obj.<attribute>`` (an iterable of objects) guarantees ``property``.

    The composition rule: a chain of volume-preserving (or invertible, or symplectic) maps has
    the property when each link has it. The parts' guarantees are derived, not assumed.
    """

    attribute: str
    property: Property

    def holds(self, obj: Any, context: Context) -> bool:
        parts = list(_attribute(obj, self.attribute))
        return bool(parts) and all(self.property in derive(part, context) for part in parts)

    def describe(self) -> str:
        return f"every part in {self.attribute} guarantees {self.property}"


@dataclass(frozen=True)
class Claim:
    """A property and the condition under which it holds.

    Attributes:
        property: the property tag (from :mod:`structdl.structure.properties`).
        when: the condition (default: always, by construction).
        reason: the theorem or construction that makes it true, in a few words.
    """

    property: Property
    when: Condition = ALWAYS
    reason: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.property, Property):
            raise ConfigError(
                f"Claim: property must be a structure property tag — expected e.g. Invertible() "
                f"— received {type(self.property).__name__} — use structdl.structure.properties"
            )
        if not isinstance(self.when, Condition):
            raise ConfigError(
                f"Claim: when must be a Condition — expected e.g. ALWAYS or "
                f"AttributeBelow('lipschitz', 1.0) — received {type(self.when).__name__}"
            )


def declares_claims(obj: Any) -> bool:
    """Whether ``obj`` declares its structure through ``claims``."""
    return getattr(obj, "claims", None) is not None and not isinstance(obj, type)


def claims_of(obj: Any) -> tuple[Claim, ...]:
    """The claims ``obj`` declares (``obj.claims``), validated."""
    declared = getattr(obj, "claims", None)
    if declared is None:
        raise ConfigError(
            f"{type(obj).__name__} declares no structure — expected a `claims` attribute (a "
            f"tuple of structure.Claim) — received none — declare claims = (Claim(...), ...)"
        )
    items = tuple(declared)
    bad = [c for c in items if not isinstance(c, Claim)]
    if bad:
        raise ConfigError(
            f"{type(obj).__name__}.claims holds {type(bad[0]).__name__} — expected "
            f"structure.Claim entries — received {bad[0]!r} — wrap the tag: Claim(tag)"
        )
    return items


def derive(obj: Any, context: Context | None = None) -> frozenset[Property]:
    """The properties whose declared condition holds for ``obj``.

    Args:
        obj: an object with a ``claims`` attribute.
        context: extra facts a condition may read (e.g. a step size); default none.
    """
    ctx: Context = {} if context is None else context
    return frozenset(c.property for c in claims_of(obj) if c.when.holds(obj, ctx))


@dataclass(frozen=True)
class Explanation:
    """One claim of an object and whether it holds now."""

    claim: Claim
    holds: bool

    def __str__(self) -> str:
        verdict = "holds" if self.holds else "does NOT hold"
        why = f" — {self.claim.reason}" if self.claim.reason else ""
        return f"{self.claim.property}: {verdict} ({self.claim.when}){why}"


def explain(obj: Any, context: Context | None = None) -> list[Explanation]:
    """Every claim of ``obj`` with its condition and whether it holds (for reports)."""
    ctx: Context = {} if context is None else context
    return [Explanation(c, c.when.holds(obj, ctx)) for c in claims_of(obj)]
