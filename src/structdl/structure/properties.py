"""Property tags: machine-readable names for the structure an object preserves.

Tags are small frozen dataclasses so that they can be compared, hashed, put in sets and printed.
An object declares ``claims`` (a tag and the condition under which it holds, see
:mod:`.declarations`); ``structure.guarantees`` derives the tags that hold, and every tag
has a check in :mod:`structdl.structure.checks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "BiLipschitz",
    "ConformalSymplectic",
    "Dissipative",
    "EnergyConserving",
    "Equivariant",
    "Invertible",
    "NonExpansive",
    "OnManifold",
    "Property",
    "ReparametrisationInvariant",
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
class BiLipschitz(Property):
    """``‖x−y‖/inverse ≤ ‖Φ(x)−Φ(y)‖ ≤ forward·‖x−y‖``: ``check_lipschitz`` on both directions.

    An invertible map with Lipschitz constant ``forward`` whose inverse has Lipschitz constant
    ``inverse`` (an i-ResNet block with ``Lip(g) = c < 1``: ``forward = 1 + c``,
    ``inverse = 1/(1 − c)``).
    """

    forward: float = 1.0
    inverse: float = 1.0


@dataclass(frozen=True)
class ReparametrisationInvariant(Property):
    """A training step commutes with an invertible reparametrisation of the parameters.

    The natural-gradient step: for ``θ = Aφ`` the step taken in ``φ`` and mapped by ``A``
    equals the step taken in ``θ`` (to first order in exact arithmetic; exactly for a linear
    reparametrisation of a layer).
    """


@dataclass(frozen=True)
class Equivariant(Property):
    """``Φ(g·x) = g·Φ(x)`` for every ``g`` in ``group``: checked by ``check_equivariance``."""

    group: Any = None


@dataclass(frozen=True)
class OnManifold(Property):
    """Outputs lie on ``manifold`` (a name or object): checked by ``check_on_manifold``."""

    manifold: Any = None
