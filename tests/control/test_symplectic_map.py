"""The one-step state–costate map is symplectic for the adjoint rule, and not otherwise."""

from __future__ import annotations

import pytest
import torch

from structdl._errors import ConfigError
from structdl.control import StateCostateStep
from structdl.dynamics import (
    Euler,
    ImplicitMidpoint,
    ODENet,
    Residual,
    RungeKutta,
    SeparableHamiltonian,
    StormerVerlet,
)
from structdl.structure import check_symplectic, guarantees
from structdl.structure.properties import Symplectic
from structdl.structure.testing import assert_preserves


def _net(kind: str) -> tuple[ODENet, int]:
    torch.manual_seed(0)
    if kind == "verlet":
        return ODENet(
            [SeparableHamiltonian(3, width=5) for _ in range(3)], StormerVerlet()
        ).double(), 12
    integrator = {"euler": Euler(), "rk4": RungeKutta("rk4"), "gauss2": ImplicitMidpoint()}[kind]
    return ODENet([Residual(3, width=5) for _ in range(3)], integrator).double(), 6


@pytest.mark.parametrize("kind", ["euler", "rk4", "gauss2", "verlet"])
def test_adjoint_map_is_symplectic(kind: str) -> None:
    net, d = _net(kind)
    step = StateCostateStep(net, 1)
    assert Symplectic() in guarantees(step)
    z = torch.randn(5, d, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    result = check_symplectic(step, z, atol=1e-12)
    assert result.ok, result.reason
    assert_preserves(step, z)


@pytest.mark.parametrize("kind", ["euler", "rk4", "verlet"])
def test_non_adjoint_costate_rule_fails(kind: str) -> None:
    net, d = _net(kind)
    step = StateCostateStep(net, 1, rule="forward")
    assert Symplectic() not in guarantees(step)
    z = torch.randn(5, d, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert not check_symplectic(step, z, atol=1e-12).ok


def test_map_advances_the_costate_backwards_consistently() -> None:
    net, d = _net("rk4")
    step = StateCostateStep(net, 0)
    z = torch.randn(2, d, dtype=torch.float64)
    out = step(z)
    x = z[:, :3].clone().requires_grad_(True)
    phi = net.integrator.step(net.field(0), 0.0, x, float(net.step_sizes()[0]))
    (back,) = torch.autograd.grad(phi, x, grad_outputs=out[:, 3:])
    assert float((back - z[:, 3:]).abs().max()) < 1e-12  # λ_k = DΦᵀ λ_{k+1}


def test_bad_rule_is_refused() -> None:
    net, _ = _net("euler")
    with pytest.raises(ConfigError, match="costate rule"):
        StateCostateStep(net, 0, rule="guess")
