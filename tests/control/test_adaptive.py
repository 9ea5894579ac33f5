"""Embedded pairs, adaptive stepping, per-sample control, underflow errors, gradient modes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from structdl._errors import ConfigError, StepSizeError
from structdl.control import EmbeddedPair, StepUnderflowError, odeint, solve
from structdl.control.embedded import PAIRS


def test_pair_orders_are_derived_from_the_coefficients() -> None:
    orders = {name: (p.order, p.embedded_order, p.fsal) for name, p in PAIRS.items()}
    assert orders == {"bosh3": (3, 2, True), "dopri5": (5, 4, True), "tsit5": (5, 4, True)}
    with pytest.raises(ConfigError, match="embedded order below"):
        EmbeddedPair([[0, 0], [1, 0]], [0.5, 0.5], [0.5, 0.5], "same-order")


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_adaptive_solution_meets_the_tolerance(pair: str) -> None:
    y0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)

    def rotation(t, y):
        return torch.stack((-y[:, 1], y[:, 0]), dim=1)

    y, stats = solve(rotation, y0, 0.0, 2.0, pair=pair, rtol=1e-8, atol=1e-10)
    exact = torch.tensor([[math.cos(2.0), math.sin(2.0)]], dtype=torch.float64)
    assert float((y - exact).abs().max()) < 1e-6
    assert stats.accepted > 0 and stats.nfe > stats.accepted
    tighter, tight_stats = solve(rotation, y0, 0.0, 2.0, pair=pair, rtol=1e-10, atol=1e-12)
    assert tight_stats.nfe > stats.nfe
    assert float((tighter - exact).abs().max()) < float((y - exact).abs().max()) + 1e-12


def _vdp(t, y):
    x, v, mu = y[:, :1], y[:, 1:2], y[:, 2:]
    return torch.cat((v, mu * (1 - x**2) * v - x, torch.zeros_like(mu)), dim=1)


def test_per_sample_control_saves_work_on_mixed_stiffness() -> None:
    mu = torch.tensor([[0.1], [0.2], [0.3], [8.0]], dtype=torch.float64)
    y0 = torch.cat((torch.full_like(mu, 2.0), torch.zeros_like(mu), mu), dim=1)
    joint, joint_stats = solve(_vdp, y0, 0.0, 10.0, rtol=1e-6, atol=1e-9)
    single, single_stats = solve(_vdp, y0, 0.0, 10.0, rtol=1e-6, atol=1e-9, per_sample=True)
    assert single_stats.row_evaluations < 0.6 * joint_stats.row_evaluations
    assert float((joint - single).abs().max()) < 1e-3
    # Each row of the per-sample solve equals the row solved alone.
    alone, _ = solve(_vdp, y0[:1], 0.0, 10.0, rtol=1e-6, atol=1e-9)
    assert float((alone - single[:1]).abs().max()) < 1e-9


def test_step_underflow_reports_time_step_and_component() -> None:
    def blow_up(t, y):
        return torch.cat((torch.zeros_like(y[:, :1]), y[:, 1:] ** 2), dim=1)

    y0 = torch.tensor([[0.0, 1.0]], dtype=torch.float64)  # y₂ = 1/(1 − t) blows up at t = 1
    with pytest.raises(StepUnderflowError) as info:
        solve(blow_up, y0, 0.0, 2.0, min_step=1e-8)
    assert 0.9 < info.value.t < 1.0
    assert info.value.step < 1e-8
    assert info.value.component == (0, 1)
    assert "t=" in str(info.value) and "component (0, 1)" in str(info.value)
    with pytest.raises(StepUnderflowError):
        solve(blow_up, y0, 0.0, 2.0, min_step=1e-8, per_sample=True)
    assert issubclass(StepUnderflowError, StepSizeError)


def test_gradient_modes_agree() -> None:
    torch.manual_seed(0)
    field = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    y0 = torch.randn(5, 3, dtype=torch.float64)
    grads = {}
    for mode in ("discretise", "checkpoint", "adjoint"):
        field.zero_grad()
        leaf = y0.clone().requires_grad_(True)
        stats: dict = {}
        out = odeint(
            lambda t, y: field(y),
            leaf,
            grad_mode=mode,
            rtol=1e-7,
            atol=1e-9,
            params=list(field.parameters()),
            stats=stats,
        )
        out.square().sum().backward()
        grads[mode] = [leaf.grad.clone()] + [p.grad.clone() for p in field.parameters()]
        assert stats["forward"].accepted > 0
        if mode == "adjoint":
            assert stats["backward"].accepted > 0
    for a, b in zip(grads["discretise"], grads["checkpoint"], strict=True):
        assert float((a - b).abs().max()) < 1e-12  # same discrete gradient
    for a, b in zip(grads["discretise"], grads["adjoint"], strict=True):
        assert float((a - b).abs().max()) < 1e-4  # continuous adjoint: to the tolerance


def test_bad_solver_inputs_are_refused() -> None:
    y0 = torch.ones(1, 1)
    with pytest.raises(ConfigError, match="grad_mode"):
        odeint(lambda t, y: y, y0, grad_mode="magic")
    with pytest.raises(ConfigError, match="unknown embedded pair"):
        solve(lambda t, y: y, y0, 0.0, 1.0, pair="rk45")
    with pytest.raises(ConfigError, match="rtol"):
        solve(lambda t, y: y, y0, 0.0, 1.0, rtol=-1.0)
    with pytest.raises(StepSizeError, match="differ"):
        solve(lambda t, y: y, y0, 1.0, 1.0)
