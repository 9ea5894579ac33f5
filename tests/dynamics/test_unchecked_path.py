"""ODENet's validate-once path: same result as the public step-by-step API, same rejections.

ODENet validates its input, its step sizes and its final state once per forward pass and
advances through the integrators' unchecked ``_step``; the public ``Integrator.step`` and
``VectorField.__call__`` keep validating every call. These tests pin both halves.
"""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch
from torch import Tensor

from structdl import NonFiniteError, ShapeError, StepSizeError
from structdl.dynamics import (
    Euler,
    GradientFlow,
    HamiltonianRidge,
    ImplicitMidpoint,
    Integrator,
    ODENet,
    Residual,
    RungeKutta,
    SecondOrder,
    SeparableHamiltonian,
    StormerVerlet,
    Strang,
    SymplecticEuler,
    Yoshida4,
)
from structdl.dynamics._base import State, VectorField, all_finite, state_add
from structdl.dynamics.integrators import PartitionedRungeKutta

F64 = torch.float64


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _manual(net: ODENet, x: State) -> State:
    """The structured part of ``net`` written with the public, validating API only."""
    h = net.step_sizes()
    steps = h.unbind(0) if h.requires_grad else h.tolist()
    z: State = x
    if net.embed == "phase":
        z = (x, torch.zeros_like(x))  # type: ignore[arg-type]
    t: float | Tensor = 0.0
    for k in range(net.steps):
        z = net.integrator.step(net.field(k), t, z, steps[k])
        t = t + steps[k]
    return z


def _parts(z: State) -> tuple[Tensor, ...]:
    return z if isinstance(z, tuple) else (z,)


def _assert_bitwise(a: State, b: State) -> None:
    for u, v in zip(_parts(a), _parts(b), strict=True):
        assert torch.equal(u, v), float((u - v).detach().abs().max())


def _tensor_net(integrator: Integrator, *, per_layer: bool, **kwargs: object) -> ODENet:
    if per_layer:
        return ODENet([Residual(3, width=5) for _ in range(4)], integrator, **kwargs)
    return ODENet(Residual(3, width=5), integrator, steps=4, **kwargs)


@pytest.mark.parametrize(
    "integrator",
    [Euler(), RungeKutta("rk4"), RungeKutta("ssp_rk3"), RungeKutta("gauss4"), ImplicitMidpoint()],
    ids=lambda i: i.name,
)
@pytest.mark.parametrize("layers", ["shared", "per_layer"])
def test_tensor_states_match_public_steps_bit_for_bit(integrator, layers: str) -> None:
    net = _tensor_net(integrator, per_layer=layers == "per_layer", T=0.7)
    x = torch.randn(6, 3)
    _assert_bitwise(net(x), _manual(net, x))


@pytest.mark.parametrize(
    ("field", "integrator"),
    [
        (SeparableHamiltonian(3, width=4), StormerVerlet()),
        (SeparableHamiltonian(3, width=4), StormerVerlet("drift-kick-drift")),
        (SecondOrder(3), SymplecticEuler()),
        (SecondOrder(3), SymplecticEuler("drift-kick")),
        (SeparableHamiltonian(3), Yoshida4()),
        (SeparableHamiltonian(3), PartitionedRungeKutta()),
        (HamiltonianRidge(3, n_ridges=2), Strang()),  # default _step: the validated step
    ],
    ids=lambda v: getattr(v, "name", None),
)
def test_partitioned_states_match_public_steps_bit_for_bit(field, integrator) -> None:
    net = ODENet(field, integrator, steps=3, T=0.9)
    x = (torch.randn(5, 3), torch.randn(5, 3))
    _assert_bitwise(net(x), _manual(net, x))


def test_embedded_network_matches_public_steps_bit_for_bit() -> None:
    net = ODENet(SeparableHamiltonian(2), StormerVerlet(), steps=3, embed="phase")
    x = torch.randn(4, 2)
    q, p = _manual(net, x)  # type: ignore[misc]
    assert torch.equal(net(x), torch.cat((q, p), dim=-1))


def test_learned_steps_match_public_steps_and_gradients_bit_for_bit() -> None:
    net = ODENet(Residual(3), RungeKutta("rk4"), steps=4, learn_steps=True).double()
    with torch.no_grad():
        net.step_logits.copy_(torch.tensor([0.3, -0.2, 0.1, 0.5], dtype=F64))
    x = torch.randn(5, 3, dtype=F64)
    params = list(net.parameters())
    out, ref = net(x), _manual(net, x)
    _assert_bitwise(out, ref)
    grads = torch.autograd.grad(out.sum(), params)
    ref_grads = torch.autograd.grad(ref.sum(), params)  # type: ignore[union-attr]
    assert all(torch.equal(a, b) for a, b in zip(grads, ref_grads, strict=True))
    assert grads[0].abs().sum() > 0  # the step logits do get a gradient


