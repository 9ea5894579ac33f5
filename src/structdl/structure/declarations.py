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

import dataclasses
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
    "AnyOf",
    "CircleContractiveStep",
    "EveryPartFlow",
    "FieldAtMost",
    "FromContext",
    "HasKinds",
    "OfAttribute",
    "OfField",
    "StepPositive",
    "AttributeAtMost",
    "AttributeBelow",
    "AttributeEquals",
    "Claim",
    "Condition",
    "EveryPart",
    "Explanation",
    "accepts",
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
class AnyOf(Condition):
    """At least one of ``conditions`` holds."""

    conditions: tuple[Condition, ...]

    def holds(self, obj: Any, context: Context) -> bool:
        return any(c.holds(obj, context) for c in self.conditions)

    def describe(self) -> str:
        return " or ".join(f"({c.describe()})" for c in self.conditions) or "never"


@dataclass(frozen=True)
class HasKinds(Condition):
    """``obj.kinds ⊇ kinds``: the object declares every one of these structural kinds."""

    kinds: frozenset[str]

    def holds(self, obj: Any, context: Context) -> bool:
        return frozenset(self.kinds) <= frozenset(getattr(obj, "kinds", frozenset()))

    def describe(self) -> str:
        return f"kinds ⊇ {sorted(self.kinds)}"


def _context_field(context: Context, who: str) -> Any:
    if "field" not in context:
        raise ConfigError(
            f"claim condition {who} reads the vector field — expected a context with a "
            f"'field' entry — received keys {sorted(context)} — ask for "
            f"guarantees(field, integrator, h)"
        )
    return context["field"]


def _context_step(context: Context, who: str) -> float:
    if "h" not in context:
        raise ConfigError(
            f"claim condition {who} reads the step size — expected a context with an 'h' "
            f"entry — received keys {sorted(context)} — ask for guarantees(field, integrator, h)"
        )
    return float(context["h"])


@dataclass(frozen=True)
class OfField(Condition):
    """``condition`` evaluated on the vector field of the context (a step's field)."""

    condition: Condition

    def holds(self, obj: Any, context: Context) -> bool:
        return self.condition.holds(_context_field(context, "OfField"), context)

    def describe(self) -> str:
        return f"field: {self.condition.describe()}"


@dataclass(frozen=True)
class OfAttribute(Condition):
    """``condition`` evaluated on ``obj.<attribute>`` (e.g. the Hamiltonian a kick shears)."""

    attribute: str
    condition: Condition

    def holds(self, obj: Any, context: Context) -> bool:
        return self.condition.holds(_attribute(obj, self.attribute), context)

    def describe(self) -> str:
        return f"{self.attribute}: {self.condition.describe()}"


@dataclass(frozen=True)
class StepPositive(Condition):
    """The step size of the context is positive (forward in time)."""

    def holds(self, obj: Any, context: Context) -> bool:
        return _context_step(context, "StepPositive") > 0.0

    def describe(self) -> str:
        return "h > 0"


@dataclass(frozen=True)
class CircleContractiveStep(Condition):
    """``0 < h ≤ 2r/ν``: ``r = obj.contractivity_radius``, ``ν = field.lipschitz_bound()``.

    The circle condition of Dahlquist–Jeltsch: a Runge–Kutta method with circle-contractivity
    radius ``r > 0`` is non-expansive on a co-coercive field with constant ``ν`` for such steps
    (every step when ``ν = 0``). A method with ``r = 0`` (classical RK4) never satisfies it.
    """

    def holds(self, obj: Any, context: Context) -> bool:
        h = _context_step(context, "CircleContractiveStep")
        field = _context_field(context, "CircleContractiveStep")
        radius = _as_float(getattr(obj, "contractivity_radius", 0.0), "contractivity_radius")
        if h <= 0.0 or not radius > 0.0 or not hasattr(field, "lipschitz_bound"):
            return False
        nu = _as_float(field.lipschitz_bound(), "lipschitz_bound")
        if not math.isfinite(nu):
            return False
        return nu == 0.0 or h <= 2.0 * radius / nu

    def describe(self) -> str:
        return "0 < h ≤ 2r/ν (r: contractivity radius, ν: the field's co-coercivity constant)"


@dataclass(frozen=True)
class FieldAtMost(Condition):
    """``field.<field_attribute> ≤ obj.<attribute>`` (e.g. a polynomial degree a rule is exact for).

    A field that does not declare ``field_attribute`` does not satisfy the condition.
    """

    field_attribute: str
    attribute: str

    def holds(self, obj: Any, context: Context) -> bool:
        field = _context_field(context, "FieldAtMost")
        if getattr(field, self.field_attribute, None) is None:
            return False
        value = _as_float(_attribute(field, self.field_attribute), self.field_attribute)
        bound = _as_float(_attribute(obj, self.attribute), self.attribute)
        return math.isfinite(value) and value <= bound

    def describe(self) -> str:
        return f"field.{self.field_attribute} ≤ {self.attribute}"


@dataclass(frozen=True)
class EveryPartFlow(Condition):
    """Every part of a split field (``field.parts``) keeps ``property`` in its sub-step.

    A part that declares ``claims`` is advanced by its exact flow, whose claims decide; any other
    part is advanced by ``obj.sub_integrator`` (when there is one and it accepts the part), whose
    step guarantees decide. The composition rule of splitting methods: the composed step keeps
    what every sub-step keeps. Sub-steps are fractions of ``h`` of the same sign, and every step
    condition used here is monotone in ``h``, so the sub-steps are judged at ``h``.
    """

    property: Property

    def holds(self, obj: Any, context: Context) -> bool:
        field = _context_field(context, "EveryPartFlow")
        parts = list(getattr(field, "parts", ()))
        if not parts:
            return False
        sub = getattr(obj, "sub_integrator", None)
        for part in parts:
            part_context = {**context, "field": part}
            if declares_claims(part):
                kept = derive(part, part_context)
            elif sub is not None and accepts(sub, part):
                kept = derive(sub, part_context)
            else:
                return False
            if self.property not in kept:
                return False
        return True

    def describe(self) -> str:
        return f"every part's sub-step keeps {self.property}"


def accepts(integrator: Any, field: Any) -> bool:
    """Whether one of ``integrator.accepts`` (alternative kind sets) is within ``field.kinds``."""
    kinds = frozenset(getattr(field, "kinds", frozenset()))
    return any(frozenset(option) <= kinds for option in getattr(integrator, "accepts", ()))


@dataclass(frozen=True)
class FromContext:
    """A property parameter read from the context: ``OnManifold(FromContext("field.manifold"))``.

    :func:`derive` replaces it by the value it names, so a Lie-group method claims
    ``OnManifold("sphere")`` for a field on the sphere.
    """

    path: str

    def resolve(self, context: Context) -> Any:
        head, _, rest = self.path.partition(".")
        if head not in context:
            raise ConfigError(
                f"claim parameter FromContext({self.path!r}) — expected a context entry "
                f"{head!r} — received keys {sorted(context)} — pass it in the context"
            )
        value = context[head]
        return _attribute(value, rest) if rest else value


def _resolved(prop: Property, context: Context) -> Property:
    """``prop`` with every :class:`FromContext` parameter replaced by its value."""
    changes = {
        f.name: getattr(prop, f.name).resolve(context)
        for f in dataclasses.fields(prop)
        if isinstance(getattr(prop, f.name), FromContext)
    }
    return dataclasses.replace(prop, **changes) if changes else prop


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
    return frozenset(_resolved(c.property, ctx) for c in claims_of(obj) if c.when.holds(obj, ctx))


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
