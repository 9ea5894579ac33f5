"""The filter bank of exact groups as one gather: equal to the per-element stack, bit for bit.

``GroupConvBase._transformed_stack`` replaces ``stack([transform_filter(g, ψ) for g in G])`` by
one ``index_select`` by positions worked out at construction (backward: autograd's own
``index_add``). The reference here is the explicit per-element stack, built with the public
actions.
"""

from __future__ import annotations

import pytest
import torch

from structdl.equivariant import (
    C2,
    C4,
    D1,
    D4,
    GroupConv2d,
    LiftingConv2d,
    RelaxedGroupConv2d,
    act_image,
    act_regular,
)
from structdl.equivariant._conv_base import _gather
from structdl.equivariant.groups import C

F64 = torch.float64


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _reference_bank(layer: torch.nn.Module) -> torch.Tensor:
    """The bank written out element by element with the public group actions."""
    group = layer.group
    regular = not isinstance(layer, LiftingConv2d) and not getattr(layer, "lifting", False)
    blocks = []
    for i, g in enumerate(group.elements()):
        base = layer.weight
        if isinstance(layer, RelaxedGroupConv2d):
            base = base + layer.relaxation * layer.deviation[i]
        blocks.append(act_regular(g, base, group) if regular else act_image(g, base))
    bank = torch.stack(blocks, dim=1)
    return bank.reshape(bank.shape[0] * bank.shape[1], -1, *bank.shape[-2:])


LAYERS = [
    lambda g: LiftingConv2d(2, 3, 3, g),
    lambda g: LiftingConv2d(1, 2, 4, g),  # even kernel
    lambda g: GroupConv2d(2, 3, 3, g),
    lambda g: RelaxedGroupConv2d(2, 2, 3, g, relaxation=0.3),
    lambda g: RelaxedGroupConv2d(2, 2, 3, g, relaxation=0.3, lifting=True),
]


@pytest.mark.parametrize("group", [C2, C4, D1, D4], ids=lambda g: g.name)
@pytest.mark.parametrize("make", LAYERS, ids=["lift3", "lift4", "group", "relaxed", "relax_lift"])
def test_gathered_bank_equals_the_stack_bit_for_bit(group, make) -> None:
    layer = make(group)
    bank, reference = layer.filter_bank(), _reference_bank(layer)
    assert torch.equal(bank, reference)
    grad = torch.randn_like(bank)
    params = [p for p in layer.parameters() if p is not layer.bias]
    got = torch.autograd.grad(bank, params, grad)
    want = torch.autograd.grad(reference, params, grad)
    for a, b in zip(got, want, strict=True):  # the sums over g run in another order
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_gather_positions_are_geometry_buffers_that_follow_the_module() -> None:
    layer = GroupConv2d(2, 2, 3, D4)
    buffers = dict(layer.named_buffers())
    assert buffers["bank_index"].dtype == torch.long
    assert "bank_index" not in layer.state_dict()  # derived from the group, not state
    layer = layer.double()
    assert torch.equal(layer.filter_bank(), _reference_bank(layer))
    assert layer.filter_bank().dtype == F64


def test_interpolated_groups_equal_the_per_element_stack() -> None:
    for layer in (
        GroupConv2d(2, 2, 3, C(8)),
        LiftingConv2d(2, 3, 5, C(8)),
        GroupConv2d(1, 2, 3, C(6)).double(),
        RelaxedGroupConv2d(2, 2, 3, C(8), relaxation=0.3),
    ):
        regular = not isinstance(layer, LiftingConv2d) and not getattr(layer, "lifting", False)
        per_element = isinstance(layer, RelaxedGroupConv2d)
        base = layer.weight
        if per_element:
            base = base + layer.relaxation * layer.deviation
        base = layer._masked(base)
        stack = torch.stack(
            [
                layer.transform_filter(g, base[i] if per_element else base, regular=regular)
                for i, g in enumerate(layer.group.elements())
            ],
            dim=1,
        )
        want = stack.reshape(stack.shape[0] * stack.shape[1], -1, *stack.shape[-2:])
        torch.testing.assert_close(layer.filter_bank(), want, rtol=0, atol=1e-6)
        assert not hasattr(layer, "bank_index")  # nothing is gathered: rotations interpolate


