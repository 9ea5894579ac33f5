"""What a (vector field, integrator, step size) combination preserves: the theorems as rules.

:func:`guarantees` is the one place where the review's theorems live as code. Each rule is a
short function ``rule(field, integrator, h) -> set[Property]`` whose docstring states the theorem
it implements; :func:`guarantees` checks compatibility first and returns the union of the rules.

Structure is read from *declared* data only: the field's ``kinds`` (and the quantities a kind
promises: ``lipschitz_bound()`` for "gradient", ``structure_matrix`` for "energy", ``manifold``
for "lie", ``parts`` for "split"), and the integrator's ``requires``, ``preserves``, ``tableau``,
``has_inverse()``. Attributes are read with ``getattr`` so that an integrator that does not
declare one simply gets no guarantee from the rule that needs it.

A rule never claims more than its theorem: a symplectic method gives ``Symplectic`` only on a
Hamiltonian field; forward Euler gives ``NonExpansive`` on a gradient flow only for
``h ≤ 2/(L‖A‖²)``; classical RK4 (contractivity radius 0) never does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .._errors import IncompatibleSchemeError, StepSizeError
from .declarations import declares_claims, derive
from .properties import (
    Dissipative,
    EnergyConserving,
    Invertible,
    NonExpansive,
    OnManifold,
    Property,
    Reversible,
    Symplectic,
    VolumePreserving,
)

__all__ = ["RULES", "contractivity_radius", "guarantees", "tableau_of"]

Rule = Callable[[Any, Any, float], set[Property]]


# -- declared data, read defensively -------------------------------------------------------


def _kinds(obj: Any) -> frozenset[str]:
    return frozenset(getattr(obj, "kinds", frozenset()))


def tableau_of(integrator: Any) -> Any | None:
    """The Butcher tableau of a Runge–Kutta-type integrator, or ``None``.

    An integrator's own ``tableau`` attribute wins; forward Euler and the implicit midpoint rule
    are the one-stage tableaux ``euler`` and ``gauss2``.
    """
    tab = getattr(integrator, "tableau", None)
    if tab is not None:
        return tab
    from ..dynamics import tableau as tableaux  # local: structure must not import dynamics early
    from ..dynamics.integrators.euler import Euler
    from ..dynamics.integrators.implicit import ImplicitMidpoint

    if isinstance(integrator, Euler):
        return tableaux.euler
    if isinstance(integrator, ImplicitMidpoint):
        return tableaux.gauss2
    return None


def contractivity_radius(integrator: Any) -> float:
    """Circle-contractivity radius ``r`` of the integrator (0 when none is known)."""
    declared = getattr(integrator, "contractivity_radius", None)
    if declared is None:
        tab = tableau_of(integrator)
        declared = getattr(tab, "contractivity_radius", None)
    return float(declared) if declared is not None else 0.0


def _algebraically_stable(tab: Any) -> bool:
    """``b ≥ 0`` and ``M = BA + AᵀB − bbᵀ ⪰ 0`` (Burrage–Butcher; B-stability)."""
    arrays = getattr(tab, "arrays", None)
    if arrays is None:
        return False
    a, b, _ = (np.asarray(x, dtype=float) for x in arrays)
    if np.any(b < -1e-14):
        return False
    m = np.diag(b) @ a + a.T @ np.diag(b) - np.outer(b, b)
    return bool(np.linalg.eigvalsh(0.5 * (m + m.T)).min() >= -1e-12)


def _is_splitting(integrator: Any) -> bool:
    return "split" in frozenset(getattr(integrator, "requires", frozenset()))


def _preserves(integrator: Any) -> frozenset[Property]:
    return frozenset(getattr(integrator, "preserves", frozenset()))


# -- the rules ------------------------------------------------------------------------------


def nonexpansive_circle_contractive(field: Any, integrator: Any, h: float) -> set[Property]:
    """Non-expansive Runge–Kutta steps on a co-coercive field (METHODS §3.1).

    If ``σ`` is monotone and ``L``-Lipschitz, ``F(x) = −Aᵀσ(Ax + b)`` is co-coercive with
    constant ``ν = L‖A‖²``. An RK method with circle-contractivity radius ``r`` is then
    non-expansive whenever ``0 < h ≤ 2r/ν`` (Dahlquist–Jeltsch circle condition; Sherry et al.
    2023). Forward Euler has ``r = 1``: non-expansive iff ``h ≤ 2/(L‖A‖²)``. Classical RK4 has
    ``r = 0`` and gets no guarantee.
    """
    if "gradient" not in _kinds(field) or not hasattr(field, "lipschitz_bound") or h <= 0:
        return set()
    radius = contractivity_radius(integrator)
    if radius <= 0:
        return set()
    nu = float(field.lipschitz_bound())
    if nu == 0.0 or h <= 2.0 * radius / nu:
        return {NonExpansive(1.0)}
    return set()


def nonexpansive_algebraically_stable(field: Any, integrator: Any, h: float) -> set[Property]:
    """B-stable methods on a gradient flow of a convex potential (METHODS §3.1).

    A gradient field ``−∇V`` with ``V`` convex satisfies the one-sided Lipschitz condition with
    ``ν = 0``; an algebraically stable RK method (``b ≥ 0``, ``BA + AᵀB − bbᵀ ⪰ 0``: implicit
    midpoint, Gauss, Radau IIA) is then non-expansive for every ``h > 0`` (Burrage–Butcher),
    for the exact solution of its stage equations (an iterative solve that does not converge
    raises instead of returning).
    """
    if "gradient" not in _kinds(field) or h <= 0:
        return set()
    tab = tableau_of(integrator)
    return {NonExpansive(1.0)} if tab is not None and _algebraically_stable(tab) else set()


def symplectic_on_hamiltonian(field: Any, integrator: Any, h: float) -> set[Property]:
    """A symplectic method is symplectic only on a Hamiltonian field (METHODS §3.2, §4).

    For ``z' = J∇H(z)`` a symplectic method (symplectic Euler, Störmer–Verlet, Gauss RK, …)
    gives ``DΦᵀJDΦ = J``; then ``det DΦ = 1`` (volume preservation). On a field that is not
    Hamiltonian (a two-stream Haber–Ruthotto field, a gradient flow) it guarantees neither.
    """
    if _is_splitting(integrator) or "hamiltonian" not in _kinds(field):
        return set()
    if Symplectic() in _preserves(integrator):
        return {Symplectic(), VolumePreserving()}
    return set()


def _subflow_properties(part: Any, integrator: Any, h: float) -> frozenset[Property]:
    """What one sub-step of a splitting method preserves."""
    if hasattr(part, "exact_flow"):
        # The exact flow of a shear (du/dt = 0, dv/dt = g(u)) is x ↦ x + h g(u): volume
        # preserving and explicitly invertible; symplectic when the shear is Hamiltonian
        # (a kick or drift of a Hamiltonian, or a Hamiltonian ridge).
        kept: set[Property] = {Invertible()}
        kinds = _kinds(part)
        if "shear" in kinds or "divergence_free" in kinds:
            kept.add(VolumePreserving())
        owner = getattr(part, "hamiltonian", part)
        if "hamiltonian" in _kinds(owner) and "shear" in kinds:
            kept.add(Symplectic())
        return frozenset(kept)
    sub = getattr(integrator, "sub_integrator", None)
    return guarantees(part, sub, h) if sub is not None else frozenset()


def splitting_composition(field: Any, integrator: Any, h: float) -> set[Property]:
    """A splitting keeps every structure that each sub-flow keeps (METHODS §3.3).

    Lie–Trotter and Strang compose the flows of ``f = Σ_k f⁽ᵏ⁾``. With exact flows of shears the
    composition is volume-preserving and explicitly invertible (and symplectic when every shear
    is Hamiltonian); with a sub-integrator, what it guarantees on every part. Non-expansive
    sub-steps compose to a non-expansive step.
    """
    if not _is_splitting(integrator) or "split" not in _kinds(field):
        return set()
    parts = list(getattr(field, "parts", ()))
    if not parts:
        return set()
    common = frozenset.intersection(*(_subflow_properties(p, integrator, h) for p in parts))
    composable = {Symplectic(), VolumePreserving(), Invertible(), NonExpansive(1.0)}
    return set(common & composable)


def reversible_symmetric(field: Any, integrator: Any, h: float) -> set[Property]:
    """A symmetric method is time-reversible: ``Φ_{−h} = Φ_h⁻¹`` for every field (METHODS §4).

    Symmetric RK tableaux, Störmer–Verlet, Yoshida and Strang with exact or symmetric sub-flows
    declare :class:`Reversible`; its inverse is the same step with ``−h``, hence invertible.
    """
    if Reversible() in _preserves(integrator):
        return {Reversible(), Invertible()}
    return set()


def manifold_lie_group(field: Any, integrator: Any, h: float) -> set[Property]:
    """Lie-group methods keep features on the homogeneous manifold (METHODS §3.4).

    Lie–Euler and RKMK update ``y ← exp(Θ)·y`` with ``Θ`` in the Lie algebra, so ``y`` stays on the
    orbit ``M`` of the group action (the sphere for ``SO(3)`` acting on ``S²``), up to round-off.
    """
    needs_lie = "lie" in frozenset(getattr(integrator, "requires", frozenset()))
    if not needs_lie or "lie" not in _kinds(field):
        return set()
    return {OnManifold(getattr(field, "manifold", None))}


def _energy_structure(field: Any) -> str:
    """ "skew", "dissipative" (``S + Sᵀ ⪯ 0``) or "none" for ``y' = S∇E(y)``."""
    kinds = _kinds(field)
    if {"hamiltonian", "partitioned"} <= kinds:
        return "skew"  # S = J
    if "energy" not in kinds:
        return "none"
    s = torch.as_tensor(field.structure_matrix).detach().to(torch.float64)
    sym = s + s.T
    scale = max(1.0, float(s.abs().max()))
    if float(sym.abs().max()) <= 1e-12 * scale:
        return "skew"
    if float(torch.linalg.eigvalsh(sym).max()) <= 1e-12 * scale:
        return "dissipative"
    return "none"


