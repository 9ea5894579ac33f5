"""Property tags: machine-readable names for the structure an object preserves.

Tags are small frozen dataclasses so that they can be compared, hashed, put in sets and printed.
An object declares ``preserves`` (a frozenset of tags); ``structure.guarantees`` derives the tags
that hold for a combination, and every tag has a check in :mod:`structdl.structure.checks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
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
    "VolumePreserving",
]


@dataclass(frozen=True)
class Property:
    """Base of all property tags."""

    def __str__(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class Symplectic(Property):
    """``DΦᵀ J DΦ = J``: checked by ``check_symplectic``."""


@dataclass(frozen=True)
class ConformalSymplectic(Property):
    """``DΦᵀ J DΦ = rate · J`` for a known contraction ``rate`` per step."""

    rate: float = 1.0


@dataclass(frozen=True)
class VolumePreserving(Property):
    """``det DΦ = 1``: checked by ``check_volume_preserving``."""


@dataclass(frozen=True)
class NonExpansive(Property):
    """``‖Φ(x) − Φ(y)‖ ≤ lipschitz · ‖x − y‖``: checked by ``check_lipschitz``."""

    lipschitz: float = 1.0


@dataclass(frozen=True)
class Dissipative(Property):
    """An energy (named ``energy``) is non-increasing along trajectories: ``check_energy``."""

    energy: str = "energy"


@dataclass(frozen=True)
class EnergyConserving(Property):
    """An energy is exactly conserved (up to round-off): ``check_energy``."""


@dataclass(frozen=True)
class Reversible(Property):
    """``Φ_{−h} ∘ Φ_h = id``: checked by ``check_reversible``."""


@dataclass(frozen=True)
class Invertible(Property):
    """An explicit or iterative inverse exists: checked by ``check_inverse``."""


@dataclass(frozen=True)
class Equivariant(Property):
    """``Φ(g·x) = g·Φ(x)`` for every ``g`` in ``group``: checked by ``check_equivariance``."""

    group: Any = None


@dataclass(frozen=True)
class OnManifold(Property):
    """Outputs lie on ``manifold`` (a name or object): checked by ``check_on_manifold``."""

    manifold: Any = None
