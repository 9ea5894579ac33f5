"""Exact equivariance of p4 / p4m networks for every group element and input size 8..33."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from structdl.equivariant import (
    C4,
    D4,
    C,
    D,
    GlobalPool,
    GroupBatchNorm,
    GroupConv2d,
    GroupPool,
    LiftingConv2d,
    PointwiseNonlinearity,
    SpatialPool2d,
    act_image,
    act_regular,
    equivariance_errors,
)
from structdl.equivariant.sequential import EquivariantSequential
from structdl.structure import check_equivariance, tolerance

SIZES = range(8, 34)
# The invariant head adds pooling only; checking it on both parities and the extremes suffices.
HEAD_SIZES = (8, 9, 16, 17, 32, 33)


def _body(group, dtype):
    torch.manual_seed(0)
    net = EquivariantSequential(
        LiftingConv2d(1, 3, 3, group),
        PointwiseNonlinearity("relu"),
        GroupConv2d(3, 3, 3, group, stride=2),
        GroupBatchNorm(3, group),
        PointwiseNonlinearity("leaky_relu"),
        GroupConv2d(3, 3, 3, group, stride=2, padding_mode="replicate"),
        PointwiseNonlinearity("relu"),
        SpatialPool2d(2),
        GroupConv2d(3, 2, 3, group, stride=2),
    ).to(dtype)
    # Fit the batch-norm running statistics on a few batches, then evaluate with them (the
    # train-mode batch statistics are tested in test_layers.py).
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(4, 1, 16, 16, dtype=dtype))
    return net.eval()


@pytest.fixture(scope="module")
def networks():
    return {
        (group.name, dtype): _body(group, dtype)
        for group in (C4, D4)
        for dtype in (torch.float32, torch.float64)
    }


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("group", [C4, D4], ids=str)
def test_network_is_exactly_equivariant_for_every_size(networks, group, dtype):
    body = networks[(group.name, dtype)]
    head = nn.Sequential(body, GroupPool(group, "max"), GlobalPool("mean"))
    worst_field, worst_head = 0.0, 0.0
    for size in SIZES:
        x = torch.randn(
            1, 1, size, size, dtype=dtype, generator=torch.Generator().manual_seed(size)
        )
        with torch.no_grad():
            field = check_equivariance(body, group, body.input_action, body.output_action, x)
        assert field.ok, f"size {size}: {field.reason}"
        worst_field = max(worst_field, field.worst)
        if size in HEAD_SIZES:
            with torch.no_grad():
                inv = check_equivariance(head, group, body.input_action, lambda g, y: y, x)
            assert inv.ok, f"size {size}: {inv.reason}"
            worst_head = max(worst_head, inv.worst)
    bar = tolerance(dtype).equivariance
    assert worst_field <= bar and worst_head <= bar


def test_plain_cnn_fails_the_check():
    """Negative control: an ordinary CNN is not rotation equivariant."""
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    cnn = cnn.double()
    x = torch.randn(1, 1, 12, 12, dtype=torch.float64)
    with torch.no_grad():
        result = check_equivariance(cnn, C4, act_image, act_image, x)
    assert not result.ok and result.worst > 0.1


def test_naive_strided_padding_breaks_equivariance():
    """Negative control for the sampling trick: a fixed padding on an even input is not exact."""
    torch.manual_seed(0)
    layer = GroupConv2d(2, 2, 3, C4, stride=2).double()
    naive = layer.export(input_size=9)  # plan for an odd size …
    x = torch.randn(1, 2, 4, 10, 10, dtype=torch.float64)  # … applied to an even one

    def naive_field(t):
        return naive(t.reshape(1, 8, 10, 10)).reshape(1, 2, 4, 5, 5)

    def action(g, t):
        return act_regular(g, t, C4)

    with torch.no_grad():
        bad = check_equivariance(naive_field, C4, action, action, x)
        good = check_equivariance(layer, C4, action, action, x)
    assert good.ok
    assert not bad.ok and bad.worst > 1e-2


@pytest.mark.parametrize("group", [C(8), D(8)], ids=str)
def test_interpolated_groups_are_approximately_but_not_exactly_equivariant(group):
    torch.manual_seed(0)
    net = nn.Sequential(
        LiftingConv2d(1, 4, 5, group), nn.ReLU(), GroupConv2d(4, 2, 5, group)
    ).double()
    # A smooth image supported in the inscribed disc, where interpolated rotation is accurate.
    n = 33
    coords = torch.linspace(-1, 1, n, dtype=torch.float64)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    bumps = sum(
        torch.exp(-((xx - a) ** 2 + (yy - b) ** 2) / 0.05)
        for a, b in [(0.3, -0.2), (-0.25, 0.1), (0.0, 0.4)]
    )
    x = (bumps * (xx**2 + yy**2 < 0.7)).reshape(1, 1, n, n)

    def out_action(g, y):
        return act_regular(g, y, group)

    profile = equivariance_errors(net, group, act_image, out_action, x)
    with torch.no_grad():
        result = check_equivariance(net, group, act_image, out_action, x)
    # Multiples of 90° (with or without mirror) are exact even in C8/D8; 45° ones interpolate.
    exact = [e for g, e in profile.items() if g.quarter_turns is not None]
    interpolated = [e for g, e in profile.items() if g.quarter_turns is None]
    assert len(exact) == len(interpolated) == group.order // 2
    assert max(exact) < 1e-12
    assert 1e-4 < min(interpolated) and max(interpolated) < 0.05  # measured 2.0e-2 / 8.1e-3
    assert not result.ok and result.worst == pytest.approx(max(profile.values()), rel=1e-6)
