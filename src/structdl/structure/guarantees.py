"""What an object — or one step of an integrator on a vector field — preserves, derived from data.

There is one rule engine, :func:`~structdl.structure.declarations.derive`: an object lists
``claims`` (a property and the condition under which it holds) and the engine evaluates the
conditions. ``guarantees(obj)`` derives an object's claims alone; ``guarantees(field,
integrator, h)`` derives the integrator's claims in the context ``{"field": field, "h": h}``, so
a condition may read the field's declared data (its ``kinds``, ``lipschitz_bound()``,
``energy_structure``, ``parts``) and the step size. Nothing here knows a concrete integrator or
field: an integrator declares what its coefficients give (a symplectic tableau claims
``Symplectic`` on Hamiltonian fields; forward Euler claims ``NonExpansive`` on a gradient flow
for ``0 < h ≤ 2r/ν``), and the theorems behind each claim are stated in its ``reason`` and in
``docs/methods/structure.md``.
"""

from __future__ import annotations

from typing import Any

from .._errors import ConfigError, IncompatibleSchemeError
from ._validate import step_size
from .declarations import accepts, declares_claims, derive
from .properties import Property

__all__ = ["guarantees", "require_compatible"]


def require_compatible(integrator: Any, field: Any) -> None:
    """Raise :class:`IncompatibleSchemeError` unless ``integrator`` accepts ``field``.

    The rule is declared data: ``integrator.accepts`` lists alternative sets of field kinds, and
    the field is accepted when its ``kinds`` contain one of them.
    """
    if accepts(integrator, field):
        return
    name = getattr(integrator, "name", type(integrator).__name__)
    kinds = sorted(getattr(field, "kinds", frozenset()))
    options = " or ".join(str(sorted(option)) for option in getattr(integrator, "accepts", ()))
    raise IncompatibleSchemeError(
        f"{name} cannot integrate {type(field).__name__} — expected a field of kind "
        f"{options or '(none declared)'} — received a field of kind {kinds} — pick a compatible "
        f"integrator (structdl.dynamics.compatible_integrators(field) lists them)"
    )


def guarantees(field: Any, integrator: Any = None, h: Any = None) -> frozenset[Property]:
    """The properties that hold: of one declaring object, or of one integrator step.

    ``guarantees(obj)`` — one argument — derives the structure of an object that declares
    ``claims`` (a bijection, a manifold constraint, an optimiser …).

    ``guarantees(field, integrator, h)`` — what one step of ``integrator`` on ``field`` with
    step ``h`` preserves: the integrator's claims whose conditions hold for this field and step.

    Args:
        field: a vector field (declaring ``kinds``), or an object declaring ``claims``.
        integrator: an integrator instance (declaring ``accepts`` and ``claims``).
        h: the step size (a float or a one-element tensor), finite and non-zero.

    Returns:
        A frozenset of property tags.

    Raises:
        IncompatibleSchemeError: the integrator cannot integrate the field (checked first).
        StepSizeError: ``h`` is not a finite non-zero number.
        ConfigError: one argument that declares no ``claims``.

    Example:
        >>> from structdl.dynamics import Euler, GradientFlow
        >>> from structdl.structure import NonExpansive
        >>> f = GradientFlow(2, width=3).double()
        >>> bound = 2.0 / f.lipschitz_bound()
        >>> NonExpansive(1.0) in guarantees(f, Euler(), 0.9 * bound)
        True
        >>> NonExpansive(1.0) in guarantees(f, Euler(), 1.5 * bound)
        False
    """
    if integrator is None and h is None:
        if declares_claims(field):
            return derive(field)
        raise ConfigError(
            f"guarantees: {type(field).__name__} declares no structure — expected an object "
            f"with `claims`, or the three arguments (field, integrator, h) — received one "
            f"argument — pass guarantees(field, integrator, h) for an integrator step"
        )
    if isinstance(integrator, type) or not (
        declares_claims(integrator) and hasattr(integrator, "accepts")
    ):
        raise IncompatibleSchemeError(
            f"guarantees: integrator is not an integrator instance — expected an object with "
            f"`accepts` and `claims` such as Euler() — received {integrator!r} — pass an "
            f"instance, not the class"
        )
    if not hasattr(field, "kinds"):
        raise IncompatibleSchemeError(
            f"guarantees: field is not a vector field — expected an object declaring `kinds` "
            f"such as GradientFlow(2) — received {type(field).__name__} — pass a vector field"
        )
    require_compatible(integrator, field)
    step = float(step_size(h, "guarantees"))
    return derive(integrator, {"field": field, "h": step})
