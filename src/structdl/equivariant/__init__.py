"""Group-equivariant convolutional networks on the pixel grid (docs/methods/equivariant.md).

Finite planar groups (:mod:`.groups`), their actions on images and on regular / quotient
feature fields (:mod:`.actions`), and layers that carry ``group``, ``in_rep`` and ``out_rep``:
lifting and group convolutions built at forward time from one base filter (:mod:`.conv`),
relaxed convolutions (:mod:`.relaxed`), pooling (:mod:`.pooling`), batch norm (:mod:`.norm`),
non-linearities (:mod:`.nonlinear`), restriction to subgroups (:mod:`.restrict`), a container
that checks feature types (:mod:`.sequential`) and per-element errors (:mod:`.metrics`).

Exactness: ``C1, C2, C4, D1, D2, D4`` act exactly on square pixel grids (p4 / p4m with
translations), and every layer here is then exactly equivariant — also with stride and for odd
and even input sizes. Other ``C_n``/``D_n`` act by bilinear interpolation and are only
approximately equivariant (``group.exact`` and ``layer.exact`` are ``False``).
"""

from __future__ import annotations

from . import _registered_checks  # noqa: F401  (registers the default structure checks)
from .actions import (
    QuotientRep,
    RegularRep,
    Representation,
    TrivialRep,
    act_image,
    act_quotient,
    act_regular,
    restrict_regular,
    rotate_interpolated,
)
from .conv import GroupConv2d, LiftingConv2d
from .groups import (
    C1,
    C2,
    C4,
    D1,
    D2,
    D4,
    C,
    CyclicGroup,
    D,
    DihedralGroup,
    FiniteGroup,
    GroupElement,
)
from .metrics import equivariance_errors
from .nonlinear import NormNonlinearity, PointwiseNonlinearity
from .norm import GroupBatchNorm
from .pooling import GlobalPool, GroupPool, SpatialPool2d, SubgroupPool
from .relaxed import RelaxedGroupConv2d
from .restrict import restrict
from .sequential import EquivariantSequential
from .sync_norm import SyncGroupBatchNorm

__all__ = [
    "C",
    "C1",
    "C2",
    "C4",
    "CyclicGroup",
    "D",
    "D1",
    "D2",
    "D4",
    "DihedralGroup",
    "EquivariantSequential",
    "FiniteGroup",
    "GlobalPool",
    "GroupBatchNorm",
    "SyncGroupBatchNorm",
    "GroupConv2d",
    "GroupElement",
    "GroupPool",
    "LiftingConv2d",
    "NormNonlinearity",
    "PointwiseNonlinearity",
    "QuotientRep",
    "RegularRep",
    "RelaxedGroupConv2d",
    "Representation",
    "SpatialPool2d",
    "SubgroupPool",
    "TrivialRep",
    "act_image",
    "act_quotient",
    "act_regular",
    "equivariance_errors",
    "restrict",
    "restrict_regular",
    "rotate_interpolated",
]
