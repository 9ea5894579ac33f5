"""Bad input raises the typed errors of structdl._errors, naming what was expected."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError, IncompatibleSchemeError, NonFiniteError, ShapeError
from structdl.equivariant import (
    C4,
    D1,
    D4,
    C,
    CyclicGroup,
    EquivariantSequential,
    GlobalPool,
    GroupBatchNorm,
    GroupConv2d,
    GroupPool,
    LiftingConv2d,
    NormNonlinearity,
    PointwiseNonlinearity,
    RelaxedGroupConv2d,
    SpatialPool2d,
    SubgroupPool,
    act_image,
    act_regular,
    equivariance_errors,
    restrict,
)


def test_wrong_channel_count():
    layer = LiftingConv2d(3, 2, 3, C4)
    with pytest.raises(ShapeError, match="wrong channel count — expected 3 channels"):
        layer(torch.randn(1, 2, 9, 9))


def test_wrong_group_axis_size_c4_field_into_d4_layer():
    layer = GroupConv2d(2, 2, 3, D4)
    with pytest.raises(ShapeError, match="wrong group-axis size — expected 8"):
        layer(torch.randn(1, 2, 4, 9, 9))


def test_image_into_group_conv_and_field_into_lifting():
    with pytest.raises(ShapeError, match="lift images with LiftingConv2d first"):
        GroupConv2d(2, 2, 3, C4)(torch.randn(1, 2, 9, 9))
    with pytest.raises(ShapeError, match="pool the group axis first"):
        LiftingConv2d(2, 2, 3, C4)(torch.randn(1, 2, 4, 9, 9))


def test_non_square_input_for_quarter_turns():
    with pytest.raises(ShapeError, match="only if it is square — expected H == W — received 9×10"):
        LiftingConv2d(1, 2, 3, C4)(torch.randn(1, 1, 9, 10))
    with pytest.raises(ShapeError, match="quarter turn"):
        act_image(C4.element(1), torch.randn(1, 9, 10))
    # Mirrors and half turns do map a rectangle onto itself: accepted.
    assert LiftingConv2d(1, 2, 3, D1)(torch.randn(1, 1, 9, 10)).shape == (1, 2, 2, 9, 10)


def test_interpolated_group_asked_to_be_exact():
    with pytest.raises(IncompatibleSchemeError, match="only approximately equivariant.*C8"):
        GroupConv2d(2, 2, 3, C(8), require_exact=True)
    assert not GroupConv2d(2, 2, 3, C(8)).exact


def test_incompatible_feature_types_in_sequence():
    with pytest.raises(IncompatibleSchemeError, match=r"expected input RegularRep\(D4\)"):
        EquivariantSequential(LiftingConv2d(1, 2, 3, C4), GroupConv2d(2, 2, 3, D4))


def test_element_of_another_group():
    with pytest.raises(IncompatibleSchemeError, match="is not in C4"):
        act_regular(C(8).element(1), torch.randn(1, 1, 4, 5, 5), C4)
    with pytest.raises(IncompatibleSchemeError, match="not a subgroup of C4"):
        SubgroupPool(C4, D1)
    with pytest.raises(IncompatibleSchemeError, match="not a subgroup of D4"):
        restrict(GroupConv2d(1, 1, 3, D4), C(8))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: GroupConv2d(2, 2, 3, C4, stride=0), "stride must be an integer ≥ 1"),
        (lambda: GroupConv2d(2, 2, 0, C4), "kernel_size must be an integer ≥ 1"),
        (lambda: GroupConv2d(0, 2, 3, C4), "in_channels must be an integer ≥ 1"),
        (lambda: GroupConv2d(2, 2, 3, C4, padding=-1), "invalid padding"),
        (lambda: GroupConv2d(2, 2, 3, C4, padding="full"), "invalid padding"),
        (lambda: GroupConv2d(2, 2, 3, C4, padding_mode="mirror"), "unknown padding_mode"),
        (lambda: GroupPool(C4, mode="median"), "unknown pooling mode"),
        (lambda: SpatialPool2d(2, stride=0), "stride must be an integer ≥ 1"),
        (lambda: PointwiseNonlinearity("swish"), "unknown activation"),
        (lambda: RelaxedGroupConv2d(1, 1, 3, C4, relaxation=-0.1), "invalid relaxation"),
        (lambda: CyclicGroup(0), "invalid rotation order"),
        (lambda: C4.element(1, flip=1), "a cyclic group has no reflections"),
        (lambda: GroupBatchNorm(2, C4, rep="quotient"), "unknown rep"),
    ],
)
def test_invalid_configuration(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_not_a_group():
    with pytest.raises(IncompatibleSchemeError, match="expected a finite planar group"):
        LiftingConv2d(1, 1, 3, "C4")


def test_strided_export_needs_input_size():
    with pytest.raises(ConfigError, match="needs input_size"):
        GroupConv2d(1, 1, 3, C4, stride=2).export()


def test_dtype_mismatch_and_integer_input():
    layer = GroupConv2d(1, 1, 3, C4)
    with pytest.raises(ShapeError, match="differs from the parameters"):
        layer(torch.randn(1, 1, 4, 5, 5, dtype=torch.float64))
    with pytest.raises(ShapeError, match="floating-point input"):
        layer(torch.ones(1, 1, 4, 5, 5, dtype=torch.long))


def test_input_too_small_for_the_sampling_grid():
    with pytest.raises(ShapeError, match="input too small"):
        GroupConv2d(1, 1, 5, C4, padding="valid")(torch.randn(1, 1, 4, 3, 3))


def test_pool_and_norm_layers_validate_their_input():
    with pytest.raises(ShapeError, match="wrong group-axis size"):
        GroupPool(D4)(torch.randn(1, 2, 4, 5, 5))
    with pytest.raises(ShapeError, match="expected"):
        GlobalPool()(torch.randn(3, 4))
    with pytest.raises(ShapeError, match="one value per channel"):
        GroupBatchNorm(2, C1 := C(1))(torch.randn(1, 2, C1.order, 1, 1))
    with pytest.raises(NonFiniteError, match="NaN or infinite entries"):
        NormNonlinearity(1, C4)(torch.full((1, 1, 4, 3, 3), float("nan")))


def test_relative_error_of_a_zero_output_is_refused():
    with pytest.raises(ShapeError, match="relative error is undefined"):
        equivariance_errors(lambda t: t * 0, C4, act_image, act_image, torch.randn(1, 1, 5, 5))


def test_reflect_padding_larger_than_the_input():
    layer = GroupConv2d(1, 1, 3, C4, stride=3, padding=2, padding_mode="reflect")
    with pytest.raises(ShapeError, match="reflect padding"):
        layer(torch.randn(1, 1, 4, 2, 2))


# -- inputs that used to escape as raw errors or pass silently --------------------------------


def test_empty_batch_gives_an_empty_output():
    # As torch's own layers (and ODENet) do: zero samples in, zero samples out.
    assert LiftingConv2d(1, 4, 3, D4)(torch.randn(0, 1, 9, 9)).shape == (0, 4, 8, 9, 9)
    assert GroupConv2d(2, 3, 3, C4, stride=2)(torch.randn(0, 2, 4, 9, 9)).shape == (0, 3, 4, 5, 5)
    assert GroupBatchNorm(2, C4)(torch.randn(0, 2, 4, 5, 5)).shape == (0, 2, 4, 5, 5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_input_is_refused_by_the_group_layers(bad):
    image = torch.randn(1, 1, 9, 9)
    image[0, 0, 4, 4] = bad
    with pytest.raises(NonFiniteError, match="LiftingConv2d: the input contains 1 NaN or infinite"):
        LiftingConv2d(1, 4, 3, D4)(image)
    field = torch.randn(1, 2, 4, 9, 9)
    field[0, 1, 2, 0, 0] = bad
    for layer in (
        GroupConv2d(2, 2, 3, C4),
        RelaxedGroupConv2d(2, 2, 3, C4, relaxation=0.1),
        GroupBatchNorm(2, C4),
        NormNonlinearity(2, C4),
    ):
        with pytest.raises(NonFiniteError, match="NaN or infinite entries — expected finite"):
            layer(field)


def test_meta_device_gives_shapes_and_a_device_mismatch_is_named():
    # meta tensors carry shapes only: a layer on the meta device infers the output shape.
    layer = GroupConv2d(2, 3, 3, D4, stride=2).to("meta")
    out = layer(torch.empty(4, 2, 8, 10, 10, device="meta"))
    assert out.device.type == "meta" and out.shape == (4, 3, 8, 5, 5)
    lifted = LiftingConv2d(1, 4, 3, D4).to("meta")(torch.empty(0, 1, 9, 9, device="meta"))
    assert lifted.shape == (0, 4, 8, 9, 9)
    with pytest.raises(ShapeError, match="different devices — expected a tensor on cpu"):
        LiftingConv2d(1, 4, 3, D4)(torch.empty(1, 1, 9, 9, device="meta"))
    with pytest.raises(ShapeError, match="different devices — expected a tensor on meta"):
        LiftingConv2d(1, 4, 3, D4).to("meta")(torch.randn(1, 1, 9, 9))
    with pytest.raises(ShapeError, match="different devices"):
        GroupBatchNorm(2, C4).to("meta")(torch.randn(2, 2, 4, 5, 5))


def test_the_sum_screen_neither_misses_nor_invents_a_non_finite_entry() -> None:
    # The input check screens with one sum. Opposite infinities sum to NaN (caught); finite
    # entries whose sum overflows to inf must pass (the exact check clears them).
    layer = GroupConv2d(1, 1, 3, C4)
    x = torch.zeros(1, 1, 4, 5, 5)
    x[0, 0, 0, 0, 0], x[0, 0, 1, 2, 2] = float("inf"), float("-inf")
    with pytest.raises(NonFiniteError, match="contains 2 NaN or infinite entries"):
        layer(x)
    huge = torch.full((1, 1, 4, 5, 5), 3e38)
    assert not torch.isfinite(huge.sum())
    assert layer(huge).shape == (1, 1, 4, 5, 5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("where", [(0, 0), (0, 6), (6, 6), (3, 0), (3, 3)])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_the_output_screen_sees_every_input_entry_even_through_zero_filters(bad, where, padding):
    # At stride 1 the convolutions screen one output channel instead of the whole input: a
    # non-finite entry anywhere (corners and edges included) must reach it, also when every
    # filter weight is zero (0·NaN and 0·inf are NaN) — this holds only if the convolution
    # backend multiplies every tap, which this test checks on the platform it runs on.
    field = torch.randn(2, 3, 4, 7, 7)
    field[1, 2, 3, where[0], where[1]] = bad
    image = torch.randn(2, 1, 7, 7)
    image[1, 0, where[0], where[1]] = bad
    for layer, x in (
        (GroupConv2d(3, 2, 3, C4, padding=padding), field),
        (LiftingConv2d(1, 2, 3, C4, padding=padding), image),
        (RelaxedGroupConv2d(3, 2, 3, C4, relaxation=0.1, padding=padding), field),
    ):
        with torch.no_grad():
            for p in layer.parameters():
                p.zero_()
        with pytest.raises(NonFiniteError, match="NaN or infinite entries"):
            layer(x)


def test_a_strided_layer_checks_the_whole_input() -> None:
    # Stride 2 with a 1×1 filter skips odd rows and columns: the output cannot witness them,
    # so a strided layer checks the input itself.
    field = torch.randn(1, 1, 4, 6, 6)
    field[0, 0, 1, 1, 1] = float("nan")
    layer = GroupConv2d(1, 1, 1, C4, stride=2, padding="valid")
    with pytest.raises(NonFiniteError, match="contains 1 NaN or infinite"):
        layer(field)


def test_finite_input_whose_output_overflows_passes_as_before() -> None:
    layer = GroupConv2d(1, 1, 3, C4, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    out = layer(torch.full((1, 1, 4, 5, 5), 3e37))
    assert not torch.isfinite(out).all()  # the output overflowed; the input was finite
