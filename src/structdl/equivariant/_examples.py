"""One small example of every equivariant layer class, for the contract test.

Adding a layer class to the package means adding an entry here; the contract test
(``tests/contracts/test_equivariant_contract.py``) then runs its checks on it and fails for any
public layer class that is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from .actions import act_regular
from .conv import GroupConv2d, LiftingConv2d
from .groups import C4, D1, D4, C, FiniteGroup
from .nonlinear import NormNonlinearity, PointwiseNonlinearity
from .norm import GroupBatchNorm
from .pooling import GlobalPool, GroupPool, SpatialPool2d, SubgroupPool
from .relaxed import RelaxedGroupConv2d
from .sequential import EquivariantSequential
from .sync_norm import SyncGroupBatchNorm

__all__ = ["LayerExample", "layer_examples"]


@dataclass(frozen=True)
class LayerExample:
    """A named factory for a small layer and the shape of a valid batched input.

    Attributes:
        name: unique id used in test names.
        build: returns a fresh module (float32, seeded by the caller).
        input_shape: shape of an example input.
        cls: the layer class it exercises.
        group, input_action, output_action: for modules that declare no feature types
            (point-wise maps, spatial pooling), how to test them.
    """

    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    cls: type
    group: FiniteGroup | None = None
    input_action: Callable | None = None
    output_action: Callable | None = None

    def actions(self, module: nn.Module) -> tuple[FiniteGroup, Callable, Callable]:
        """The group and the actions to test ``module`` with (its own declarations if any)."""
        if hasattr(module, "input_action"):
            return module.group, module.input_action, module.output_action
        return self.group, self.input_action, self.output_action


def _net() -> nn.Module:
    return EquivariantSequential(
        LiftingConv2d(1, 2, 3, D4),
        GroupBatchNorm(2, D4),
        PointwiseNonlinearity("relu"),
        GroupConv2d(2, 2, 3, D4, stride=2),
        GroupPool(D4),
    )


def _regular_c4(g, x):
    return act_regular(g, x, C4)


def _invariant(g, y):
    return y


def layer_examples() -> list[LayerExample]:
    """Every equivariant layer class, with at least one exact (C4/D4) configuration."""
    return [
        LayerExample("lifting_p4", lambda: LiftingConv2d(2, 3, 3, C4), (2, 2, 9, 9), LiftingConv2d),
        LayerExample(
            "lifting_p4m_stride2",
            lambda: LiftingConv2d(2, 3, 3, D4, stride=2, padding_mode="replicate"),
            (2, 2, 10, 10),
            LiftingConv2d,
        ),
        LayerExample(
            "gconv_p4m_stride2",
            lambda: GroupConv2d(2, 3, 3, D4, stride=2),
            (2, 2, 8, 11, 11),
            GroupConv2d,
        ),
        LayerExample(
            "gconv_p4_even_kernel", lambda: GroupConv2d(2, 2, 4, C4), (2, 2, 4, 8, 8), GroupConv2d
        ),
        LayerExample(
            "relaxed_p4_zero",
            lambda: RelaxedGroupConv2d(2, 2, 3, C4, relaxation=0.0),
            (2, 2, 4, 9, 9),
            RelaxedGroupConv2d,
        ),
        LayerExample("group_pool_d4", lambda: GroupPool(D4, "max"), (2, 3, 8, 7, 7), GroupPool),
        LayerExample(
            "subgroup_pool_d4_d1", lambda: SubgroupPool(D4, D1), (2, 3, 8, 7, 7), SubgroupPool
        ),
        LayerExample(
            "batchnorm_d4", lambda: GroupBatchNorm(3, D4), (2, 3, 8, 6, 6), GroupBatchNorm
        ),
        LayerExample(
            "batchnorm_sync_d4",
            lambda: SyncGroupBatchNorm(3, D4),
            (2, 3, 8, 6, 6),
            SyncGroupBatchNorm,
        ),
        LayerExample(
            "norm_nonlinearity_c4",
            lambda: NormNonlinearity(3, C4, "relu"),
            (2, 3, 4, 6, 6),
            NormNonlinearity,
        ),
        LayerExample(
            "pointwise_leaky",
            lambda: PointwiseNonlinearity("leaky_relu"),
            (2, 3, 4, 6, 6),
            PointwiseNonlinearity,
            C4,
            _regular_c4,
            _regular_c4,
        ),
        LayerExample(
            "spatial_pool",
            lambda: SpatialPool2d(2),
            (2, 3, 4, 9, 9),
            SpatialPool2d,
            C4,
            _regular_c4,
            _regular_c4,
        ),
        LayerExample(
            "global_pool",
            lambda: GlobalPool("max"),
            (2, 3, 4, 9, 9),
            GlobalPool,
            C4,
            _regular_c4,
            _invariant,
        ),
        LayerExample("sequential_p4m", _net, (2, 1, 12, 12), EquivariantSequential),
        LayerExample(
            "lifting_c8_interpolated",
            lambda: LiftingConv2d(1, 2, 5, C(8)),
            (2, 1, 15, 15),
            LiftingConv2d,
        ),
    ]
