"""Manifold-valued parameters: spheres, orthonormal frames, rotations, SPD matrices.

Each manifold checks membership (with an explanation), projects, projects onto tangent spaces,
retracts and transports (:class:`Manifold`). Two ways to train on one: :func:`constrain` (a
``torch.nn.utils.parametrize`` parametrisation, any optimiser) or :class:`ManifoldParameter`
with :class:`structdl.optim.RiemannianSGD` / :class:`structdl.optim.RiemannianAdam`.
"""

from __future__ import annotations

from . import _checks  # noqa: F401  (registers the structure checks for `structdl check`)
from .base import Manifold
from .constrain import ManifoldParameter, OnManifoldParametrization, attach, constrain
from .models import OrthogonalRNN, SphereField, SphereODE
from .spd import SPD
from .sphere import Oblique, Sphere
from .stiefel import Grassmann, SpecialOrthogonal, Stiefel

__all__ = [
    "SPD",
    "Grassmann",
    "Manifold",
    "ManifoldParameter",
    "Oblique",
    "OnManifoldParametrization",
    "OrthogonalRNN",
    "SpecialOrthogonal",
    "Sphere",
    "SphereField",
    "SphereODE",
    "Stiefel",
    "attach",
    "constrain",
]
