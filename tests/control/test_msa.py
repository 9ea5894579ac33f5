"""Successive approximations, discrete MSA and Itoh–Abe descent."""

from __future__ import annotations

import pytest
import torch

from structdl._errors import ConfigError
from structdl.control import (
    MSA,
    DiscreteMSA,
    DiscreteWeightMLP,
    ExtendedMSA,
    ItohAbeDescent,
    pontryagin,
    project_to_values,
)
from structdl.dynamics import Euler, ODENet, Residual
from structdl.structure import check_energy, guarantees
from structdl.structure.properties import Dissipative
from structdl.structure.testing import assert_preserves


def _regression():
    torch.manual_seed(0)
    net = ODENet([Residual(3, activation="tanh") for _ in range(4)], Euler(), T=2.0).double()
    x = torch.linspace(-2, 2, 32, dtype=torch.float64).unsqueeze(1).repeat(1, 3)
    target = torch.sin(x[:, :1])

    def loss_fn(out):
        return (out.mean(-1, keepdim=True) - target).square().mean()

    return net, x, loss_fn


@pytest.mark.parametrize("inner", ["adam", "sgd", "lbfgs"])
def test_extended_msa_decreases_the_loss(inner: str) -> None:
    net, x, loss_fn = _regression()
    lr = {"adam": 0.02, "sgd": 0.5, "lbfgs": 0.5}[inner]
    trainer = ExtendedMSA(net, rho=1.0, inner=inner, inner_steps=5, lr=lr)
    losses = [trainer.step(x, loss_fn) for _ in range(8)]
    assert losses[-1] < 0.7 * losses[0]


def test_msa_update_direction_is_the_hamiltonian_gradient() -> None:
    """With one SGD inner step, ρ = 0 and the Hamiltonian gradient = the loss gradient."""
    net, x, loss_fn = _regression()
    before = [p.detach().clone() for p in net.parameters()]
    grads = pontryagin(net, x, loss_fn).parameter_grads
    MSA(net, inner="sgd", inner_steps=1, lr=0.1).step(x, loss_fn)
    for (name, p), old in zip(net.named_parameters(), before, strict=True):
        assert torch.allclose(p.detach(), old - 0.1 * grads[name], atol=1e-12)


def test_bad_msa_inputs_are_refused() -> None:
    net, _, _ = _regression()
    with pytest.raises(ConfigError, match="ρ ≥ 0"):
        ExtendedMSA(net, rho=-1.0)
    with pytest.raises(ConfigError, match="inner optimiser"):
        ExtendedMSA(net, inner="newton")
    shared = ODENet(Residual(3), Euler(), steps=3)
    with pytest.raises(ConfigError, match="one field per layer"):
        ExtendedMSA(shared)


def test_discrete_msa_keeps_weights_discrete_and_learns() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 6, generator=gen)
    y = (x[:, 0] + x[:, 1] > 0).long()
    for values in ("ternary", "binary"):
        net = DiscreteWeightMLP.random((6, 32, 2), values=values, seed=1)
        trainer = DiscreteMSA(net)
        for _ in range(40):
            trainer.step(x, y)
        allowed = {-1.0, 0.0, 1.0} if values == "ternary" else {-1.0, 1.0}
        for k in range(net.layers):
            assert set(net.weight(k).unique().tolist()) <= allowed
        accuracy = float((net(x).argmax(1) == y).float().mean())
        # chance is 0.5; binary weights cannot ignore the 4 irrelevant inputs
        assert accuracy > (0.9 if values == "ternary" else 0.7), (values, accuracy)


def test_non_ternary_initial_weights_are_refused() -> None:
    with pytest.raises(ConfigError, match="ternary model"):
        DiscreteWeightMLP([torch.full((3, 4), 0.5)])
    net = DiscreteWeightMLP.random((4, 3), seed=0)
    net.weight0.fill_(0.3)
    with pytest.raises(ConfigError, match="ternary model"):
        DiscreteMSA(net)
    binary = torch.tensor([[1.0, 0.0]])
    with pytest.raises(ConfigError, match="binary model"):
        DiscreteWeightMLP([binary], values="binary")
    assert project_to_values(torch.tensor([0.0, -0.2]), "binary", 0.7).tolist() == [1.0, -1.0]


@pytest.mark.parametrize("tau", [1e-3, 0.1, 10.0, 1e4])
def test_itoh_abe_decreases_for_every_step_size(tau: float) -> None:
    def rosenbrock(x):
        return ((1 - x[:, :-1]) ** 2 + 10 * (x[:, 1:] - x[:, :-1] ** 2) ** 2).sum(-1)

    descent = ItohAbeDescent(rosenbrock, tau=tau)
    assert Dissipative("energy") in guarantees(descent)
    x = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    trajectory = [x]
    for _ in range(6):
        trajectory.append(descent(trajectory[-1]))
    result = check_energy(descent.energy, trajectory, mode="non_increasing", atol=0.0)
    assert result.ok, result.reason
    assert float(rosenbrock(trajectory[-1]).mean()) < float(rosenbrock(x).mean())
    assert_preserves(descent, x)


def test_itoh_abe_negative_control_fails_the_energy_check() -> None:
    """A plain coordinate step of fixed size (no discrete-gradient equation) can increase V."""

    def quadratic(x):
        return (x**2).sum(-1)

    def fixed_step(x):
        return x - 2.5 * x  # |1 − 2.5| > 1: overshoots and increases V

    x = torch.ones(2, 3, dtype=torch.float64)
    trajectory = [x, fixed_step(x), fixed_step(fixed_step(x))]
    assert not check_energy(quadratic, trajectory, mode="non_increasing").ok
    descent = ItohAbeDescent(quadratic, tau=100.0)
    assert check_energy(quadratic, [x, descent(x), descent(descent(x))], mode="non_increasing").ok


def test_inner_learning_rate_schedule() -> None:
    net, x, loss_fn = _regression()
    trainer = ExtendedMSA(net, rho=1.0, inner_steps=1, lr=0.01)
    trainer.step(x, loss_fn)
    trainer.set_lr(0.001)
    assert all(g["lr"] == 0.001 for o in trainer._optimisers.values() for g in o.param_groups)
    with pytest.raises(ConfigError, match="lr"):
        trainer.set_lr(0.0)
