"""The vocabulary of guarantees and their executable checks.

Property tags (:mod:`.properties`) name the structure an object preserves; every tag has a check
here that returns a :class:`CheckResult` and an ``assert_…`` form raising
:class:`~structdl.StructureViolation`. :func:`guarantees` derives what a (vector field,
integrator, step size) combination preserves; :func:`assert_preserves` runs the checks an object
declares; :func:`register_check` / :func:`all_checks` hold the checks ``structdl check`` runs.
"""

from __future__ import annotations

from typing import Any

from . import _checks  # noqa: F401  (registers the checkers' self-tests for `structdl check`)
from .catalogue import all_checks, register_check
from .checks import (
    assert_energy,
    assert_equivariance,
    assert_inverse,
    assert_lipschitz,
    assert_on_manifold,
    assert_order,
    assert_reversible,
    assert_symplectic,
    assert_volume_preserving,
    canonical_J,
    check_energy,
    check_equivariance,
    check_inverse,
    check_lipschitz,
    check_on_manifold,
    check_order,
    check_reversible,
    check_symplectic,
    check_volume_preserving,
)
from .properties import (
    ConformalSymplectic,
    Dissipative,
    EnergyConserving,
    Equivariant,
    Invertible,
    NonExpansive,
    OnManifold,
    Property,
    Reversible,
    Symplectic,
    VolumePreserving,
)
from .result import CheckResult, Tolerance, tolerance
from .testing import assert_preserves

__all__ = [
    "CheckResult",
    "ConformalSymplectic",
    "Dissipative",
    "EnergyConserving",
    "Equivariant",
    "Invertible",
    "NonExpansive",
    "OnManifold",
    "Property",
    "Reversible",
    "Symplectic",
    "Tolerance",
    "VolumePreserving",
    "all_checks",
    "assert_energy",
    "assert_equivariance",
    "assert_inverse",
    "assert_lipschitz",
    "assert_on_manifold",
    "assert_order",
    "assert_preserves",
    "assert_reversible",
    "assert_symplectic",
    "assert_volume_preserving",
    "canonical_J",
    "check_energy",
    "check_equivariance",
    "check_inverse",
    "check_lipschitz",
    "check_on_manifold",
    "check_order",
    "check_reversible",
    "check_symplectic",
    "check_volume_preserving",
    "guarantees",
    "register_check",
    "tolerance",
]


def _lazy_guarantees(field: Any, integrator: Any, h: Any) -> frozenset[Property]:
    """The properties that a (vector field, integrator, step size ``h``) combination preserves.

    Includes conditional rules (non-expansive Euler needs ``h ≤ 2/(L·‖A‖²)``; a symplectic
    method is symplectic only on a Hamiltonian field). The rules live in
    :mod:`structdl.structure.guarantees`; this stand-in imports them at call time.
    """
    from .guarantees import guarantees as rules

    return rules(field, integrator, h)


try:
    # Bind the real function. Importing the submodule sets the package attribute
    # ``guarantees`` to the *module*; this import then rebinds it to the function, so that a later
    # ``import structdl.structure.guarantees`` elsewhere cannot shadow the public function.
    from .guarantees import guarantees
except ModuleNotFoundError as error:  # the rules module is optional while it is being written
    if error.name != f"{__name__}.guarantees":
        raise
    guarantees = _lazy_guarantees
