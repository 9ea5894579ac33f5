"""The filter bank of exact groups as one gather: equal to the per-element stack, bit for bit.

``GroupConvBase._transformed_stack`` replaces ``stack([transform_filter(g, ψ) for g in G])`` by
a gather with cached positions and a gather-and-sum backward (``_GatherBank``). The reference
here is the explicit per-element stack, built with the public actions.
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
from structdl.equivariant._conv_base import _GatherBank
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
def test_gathered_bank_equals_the_stack_bit_for_bit(group, make) -> None:  # noqa: ANN001
    layer = make(group)
    bank, reference = layer.filter_bank(), _reference_bank(layer)
    assert torch.equal(bank, reference)
    grad = torch.randn_like(bank)
    params = [p for p in layer.parameters() if p is not layer.bias]
    got = torch.autograd.grad(bank, params, grad)
    want = torch.autograd.grad(reference, params, grad)
    for a, b in zip(got, want, strict=True):  # the sums over g run in another order
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_gather_is_cached_per_shape_and_follows_dtype_changes() -> None:
    layer = GroupConv2d(2, 2, 3, D4)
    layer.filter_bank()
    layer.filter_bank()
    assert len(layer._gather_cache) == 1
    layer = layer.double()
    assert torch.equal(layer.filter_bank(), _reference_bank(layer))
    assert layer.filter_bank().dtype == F64


def test_interpolated_groups_keep_the_stack() -> None:
    layer = GroupConv2d(1, 1, 3, C(8))
    base = layer._masked(layer.weight)
    stack = torch.stack(
        [layer.transform_filter(g, base, regular=True) for g in layer.group.elements()], dim=1
    )
    assert torch.equal(layer.filter_bank(), stack.reshape(8, 8, *stack.shape[-2:]))
    assert not layer._gather_cache  # nothing is gathered: rotations interpolate values


def test_gather_backward_passes_gradcheck_in_float64() -> None:
    layer = GroupConv2d(2, 1, 3, D4).double()
    layer.filter_bank()
    (plan,) = layer._gather_cache.values()
    weight = torch.randn(layer.weight.shape, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: _GatherBank.apply(w, plan), (weight,))
    assert torch.autograd.gradgradcheck(lambda w: _GatherBank.apply(w, plan), (weight,))


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


def test_no_grad_forward_skips_the_custom_backward() -> None:
    layer = GroupConv2d(2, 2, 3, C4)
    with torch.no_grad():
        bank = layer._transformed_stack(layer.weight, regular=True)
    assert bank.grad_fn is None
    bank = layer._transformed_stack(layer.weight, regular=True)
    assert type(bank.grad_fn).__name__ == "_GatherBankBackward"


@pytest.mark.parametrize("make", LAYERS[:3], ids=["lift3", "lift4", "group"])
def test_shared_filters_gather_by_one_small_row_index(make) -> None:  # noqa: ANN001
    # Output channel c reads only base filter c, so one index of the row size, shared by all
    # C_out rows, describes the bank (C_out times less index memory than a flat index).
    layer = make(D4)
    bank = layer.filter_bank()
    (plan,) = layer._gather_cache.values()
    assert plan.rows == layer.out_channels
    assert plan.index.numel() * plan.rows == bank.numel()
    assert torch.equal(bank, _reference_bank(layer))


def test_per_element_filters_fall_back_to_the_flat_index() -> None:
    # Relaxed layers hold one filter per element (leading |G| axis): rows are not blocks of
    # output channels, so the plan must be the flat one (rows = 1) — and still exact.
    layer = RelaxedGroupConv2d(2, 2, 3, C4, relaxation=0.3)
    bank = layer.filter_bank()
    (plan,) = layer._gather_cache.values()
    assert plan.rows == 1 and plan.index.numel() == bank.numel()
    assert torch.equal(bank, _reference_bank(layer))
