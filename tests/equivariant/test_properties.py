"""Property-based: every exact layer configuration is equivariant (hypothesis over the options)."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from structdl.equivariant import C1, C2, C4, D1, D2, D4, GroupConv2d, LiftingConv2d
from structdl.structure import check_equivariance

EXACT = [C1, C2, C4, D1, D2, D4]


@st.composite
def configurations(draw):
    group = draw(st.sampled_from(EXACT))
    kernel = draw(st.integers(1, 5))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, 2))
    mode = draw(st.sampled_from(["zeros", "replicate", "reflect", "circular"]))
    # At least 6 pixels: reflect padding (up to padding + stride − 1 = 4) needs more than that.
    height = draw(st.integers(max(kernel + 2, 6), 16))
    # Groups without quarter turns also act on rectangles.
    width = height if group.n == 4 else draw(st.integers(max(kernel + 2, 6), 16))
    lifting = draw(st.booleans())
    return group, kernel, stride, padding, mode, height, width, lifting


@settings(max_examples=40, deadline=None)
@given(configurations())
def test_every_exact_configuration_is_equivariant(config):
    group, kernel, stride, padding, mode, height, width, lifting = config
    torch.manual_seed(0)
    cls = LiftingConv2d if lifting else GroupConv2d
    layer = cls(2, 2, kernel, group, stride=stride, padding=padding, padding_mode=mode).double()
    with torch.no_grad():
        layer.bias.normal_()
    shape = (1, 2, height, width) if lifting else (1, 2, group.order, height, width)
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        result = check_equivariance(layer, group, layer.input_action, layer.output_action, x)
    assert result.ok, f"{config}: {result.reason}"
