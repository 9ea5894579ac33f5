"""The two evaluation orders of a group convolution agree: filter bank vs turned inputs.

``expansion="bank"`` convolves with the expanded bank ``[T_g ψ]_g``; ``expansion="turn"``
convolves the ``|G|`` turned inputs ``L_{g⁻¹} f`` with the base filter ``ψ`` and turns the
results back, ``Φ(f)_g = T_g[(L_{g⁻¹} f) ⋆ ψ]``. Both are exact, so in float64 they agree to
rounding — outputs and gradients — for every exact group, stride, padding mode, kernel and
input size where turning applies (square input, unwidened window).
"""

from __future__ import annotations

import itertools

import pytest
import torch

from structdl import ConfigError, IncompatibleSchemeError
from structdl.equivariant import (
    C2,
    C4,
    D1,
    D4,
    GroupConv2d,
    LiftingConv2d,
    RelaxedGroupConv2d,
)
from structdl.equivariant.groups import C

F64 = torch.float64


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _pair(cls, group, **kwargs):  # noqa: ANN001, ANN202
    bank = cls(2, 3, group=group, expansion="bank", **kwargs).to(F64)
    turn = cls(2, 3, group=group, expansion="turn", **kwargs).to(F64)
    turn.load_state_dict(bank.state_dict())
    return bank, turn


def _input(cls, group, size: int, batch: int = 2) -> torch.Tensor:  # noqa: ANN001
    axis = (group.order,) if cls is GroupConv2d else ()
    return torch.randn(batch, 2, *axis, size, size, dtype=F64, requires_grad=True)


CASES = [
    (cls, group, stride, size, mode, k)
    for cls, group, stride, size, mode, k in itertools.product(
        [GroupConv2d, LiftingConv2d],
        [C2, C4, D1, D4],
        [1, 2, 3],
        [7, 8, 9],
        ["zeros", "reflect", "circular", "replicate"],
        [3, 4],
    )
]


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"{c[0].__name__}-{c[1].name}-s{c[2]}-n{c[3]}-{c[4]}-k{c[5]}"
)
def test_bank_and_turned_orders_agree_in_value_and_gradient(case) -> None:  # noqa: ANN001
    cls, group, stride, size, mode, k = case
    bank, turn = _pair(cls, group, kernel_size=k, stride=stride, padding_mode=mode)
    plan_h, _ = bank.sampling_plan(size, size)
    x = _input(cls, group, size)
    if plan_h.window != bank.bank_size:  # widened window: turning does not apply
        with pytest.raises(IncompatibleSchemeError, match="unwidened window"):
            turn(x)
        return
    out_bank, out_turn = bank(x), turn(x)
    assert out_turn.shape == out_bank.shape
    torch.testing.assert_close(out_turn, out_bank, rtol=0, atol=1e-12)
    cotangent = torch.randn_like(out_bank)
    grads_bank = torch.autograd.grad(out_bank, [x, *bank.parameters()], cotangent)
    grads_turn = torch.autograd.grad(out_turn, [x, *turn.parameters()], cotangent)
    for a, b in zip(grads_turn, grads_bank, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11)


@pytest.mark.parametrize("group", [C2, D1], ids=lambda g: g.name)
def test_turned_order_on_non_square_inputs_of_groups_without_quarter_turns(group) -> None:  # noqa: ANN001
    bank, turn = _pair(GroupConv2d, group, kernel_size=3)
    x = torch.randn(2, 2, group.order, 9, 12, dtype=F64)
    torch.testing.assert_close(turn(x), bank(x), rtol=0, atol=1e-12)


def test_turned_order_has_exact_second_derivatives() -> None:
    layer = GroupConv2d(2, 2, 3, D4, stride=2, expansion="turn").to(F64)
    x = torch.randn(1, 2, 8, 7, 7, dtype=F64, requires_grad=True)
    assert torch.autograd.gradgradcheck(layer, (x,))


def test_turned_order_follows_the_batch_size() -> None:
    # The turn gathers are cached per sample shape; a new batch size reuses them.
    bank, turn = _pair(GroupConv2d, C4, kernel_size=3)
    for batch in (3, 1, 5):
        x = _input(GroupConv2d, C4, 8, batch=batch)
        torch.testing.assert_close(turn(x), bank(x), rtol=0, atol=1e-12)


def test_auto_turns_small_maps_of_wide_layers_and_builds_the_bank_for_large_maps() -> None:
    # 32 → 32 fields: the bank has 32·4 · 32·4 · 9 = 147,456 entries; the turned inputs and
    # the output of a 2 × 8×8 batch 4·16,384 + 16,384 = 81,920, of an 8 × 32×32 batch 16×more.
    layer = GroupConv2d(32, 32, 3, C4)
    small = torch.randn(2, 32, 4, 8, 8)
    large = torch.randn(8, 32, 4, 32, 32)
    assert layer._turns_input(small, *layer.sampling_plan(8, 8))
    assert not layer._turns_input(large, *layer.sampling_plan(32, 32))
    # never for interpolated groups or per-element filters
    c8 = GroupConv2d(32, 32, 3, C(8))
    assert not c8._turns_input(torch.randn(2, 32, 8, 8, 8), *c8.sampling_plan(8, 8))
    relaxed = RelaxedGroupConv2d(32, 32, 3, C4, relaxation=0.1)
    assert not relaxed._turns_input(small, *relaxed.sampling_plan(8, 8))


def test_forced_turning_refuses_what_it_cannot_do_and_unknown_orders_are_refused() -> None:
    with pytest.raises(ConfigError, match="expansion"):
        GroupConv2d(2, 2, 3, C4, expansion="fft")
    with pytest.raises(IncompatibleSchemeError, match="unwidened window"):
        GroupConv2d(2, 2, 3, C4, stride=2, expansion="turn")(torch.randn(1, 2, 4, 8, 8))
    with pytest.raises(IncompatibleSchemeError, match="exact group"):
        GroupConv2d(2, 2, 3, C(8), expansion="turn")(torch.randn(1, 2, 8, 9, 9))