def discrete_gradient_energy(field: Any, integrator: Any, h: float) -> set[Property]:
    """Discrete gradients conserve or dissipate the energy for every ``h`` (METHODS §3.2).

    ``y₁ = y₀ + hS∇̄E(y₀, y₁)`` gives ``E(y₁) − E(y₀) = h∇̄EᵀS∇̄E``: zero for skew ``S``
    (``EnergyConserving``, hence also non-increasing) and ``≤ 0`` for ``h > 0`` when ``S + Sᵀ``
    is negative semidefinite (``Dissipative``).
    """
    if "energy" not in frozenset(getattr(integrator, "requires", frozenset())):
        return set()
    kind = _energy_structure(field)
    if kind == "skew":
        return {EnergyConserving(), Dissipative()}
    if kind == "dissipative" and h > 0:
        return {Dissipative()}
    return set()


def invertible_explicit_inverse(field: Any, integrator: Any, h: float) -> set[Property]:
    """A method with an exact inverse step (``has_inverse()``) gives an invertible layer.

    Symplectic Euler and Verlet undo their shears explicitly; symmetric methods invert by
    ``−h``. Splitting methods are handled by :func:`splitting_composition`, since their inverse
    exists only when every part's sub-flow is invertible.
    """
    has_inverse = getattr(integrator, "has_inverse", None)
    if _is_splitting(integrator) or has_inverse is None or not has_inverse():
        return set()
    return {Invertible()}