def test_clipped_steps_match_public_steps_bit_for_bit() -> None:
    net = ODENet(GradientFlow(3, width=6), Euler(), steps=5, T=20.0, step_rule="clip")
    # The power iteration behind the bound advances on every call; freeze one result so that
    # both sides use the same clipped steps.
    h = net.step_sizes()
    assert float(h.detach().max()) < 4.0  # the clip is active (T/K = 4)
    net.step_sizes = lambda: h  # type: ignore[method-assign]
    x = torch.randn(4, 3)
    _assert_bitwise(net(x), _manual(net, x))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_forward_rejects_non_finite_input(bad: float) -> None:
    x = torch.zeros(3, 2)
    x[1, 0] = bad
    for net in (
        ODENet(GradientFlow(2), Euler(), steps=2),
        ODENet([Residual(2) for _ in range(3)], RungeKutta("rk4")),
    ):
        with pytest.raises(NonFiniteError, match="NaN or infinite"):
            net(x)
        assert torch.isfinite(net(torch.zeros(3, 2))).all()  # negative control: clean input
    net = ODENet(SeparableHamiltonian(2), StormerVerlet(), steps=2, embed="phase")
    with pytest.raises(NonFiniteError, match="NaN or infinite"):
        net(x)
    net = ODENet(SeparableHamiltonian(2), StormerVerlet(), steps=2)
    with pytest.raises(NonFiniteError, match="NaN or infinite"):
        net((torch.zeros(3, 2), x))


def test_forward_reports_divergence_once_at_the_end() -> None:
    field = Residual(1)
    with torch.no_grad():
        field.weight.zero_()
        field.bias.fill_(10.0)  # tanh(10) ≈ 1: each step adds ≈ h
    diverging = ODENet(field, Euler(), steps=1, T=3e38)
    with pytest.raises(NonFiniteError, match="diverged"):
        diverging(torch.full((2, 1), 3e38))
    finite = ODENet(field, Euler(), steps=1, T=1.0)  # negative control: same field, small T
    assert torch.isfinite(finite(torch.full((2, 1), 3e38))).all()


def test_learned_steps_are_validated_once() -> None:
    net = ODENet(Residual(2), Euler(), steps=3, learn_steps=True)
    with torch.no_grad():
        net.step_logits[1] = float("nan")
    with pytest.raises(StepSizeError, match="not finite"):
        net(torch.zeros(2, 2))


def test_per_layer_dtype_mismatch_is_reported_at_entry() -> None:
    fields = [Residual(2), Residual(2), Residual(2).double()]
    net = ODENet(fields, Euler())
    with pytest.raises(ShapeError, match="Residual: ODENet input has the wrong dtype"):
        net(torch.zeros(3, 2))
    fields[2].float()  # negative control: consistent dtypes run
    assert net(torch.zeros(3, 2)).shape == (3, 2)


def test_public_step_still_validates_every_call() -> None:
    field = Residual(2)
    y = torch.zeros(3, 2)
    with pytest.raises(NonFiniteError, match="NaN or infinite"):
        Euler().step(field, 0.0, torch.full((3, 2), float("nan")), 0.1)
    with pytest.raises(StepSizeError, match="not finite"):
        RungeKutta("rk4").step(field, 0.0, y, torch.tensor(float("nan")))
    with pytest.raises(ShapeError, match=r"wrong shape — expected \(batch, 2\)"):
        StormerVerlet().step(SeparableHamiltonian(2), 0.0, (torch.zeros(3, 3),) * 2, 0.1)
    with pytest.raises(NonFiniteError, match="NaN or infinite"):
        field(0.0, torch.full((3, 2), float("inf")))
    assert torch.equal(Euler().step(field, 0.0, y, 0.1), Euler().advance(field, 0.0, y, 0.1))


def test_fields_are_evaluated_through_their_public_unchecked_path() -> None:
    # Integrators evaluate a validated state through `evaluate` (no module call, no per-call
    # validation); hooks run where the field itself is called.
    field = Residual(2)
    calls: list[int] = []
    field.register_forward_hook(lambda module, args, out: calls.append(1))
    y = torch.randn(2, 2)
    out = ODENet(field, RungeKutta("rk4"), steps=3)(y)
    assert calls == []
    field(0.0, y)
    assert calls == [1]
    assert torch.equal(field.evaluate(0.0, y), field(0.0, y))
    assert torch.isfinite(out).all()


class _Heun(Integrator):
    """A third-party integrator: it implements `advance`, the base class validates."""

    order: ClassVar[int] = 2
    calls = 0

    def advance(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        type(self).calls += 1
        k1 = field(t, y)
        k2 = field(t + h, state_add(y, k1, h))
        return state_add(y, state_add(k1, k2), 0.5 * h)


def test_third_party_integrator_runs_through_its_public_step() -> None:
    net = ODENet(Residual(2), _Heun(), steps=3)
    x = torch.randn(4, 2)
    before = _Heun.calls
    out = net(x)
    assert _Heun.calls - before == 3
    _assert_bitwise(out, _manual(net, x))


def test_all_finite_matches_isfinite() -> None:
    assert all_finite(torch.randn(4, 5))
    assert all_finite(torch.empty(0, 3))
    for bad in (float("nan"), float("inf"), -float("inf")):
        x = torch.randn(4, 5, dtype=F64)
        x[2, 3] = bad
        assert not all_finite(x)
        assert not all_finite(x.requires_grad_())
