"""Restriction, subgroup pooling, export, relaxation, normalisation, sampling plans, timing."""

from __future__ import annotations

import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from structdl.equivariant import (
    C1,
    C2,
    C4,
    D1,
    D2,
    D4,
    GroupBatchNorm,
    GroupConv2d,
    LiftingConv2d,
    NormNonlinearity,
    QuotientRep,
    RelaxedGroupConv2d,
    SpatialPool2d,
    SubgroupPool,
    act_image,
    act_quotient,
    act_regular,
    restrict,
    restrict_regular,
)
from structdl.equivariant._sampling import axis_plan
from structdl.structure import Equivariant, check_equivariance, guarantees, tolerance

F64 = torch.float64


def _regular(group):
    return lambda g, y: act_regular(g, y, group)


def _field(group, channels=2, size=9, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, channels, group.order, size, size, generator=gen, dtype=F64)


@pytest.mark.parametrize("subgroup", [C4, D1, D2, C2, C1], ids=str)
@pytest.mark.parametrize("stride", [1, 2])
def test_restricted_group_conv_equals_the_original(subgroup, stride):
    torch.manual_seed(0)
    layer = GroupConv2d(2, 3, 3, D4, stride=stride).to(F64)
    with torch.no_grad():
        layer.bias.normal_()
    small = restrict(layer, subgroup)
    assert small.group == subgroup
    assert (small.in_channels, small.out_channels) == (
        2 * 8 // subgroup.order,
        3 * 8 // subgroup.order,
    )
    x = _field(D4, size=10)
    with torch.no_grad():
        expected = restrict_regular(layer(x), D4, subgroup)
        got = small(restrict_regular(x, D4, subgroup))
    assert (got - expected).abs().max() <= tolerance(F64).exact
    # The restricted layer is a genuine (exact) subgroup layer.
    with torch.no_grad():
        result = check_equivariance(
            small,
            subgroup,
            _regular(subgroup),
            _regular(subgroup),
            restrict_regular(x, D4, subgroup),
        )
    assert result.ok, result.reason


def test_restricted_lifting_equals_the_original():
    torch.manual_seed(1)
    layer = LiftingConv2d(1, 2, 3, D4, stride=2).to(F64)
    small = restrict(layer, C4)
    x = torch.randn(2, 1, 11, 11, dtype=F64)
    with torch.no_grad():
        diff = small(x) - restrict_regular(layer(x), D4, C4)
    assert diff.abs().max() <= tolerance(F64).exact
    assert isinstance(small, LiftingConv2d) and small.out_channels == 4


def test_subgroup_pool_is_equivariant_to_the_quotient_field():
    pool = SubgroupPool(D4, D1, "max")
    assert pool.out_rep == QuotientRep(D4, D1)
    x = _field(D4)
    with torch.no_grad():
        result = check_equivariance(pool, D4, pool.input_action, pool.output_action, x)
    assert result.ok, result.reason
    # Pooling D4 over the mirror pairs leaves a regular C4 field (p4m -> p4).
    y = pool(x)
    for r in C4:
        assert torch.equal(act_quotient(r, y, D4, D1), act_regular(r, y, C4))
        assert torch.equal(pool(act_regular(r, x, D4)), act_regular(r, y, C4))


def test_subgroup_pool_over_rotations_and_negative_control():
    pool = SubgroupPool(D4, C4, "mean")
    x = _field(D4)
    y = pool(x)
    assert y.shape == (2, 2, 2, 9, 9)
    assert torch.allclose(y[:, :, 0], x[:, :, :4].mean(2))
    # Negative control: the quotient output is NOT a regular D4 field, so acting with the wrong
    # representation must break the check.
    wrong = check_equivariance(pool, D4, pool.input_action, lambda g, t: act_image(g, t), x)
    assert not wrong.ok


CONVS = [
    lambda: LiftingConv2d(2, 3, 3, D4, stride=2, padding_mode="reflect"),
    lambda: GroupConv2d(2, 3, 3, C4, stride=3, padding=0),
    lambda: GroupConv2d(2, 3, 4, D4, padding_mode="circular"),
    lambda: RelaxedGroupConv2d(2, 3, 3, C4, relaxation=0.5, stride=2),
]


@pytest.mark.parametrize("size", [9, 12])
@pytest.mark.parametrize("make", CONVS)
def test_export_gives_identical_outputs(make, size):
    torch.manual_seed(0)
    layer = make()
    with torch.no_grad():
        layer.bias.normal_()
    shape = (
        (2, 2, size, size) if layer.in_rep.size is None else (2, 2, layer.group.order, size, size)
    )
    x = torch.randn(shape)
    conv = layer.export(input_size=size)
    assert type(conv) is torch.nn.Conv2d
    with torch.no_grad():
        y = layer(x)
        z = conv(x.reshape(2, -1, size, size))
    assert torch.equal(z.reshape(y.shape), y)


