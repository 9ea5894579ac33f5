"""The vocabulary of guarantees and their executable checks.

Property tags (:mod:`.properties`) name the structure an object preserves; every tag has a check
here that returns a :class:`CheckResult` and an ``assert_…`` form raising
:class:`~structdl.StructureViolation`. :func:`guarantees` derives what a (vector field,
integrator, step size) combination preserves; :func:`assert_preserves` runs the checks an object
declares; :func:`register_check` / :func:`all_checks` hold the checks ``structdl check`` runs.
"""

from __future__ import annotations

from . import _checker_selftests  # noqa: F401  (registers the checkers' self-tests)
from .check_registry import all_checks, register_check
from .checks import (
    assert_conformal_step,
    assert_energy,
    assert_equivariance,
    assert_inverse,
    assert_lipschitz,
    assert_on_manifold,
    assert_order,
    assert_passivity,
    assert_reparametrisation_invariance,
    assert_reversible,
    assert_symplectic,
    assert_volume_preserving,
    canonical_J,
    check_conformal_step,
    check_energy,
    check_equivariance,
    check_inverse,
    check_lipschitz,
    check_on_manifold,
    check_order,
    check_passivity,
    check_reparametrisation_invariance,
    check_reversible,
    check_symplectic,
    check_volume_preserving,
)
from .declarations import (
    ALWAYS,
    AllOf,
    AttributeAtMost,
    AttributeBelow,
    AttributeEquals,
    Claim,
    Condition,
    EveryPart,
    derive,
    explain,
)

# Imported eagerly and as a function: binding the name here means a later
# ``import structdl.structure.guarantees`` cannot shadow it with the module.
from .guarantees import guarantees
from .properties import (
    BiLipschitz,
    ConformalSymplectic,
    Dissipative,
    EnergyConserving,
    Equivariant,
    Invertible,
    NonExpansive,
    OnManifold,
    Property,
    ReparametrisationInvariant,
    Reversible,
    Symplectic,
    VolumePreserving,
)
from .result import CheckResult, Tolerance, tolerance
from .testing import assert_preserves

__all__ = [
    "ALWAYS",
    "AllOf",
    "AttributeAtMost",
    "AttributeBelow",
    "AttributeEquals",
    "BiLipschitz",
    "CheckResult",
    "Claim",
    "Condition",
    "ConformalSymplectic",
    "Dissipative",
    "EnergyConserving",
    "Equivariant",
    "EveryPart",
    "Invertible",
    "NonExpansive",
    "OnManifold",
    "Property",
    "ReparametrisationInvariant",
    "Reversible",
    "Symplectic",
    "Tolerance",
    "VolumePreserving",
    "all_checks",
    "assert_conformal_step",
    "assert_energy",
    "assert_equivariance",
    "assert_inverse",
    "assert_lipschitz",
    "assert_on_manifold",
    "assert_order",
    "assert_passivity",
    "assert_preserves",
    "assert_reparametrisation_invariance",
    "assert_reversible",
    "assert_symplectic",
    "assert_volume_preserving",
    "canonical_J",
    "check_conformal_step",
    "check_energy",
    "check_equivariance",
    "check_inverse",
    "check_lipschitz",
    "check_on_manifold",
    "check_order",
    "check_passivity",
    "check_reparametrisation_invariance",
    "check_reversible",
    "check_symplectic",
    "check_volume_preserving",
    "derive",
    "explain",
    "guarantees",
    "register_check",
    "tolerance",
]
