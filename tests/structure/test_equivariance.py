"""check_equivariance: circular convolutions commute with image shifts, zero-padded ones do not."""

from __future__ import annotations

import pytest
import torch
from _structure_maps import shift_action
from torch import nn

from structdl import ShapeError, StructureViolation
from structdl.structure import assert_equivariance, check_equivariance, tolerance

DTYPES = [torch.float32, torch.float64]
SHIFTS = [(0, 0), (1, 0), (0, 2), (3, 1), (-2, -3)]


def conv(padding_mode: str, dtype: torch.dtype) -> nn.Module:
    torch.manual_seed(0)
    layer = nn.Conv2d(2, 3, kernel_size=3, padding=1, padding_mode=padding_mode, dtype=dtype)
    return nn.Sequential(layer, nn.Tanh())


def images(dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(4, 2, 8, 8, generator=torch.Generator().manual_seed(0), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_circular_conv_is_shift_equivariant(dtype):
    result = check_equivariance(
        conv("circular", dtype), SHIFTS, shift_action, shift_action, images(dtype)
    )
    assert result.ok, result.reason
    assert result.worst <= tolerance(dtype).equivariance
    assert "float64" in result.reason


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_padded_conv_is_not_and_worst_element_is_named(dtype):
    result = check_equivariance(
        conv("zeros", dtype), SHIFTS, shift_action, shift_action, images(dtype)
    )
    assert not result.ok
    assert result.worst > 1e-2  # boundary effects: a visible fraction of the output
    assert "worst g = (" in result.reason
    assert "worst g = (0, 0)" not in result.reason  # the identity is never the worst


@pytest.mark.parametrize("dtype", DTYPES)
def test_group_object_with_elements_and_plain_function(dtype):
    class Shifts:
        def elements(self):
            return iter(SHIFTS)

    weight = torch.randn(2, 2, generator=torch.Generator().manual_seed(1), dtype=dtype)

    def channel_mix(x):
        # Mixing channels pointwise commutes with every spatial shift.
        return torch.einsum("oc,bchw->bohw", weight, x)

    assert check_equivariance(channel_mix, Shifts(), shift_action, shift_action, images(dtype)).ok

    def flip_rows(x):
        return x.flip(-2)

    assert not check_equivariance(flip_rows, Shifts(), shift_action, shift_action, images(dtype)).ok


def test_float32_check_uses_float64_reference_copy():
    module = conv("circular", torch.float32)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    result = check_equivariance(module, SHIFTS, shift_action, shift_action, images(torch.float32))
    assert "float64 copy" in result.reason
    # The module under test is not converted in place.
    assert all(v.dtype == torch.float32 for v in module.state_dict().values())
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_actions_that_reject_float64_fall_back_to_input_dtype():
    def float32_only_action(g, x):
        if x.dtype != torch.float32:
            raise TypeError("this action only supports float32")
        return shift_action(g, x)

    result = check_equivariance(
        conv("circular", torch.float32),
        SHIFTS,
        float32_only_action,
        float32_only_action,
        images(torch.float32),
    )
    assert result.ok, result.reason
    assert "float64 reference not supported" in result.reason


def test_action_changing_shape_is_a_shape_error():
    with pytest.raises(ShapeError, match="differ in shape"):
        check_equivariance(
            conv("circular", torch.float64),
            SHIFTS,
            shift_action,
            lambda g, y: y[:, :1],
            images(torch.float64),
        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_assert_equivariance_raises(dtype):
    with pytest.raises(StructureViolation, match=r"equivariance under 5 group elements VIOLATED"):
        assert_equivariance(conv("zeros", dtype), SHIFTS, shift_action, shift_action, images(dtype))