def _gather_of(layer: torch.nn.Module):
    return lambda w: _gather(w, layer.bank_index, layer._bank_rows, layer._bank_shape)


@pytest.mark.parametrize(
    "make", [lambda: GroupConv2d(2, 1, 3, D4), lambda: LiftingConv2d(1, 2, 3, C4)]
)
def test_gather_backward_passes_gradcheck_in_float64(make) -> None:
    layer = make().double()
    weight = torch.randn(layer.weight.shape, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(_gather_of(layer), (weight,))
    assert torch.autograd.gradgradcheck(_gather_of(layer), (weight,))


def test_bank_gradient_is_the_sum_of_the_inverse_transforms() -> None:
    # The adjoint of the gather: every base entry collects the bank gradient at its |G|
    # positions, i.e. the sum over g of the inverse transform of block g.
    layer = GroupConv2d(2, 3, 3, D4).double()
    cotangent = torch.randn_like(layer.filter_bank())
    (got,) = torch.autograd.grad(layer.filter_bank(), [layer.weight], cotangent)
    blocks = cotangent.view(3, D4.order, 2, D4.order, 3, 3)
    want = sum(act_regular(D4.inverse(g), blocks[:, i], D4) for i, g in enumerate(D4.elements()))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_gradient_of_a_layer_under_torch_func() -> None:
    # torch.func transforms take the plain-gather path; the result must be the same.
    layer = GroupConv2d(1, 1, 3, C4).double()
    x = torch.randn(1, 1, 4, 5, 5, dtype=F64)
    params = dict(layer.named_parameters())

    def loss(p: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.func.functional_call(layer, p, (x,)).square().sum()

    by_func = torch.func.grad(loss)(params)
    by_autograd = torch.autograd.grad(loss(params), list(params.values()))
    for a, b in zip(by_func.values(), by_autograd, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def _graph(tensor: torch.Tensor) -> list[str]:
    """Names of the autograd nodes from ``tensor`` back to the parameters."""
    names, node = [], tensor.grad_fn
    while node is not None and type(node).__name__ != "AccumulateGrad":
        names.append(type(node).__name__)
        node = node.next_functions[0][0]
    return names


def test_bank_and_bias_are_one_native_gather_each() -> None:
    # No Python autograd.Function: building the bank is one index_select between two views
    # (backward: one index_add), the bias one index_select.
    layer = GroupConv2d(2, 2, 3, C4)
    assert _graph(layer.filter_bank()) == ["ViewBackward0", "IndexSelectBackward0", "ViewBackward0"]
    assert _graph(layer._expanded_bias()) == ["IndexSelectBackward0"]
    assert torch.equal(layer._expanded_bias(), layer.bias.repeat_interleave(C4.order))
    assert "bias_index" not in layer.state_dict()
    with torch.no_grad():
        assert layer.filter_bank().grad_fn is None


@pytest.mark.parametrize("make", LAYERS[:3], ids=["lift3", "lift4", "group"])
def test_shared_filters_gather_by_one_small_row_index(make) -> None:
    # Output channel c reads only base filter c, so one index of the row size, shared by all
    # C_out rows, describes the bank (C_out times less index memory than a flat index).
    layer = make(D4)
    bank = layer.filter_bank()
    assert layer._bank_rows == layer.out_channels
    assert layer.bank_index.numel() * layer._bank_rows == bank.numel()
    assert torch.equal(bank, _reference_bank(layer))


def test_per_element_filters_fall_back_to_the_flat_index() -> None:
    # Relaxed layers hold one filter per element (leading |G| axis): rows are not blocks of
    # output channels, so the plan must be the flat one (rows = 1) — and still exact.
    layer = RelaxedGroupConv2d(2, 2, 3, C4, relaxation=0.3)
    bank = layer.filter_bank()
    assert layer._bank_rows == 1 and layer.bank_index.numel() == bank.numel()
    assert torch.equal(bank, _reference_bank(layer))