def test_export_without_size_for_unit_stride():
    layer = GroupConv2d(2, 2, 3, D4)
    x = torch.randn(1, 2, 8, 7, 7)
    with torch.no_grad():
        assert torch.equal(layer.export()(x.reshape(1, 16, 7, 7)).reshape(1, 2, 8, 7, 7), layer(x))


def _relaxed_error(strength):
    torch.manual_seed(0)
    layer = RelaxedGroupConv2d(2, 2, 3, C4, relaxation=strength).to(F64)
    x = _field(C4, size=11, seed=3)
    with torch.no_grad():
        return check_equivariance(layer, C4, layer.input_action, layer.output_action, x)


def test_relaxed_conv_error_grows_with_the_knob():
    results = [_relaxed_error(s) for s in (0.0, 0.01, 0.1, 1.0)]
    assert results[0].ok and results[0].worst <= tolerance(F64).equivariance
    errors = [r.worst for r in results]
    assert all(not r.ok for r in results[1:])
    assert errors[1] < errors[2] < errors[3]
    # First order in λ for small λ.
    assert errors[2] / errors[1] == pytest.approx(10, rel=0.2)


def test_relaxed_declares_structure_only_at_zero():
    layer = RelaxedGroupConv2d(1, 1, 3, D4, relaxation=0.0, lifting=True)
    assert guarantees(layer) == {Equivariant(D4)}
    layer.relaxation = 0.2
    assert guarantees(layer) == frozenset()
    x = torch.randn(1, 1, 9, 9, dtype=F64)
    layer = layer.to(F64)
    with torch.no_grad():
        assert not check_equivariance(layer, D4, layer.input_action, layer.output_action, x).ok
        layer.relaxation = 0
        assert check_equivariance(layer, D4, layer.input_action, layer.output_action, x).ok


def test_group_batchnorm_shares_statistics_and_is_equivariant():
    bn = GroupBatchNorm(3, D4).to(F64)
    x = _field(D4, channels=3) * 4 + 2
    y = bn(x)
    per_channel = y.transpose(0, 1).reshape(3, -1)
    assert torch.allclose(per_channel.mean(1), torch.zeros(3, dtype=F64), atol=1e-12)
    assert torch.allclose(per_channel.var(1, unbiased=False), torch.ones(3, dtype=F64), atol=1e-4)
    for mode in ("train", "eval"):
        bn.train(mode == "train")
        result = check_equivariance(bn, D4, bn.input_action, bn.output_action, x)
        assert result.ok, result.reason


def test_norm_nonlinearity_formula_and_equivariance():
    layer = NormNonlinearity(2, C4, "relu").to(F64)
    with torch.no_grad():
        layer.bias.fill_(-0.5)
    x = _field(C4)
    y = layer(x)
    norm = x.norm(dim=2, keepdim=True)
    assert torch.allclose(y, torch.relu(norm - 0.5) * x / norm)
    assert torch.equal(layer(torch.zeros_like(x)), torch.zeros_like(x))
    with torch.no_grad():
        result = check_equivariance(layer, C4, layer.input_action, layer.output_action, x)
    assert result.ok, result.reason


@pytest.mark.parametrize("mode", ["max", "mean"])
def test_spatial_pool_is_exact_for_every_size(mode):
    pool = SpatialPool2d(2, mode=mode)
    for size in range(8, 34):
        x = torch.randn(1, 2, 8, size, size, dtype=F64)
        result = check_equivariance(pool, D4, _regular(D4), _regular(D4), x)
        assert result.ok, f"size {size}: {result.reason}"


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, 64),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 4),
    padding=st.integers(0, 3),
)
def test_sampling_plan_is_symmetric(size, kernel, stride, padding):
    try:
        plan = axis_plan(size, kernel, stride, padding)
    except ValueError:
        assert size + 2 * (padding + stride) < kernel + 2  # only tiny inputs are refused
        return
    assert plan.window in (kernel, kernel + 1)
    assert padding <= plan.padding < padding + stride
    first = plan.window / 2 - 0.5 - plan.padding
    last = first + (plan.out_size - 1) * stride
    assert first + last == size - 1  # window centres symmetric about the grid centre
    assert (plan.out_size - 1) * stride + plan.window == size + 2 * plan.padding


def test_strided_output_sizes():
    layer = GroupConv2d(1, 1, 3, C4, stride=2)
    sizes = {n: layer(torch.randn(1, 1, 4, n, n)).shape[-1] for n in (8, 9, 10, 11)}
    assert sizes == {8: 4, 9: 5, 10: 5, 11: 6}


def test_construction_time_of_a_256_channel_p4m_layer():
    GroupConv2d(8, 8, 3, D4)  # warm-up of the allocator and kernels
    times = []
    for _ in range(3):
        start = time.perf_counter()
        layer = GroupConv2d(256, 256, 3, D4)
        times.append(time.perf_counter() - start)
    assert layer.weight.shape == (256, 256, 8, 3, 3)
    assert layer.weight.std() > 0  # initialised, not just allocated
    assert min(times) < 0.5, f"construction took {min(times):.3f} s"
