"""Discrete costates by the adjoint partitioned Runge–Kutta method against autograd (float64)."""

from __future__ import annotations

import pytest
import torch

from structdl._errors import IncompatibleSchemeError, ShapeError
from structdl.control import adjoint_tableau, layer_hamiltonian, pontryagin, stage_method
from structdl.dynamics import (
    Euler,
    ImplicitMidpoint,
    ODENet,
    Residual,
    RungeKutta,
    SeparableHamiltonian,
    StormerVerlet,
)
from structdl.dynamics.tableau import TABLEAUX, PartitionedTableau, midpoint

BAR = 1e-10


def _loss(out):
    parts = out if isinstance(out, tuple) else (out,)
    return sum(0.3 * (p**2).sum() + p.sin().sum() for p in parts)


def _net(kind: str, *, learn_steps: bool = False, layers: int = 5) -> ODENet:
    if kind == "verlet":
        fields = [SeparableHamiltonian(3, width=5) for _ in range(layers)]
        return ODENet(fields, StormerVerlet(), learn_steps=learn_steps).double()
    integrators = {
        "euler": Euler(),
        "rk4": RungeKutta("rk4"),
        "gauss2": ImplicitMidpoint(),
        "gauss4": RungeKutta("gauss4"),
    }
    fields = [Residual(3, width=5) for _ in range(layers)]
    return ODENet(fields, integrators[kind], learn_steps=learn_steps).double()


def _input(net: ODENet, gen: torch.Generator):
    x = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    if "partitioned" in net.field(0).kinds:
        return x, torch.randn(6, 3, generator=gen, dtype=torch.float64)
    return x


def _reference_costates(net: ODENet, states: list) -> list:
    """∂loss/∂z_k by autograd on the remaining layers started from a detached leaf z_k."""
    h = net.step_sizes().detach()
    out = []
    for k in range(net.steps + 1):
        start = states[k]
        parts = start if isinstance(start, tuple) else (start,)
        leaves = tuple(p.detach().clone().requires_grad_(True) for p in parts)
        z = leaves if isinstance(start, tuple) else leaves[0]
        t = float(h[:k].sum())
        for j in range(k, net.steps):
            z = net.integrator.step(net.field(j), t, z, float(h[j]))
            t += float(h[j])
        out.append(torch.autograd.grad(_loss(z), leaves))
    return out


@pytest.mark.parametrize("kind", ["euler", "rk4", "gauss2", "gauss4", "verlet"])
@pytest.mark.parametrize("learn_steps", [False, True])
def test_costates_and_gradients_equal_autograd(kind: str, learn_steps: bool) -> None:  # noqa: FBT001
    torch.manual_seed(0)
    net = _net(kind, learn_steps=learn_steps)
    if learn_steps:
        with torch.no_grad():
            net.step_logits.copy_(0.3 * torch.randn(net.steps, dtype=torch.float64))
    x = _input(net, torch.Generator().manual_seed(1))
    sol = pontryagin(net, x, _loss)
    reference = _reference_costates(net, sol.states)
    for lam, ref in zip(sol.costates, reference, strict=True):
        lam_parts = lam if isinstance(lam, tuple) else (lam,)
        for a, b in zip(lam_parts, ref, strict=True):
            assert float((a - b).abs().max()) < BAR
    # Parameter (and step-logit) gradients against autograd on the whole network.
    net.zero_grad()
    _loss(net(x)).backward()
    for name, param in net.named_parameters():
        assert float((sol.parameter_grads[name] - param.grad).abs().max()) < BAR, name
    assert float((sol.loss - _loss(net(x)).detach()).abs()) < BAR


def test_step_size_gradients_equal_autograd() -> None:
    torch.manual_seed(0)
    net = _net("rk4")
    x = _input(net, torch.Generator().manual_seed(2))
    sol = pontryagin(net, x, _loss)
    h = net.step_sizes().detach().clone().requires_grad_(True)
    z, t = x, 0.0
    for k in range(net.steps):
        z = net.integrator.step(net.field(k), t, z, h[k])
        t = t + h[k]
    (grad,) = torch.autograd.grad(_loss(z), h)
    assert float((sol.step_grads - grad).abs().max()) < BAR


def test_shared_field_head_and_embedding() -> None:
    torch.manual_seed(0)
    fields = [SeparableHamiltonian(3, width=4) for _ in range(4)]
    net = ODENet(
        fields,
        StormerVerlet("drift-kick-drift"),
        embed="phase_linear",
        learn_steps=True,
        head=torch.nn.Linear(6, 2),
    ).double()
    with torch.no_grad():
        net.embed_weight.copy_(0.2 * torch.randn(3, 3))
    x = torch.randn(5, 3, dtype=torch.float64)
    sol = pontryagin(net, x, _loss)
    net.zero_grad()
    _loss(net(x)).backward()
    for name, param in net.named_parameters():
        assert float((sol.parameter_grads[name] - param.grad).abs().max()) < BAR, name
    shared = ODENet(Residual(3, width=5), RungeKutta("rk4"), steps=6).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    sol = pontryagin(shared, x, _loss)
    shared.zero_grad()
    _loss(shared(x)).backward()
    for name, param in shared.named_parameters():
        assert float((sol.parameter_grads[name] - param.grad).abs().max()) < BAR, name


def test_layer_hamiltonian_gives_state_costate_and_gradient() -> None:
    torch.manual_seed(0)
    net = _net("rk4")
    x = torch.randn(6, 3, dtype=torch.float64)
    sol = pontryagin(net, x, _loss)
    k = 2
    z = sol.states[k].clone().requires_grad_(True)
    lam = sol.costates[k + 1].clone().requires_grad_(True)
    params = dict(net.field(k).named_parameters())
    H = layer_hamiltonian(net, k, z, lam, params)
    grads = torch.autograd.grad(H, (lam, z, *params.values()))
    assert float((grads[0] - sol.states[k + 1]).abs().max()) < BAR  # ∂_λ H = z_{k+1}
    assert float((grads[1] - sol.costates[k]).abs().max()) < BAR  # ∂_z H = λ_k
    for name, g in zip(params, grads[2:], strict=True):
        assert float((g - sol.parameter_grads[f"fields.{k}.{name}"]).abs().max()) < BAR


def test_adjoint_tableau_forms_a_symplectic_pair() -> None:
    for tab in TABLEAUX.values():
        if 0.0 in tab.b:
            continue
        assert PartitionedTableau(tab, adjoint_tableau(tab)).is_symplectic
    # The negative control: a pair with the state's own tableau is not symplectic for RK4.
    rk4 = TABLEAUX["rk4"]
    assert not PartitionedTableau(rk4, rk4).is_symplectic


def test_zero_weight_is_refused_with_reason() -> None:
    with pytest.raises(IncompatibleSchemeError, match="b_i ≠ 0"):
        adjoint_tableau(midpoint)
    net = ODENet([Residual(2) for _ in range(2)], RungeKutta("midpoint")).double()
    with pytest.raises(IncompatibleSchemeError, match="zero weights"):
        pontryagin(net, torch.randn(3, 2, dtype=torch.float64), _loss)
    assert stage_method(RungeKutta("heun")).stages == 2


def test_non_scalar_loss_is_refused() -> None:
    net = _net("euler", layers=2)
    with pytest.raises(ShapeError, match="scalar"):
        pontryagin(net, torch.randn(3, 3, dtype=torch.float64), lambda out: out)