#: The rules, in the order they are applied; each is documented with its theorem.
RULES: tuple[Rule, ...] = (
    nonexpansive_circle_contractive,
    nonexpansive_algebraically_stable,
    symplectic_on_hamiltonian,
    splitting_composition,
    reversible_symmetric,
    manifold_lie_group,
    discrete_gradient_energy,
    invertible_explicit_inverse,
)


def _step_size(h: Any) -> float:
    if isinstance(h, torch.Tensor):
        if h.numel() != 1:
            raise StepSizeError(
                f"guarantees: h must be one step size, got a tensor of shape {tuple(h.shape)}; "
                "call guarantees once per step (ODENet.guarantees does)"
            )
        h = float(h.detach())
    if isinstance(h, bool) or not isinstance(h, (int, float)) or not math.isfinite(h) or h == 0:
        raise StepSizeError(
            f"guarantees: the step size must be a finite non-zero number, got {h!r}; pass e.g. "
            "h=0.1"
        )
    return float(h)


def guarantees(field: Any, integrator: Any = None, h: Any = None) -> frozenset[Property]:
    """The properties that hold: of one declaring object, or of one integrator step.

    ``guarantees(obj)`` — one argument — derives the structure of an object that declares
    ``claims`` (a bijection, a manifold constraint, an optimiser …): the properties whose
    declared condition holds (:func:`structdl.structure.declarations.derive`).

    ``guarantees(field, integrator, h)`` — what one step of ``integrator`` on ``field`` with
    step ``h`` preserves, by the rules below.

    Args:
        field: a :class:`~structdl.dynamics.VectorField`, or an object declaring ``claims``.
        integrator: an :class:`~structdl.dynamics.Integrator` instance.
        h: the step size (a float or a one-element tensor), finite and non-zero.

    Returns:
        The union of :data:`RULES` — a frozenset of property tags.

    Raises:
        IncompatibleSchemeError: the integrator cannot integrate the field (checked first).
        StepSizeError: ``h`` is not a finite non-zero number.

    Example:
        >>> from structdl.dynamics import Euler, GradientFlow
        >>> f = GradientFlow(2, width=3).double()
        >>> bound = 2.0 / f.lipschitz_bound()
        >>> NonExpansive(1.0) in guarantees(f, Euler(), 0.9 * bound)
        True
        >>> NonExpansive(1.0) in guarantees(f, Euler(), 1.5 * bound)
        False
    """
    if integrator is None and h is None and declares_claims(field):
        return derive(field)
    from ..dynamics._base import Integrator, VectorField  # local: see tableau_of

    if not isinstance(integrator, Integrator):
        raise IncompatibleSchemeError(
            f"guarantees: integrator must be an Integrator instance, got {integrator!r}; pass "
            "e.g. Euler() (an instance, not the class)"
        )
    if not isinstance(field, VectorField):
        raise IncompatibleSchemeError(
            f"guarantees: field must be a VectorField, got {type(field).__name__}; pass e.g. "
            "GradientFlow(2)"
        )
    integrator.check_compatible(field)
    step = _step_size(h)
    found: set[Property] = set()
    for rule in RULES:
        found |= rule(field, integrator, step)
    return frozenset(found)
