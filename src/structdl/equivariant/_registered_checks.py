"""Default structure checks of the equivariant package, registered for ``structdl check``.

Each builds a small p4 / p4m network in float64 and checks its exact equivariance.
"""

from __future__ import annotations

import torch

from ..structure.check_registry import register_check
from ..structure.checks import check_equivariance


def _p4_network(group):
    from .conv import GroupConv2d, LiftingConv2d
    from .nonlinear import PointwiseNonlinearity
    from .pooling import GroupPool, SpatialPool2d
    from .sequential import EquivariantSequential

    return EquivariantSequential(
        LiftingConv2d(1, 3, 3, group),
        PointwiseNonlinearity("relu"),
        GroupConv2d(3, 3, 3, group, stride=2),
        PointwiseNonlinearity("relu"),
        SpatialPool2d(2),
        GroupConv2d(3, 2, 3, group, stride=2),
        GroupPool(group),
    )


def _network_check(group_name: str):
    def run():
        from . import groups

        group = getattr(groups, group_name)
        generator = torch.Generator().manual_seed(0)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            net = _p4_network(group).double()
        x = torch.randn(2, 1, 15, 15, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            return check_equivariance(net, group, net.input_action, net.output_action, x)

    return run


register_check("equivariant.p4_network_equivariant")(_network_check("C4"))
register_check("equivariant.p4m_network_equivariant")(_network_check("D4"))
