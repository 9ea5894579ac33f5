"""Conformal Hamiltonian optimisers: the heavy-ball equivalence, conformal symplecticity of the
step (with Nesterov as negative control), Hamiltonian descent's linear rate, typed errors."""

from __future__ import annotations

import math

import pytest
import torch

from structdl import ConfigError, StepSizeError
from structdl.optim import (
    ConformalSymplecticEuler,
    ConformalSymplecticLeapfrog,
    HamiltonianDescent,
    PowerKinetic,
    QuadraticKinetic,
    RelativisticGradientDescent,
    RelativisticKinetic,
    nesterov_phase_step,
    sgd_hyperparameters,
)
from structdl.structure import (
    ConformalSymplectic,
    assert_preserves,
    check_conformal_step,
    guarantees,
)


def _dummy():
    return [torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))]


def _hessian(d: int = 5, seed: int = 0) -> torch.Tensor:
    a = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


OPTIMISERS = {
    "cs-euler": lambda: ConformalSymplecticEuler(_dummy(), h=0.3, gamma=0.7),
    "cs-euler-relativistic": lambda: ConformalSymplecticEuler(
        _dummy(), h=0.3, gamma=0.7, kinetic=RelativisticKinetic(2.0)
    ),
    "cs-leapfrog": lambda: ConformalSymplecticLeapfrog(_dummy(), h=0.3, gamma=0.7),
    "rgd": lambda: RelativisticGradientDescent(_dummy(), lr=0.05, momentum=0.8, delta=0.1),
    "hd-first": lambda: HamiltonianDescent(
        _dummy(), lr=0.1, gamma=1.0, kinetic=PowerKinetic(4 / 3, 2.0)
    ),
    "hd-second": lambda: HamiltonianDescent(
        _dummy(), lr=0.1, gamma=1.0, kinetic=PowerKinetic(4 / 3, 2.0), variant="second"
    ),
}


@pytest.mark.parametrize("name", list(OPTIMISERS))
@pytest.mark.parametrize("seed", [0, 1])
def test_step_jacobian_is_conformal_symplectic_on_quadratics(name, seed):
    opt = OPTIMISERS[name]()
    result = check_conformal_step(
        opt.phase_step, _hessian(5, seed), opt.rate, seed=seed, atol=1e-12
    )
    assert result.ok, result.reason


@pytest.mark.parametrize("seed", [0, 1])
def test_negative_control_nesterov_fails_the_same_check(seed):
    def nag(q, p, gradient):
        return nesterov_phase_step(q, p, gradient, lr=0.05, momentum=0.8)

    result = check_conformal_step(nag, _hessian(5, seed), 0.8, seed=seed, atol=1e-12)
    assert not result.ok
    assert result.worst > 1e-3


def test_rgd_with_alpha_below_one_withdraws_the_claim_and_fails():
    rgd = RelativisticGradientDescent(_dummy(), lr=0.05, momentum=0.8, alpha=0.5)
    assert not any(isinstance(t, ConformalSymplectic) for t in guarantees(rgd))
    assert not check_conformal_step(rgd.phase_step, _hessian(), 0.8).ok


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_claims_are_derived_from_hyperparameters_and_assert_preserves_runs(name):
    opt = OPTIMISERS[name]()
    assert ConformalSymplectic(rate=opt.rate) in guarantees(opt)
    a = _hessian()
    z = torch.randn(3, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert_preserves(opt.phase_map(lambda q: q @ a), z)


def test_cs_euler_reproduces_sgd_momentum_iterates_in_float64():
    torch.manual_seed(0)
    net_a = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    net_a = net_a.double()
    net_b = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    net_b = net_b.double()
    net_b.load_state_dict(net_a.state_dict())
    x = torch.randn(32, 4, dtype=torch.float64)
    y = torch.randn(32, 1, dtype=torch.float64)
    sgd = torch.optim.SGD(net_a.parameters(), lr=0.05, momentum=0.9)
    cse = ConformalSymplecticEuler.from_sgd(net_b.parameters(), lr=0.05, momentum=0.9)
    worst = 0.0
    for _ in range(100):
        for net, opt in ((net_a, sgd), (net_b, cse)):
            opt.zero_grad()
            ((net(x) - y) ** 2).mean().backward()
            opt.step()
        worst = max(
            worst,
            max(
                float((pa - pb).detach().abs().max())
                for pa, pb in zip(net_a.parameters(), net_b.parameters(), strict=True)
            ),
        )
    assert worst <= 1e-12


def test_hyperparameter_map_round_trips():
    lr, mu = sgd_hyperparameters(0.2, 0.5)
    opt = ConformalSymplecticEuler.from_sgd(_dummy(), lr=lr, momentum=mu)
    assert math.isclose(opt.h, 0.2) and math.isclose(opt.gamma, 0.5)
    assert math.isclose(opt.rate, mu)


def _quartic_run(make, steps: int = 2000):
    x0 = torch.randn(50, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = torch.nn.Parameter(2.0 * x0 / x0.norm())
    opt = make([x])
    values = []
    for _ in range(steps):
        opt.zero_grad()
        loss = (x @ x) ** 2
        loss.backward()
        opt.step()
        values.append(float(loss.detach()))
    return values


def test_hamiltonian_descent_is_linear_on_the_quartic_and_heavy_ball_is_not():
    hd = _quartic_run(
        lambda p: HamiltonianDescent(p, lr=0.1, gamma=4.0, kinetic=PowerKinetic(4 / 3))
    )
    # Reached and stays below 1e-10 well within 2000 steps.
    settled = next(i for i in range(len(hd)) if max(hd[i:]) <= 1e-10)
    assert settled < 2000
    # A linear rate: log10 of the maxima over blocks of 10 steps lies on a falling straight
    # line (only above 1e-100: the iterates later reach float64's underflow floor).
    blocks = [max(hd[i : i + 10]) for i in range(0, 2000, 10) if max(hd[i : i + 10]) > 1e-100]
    logs = torch.tensor([math.log10(v) for v in blocks], dtype=torch.float64)
    k = torch.arange(logs.numel(), dtype=torch.float64)
    slope = float(((k - k.mean()) * (logs - logs.mean())).sum() / ((k - k.mean()) ** 2).sum())
    line = logs.mean() + slope * (k - k.mean())
    assert logs.numel() >= 10 and slope < -1.0  # over a decade per 10 steps
    assert float((logs - line).abs().max()) < 3.0  # no sublinear tail bending the line
    best_heavy_ball = min(
        _quartic_run(lambda p, lr=lr: torch.optim.SGD(p, lr=lr, momentum=0.9))[-1]
        for lr in (1e-3, 3e-3, 1e-2)
    )
    assert best_heavy_ball > 1e-10  # sublinear: not there after 2000 steps


def test_leapfrog_and_rgd_need_a_closure_and_train_with_one():
    for make in (
        lambda p: ConformalSymplecticLeapfrog(p, h=0.2, gamma=1.0),
        lambda p: RelativisticGradientDescent(p, lr=0.05, momentum=0.9),
    ):
        x = torch.nn.Parameter(torch.tensor([2.0, -1.0], dtype=torch.float64))
        opt = make([x])

        def closure(x=x, opt=opt):
            opt.zero_grad()
            loss = (x**2).sum()
            loss.backward()
            return loss

        closure()
        with pytest.raises(ConfigError, match="closure"):
            opt.step()
        for _ in range(300):
            opt.step(closure)
        assert float(x.detach().abs().max()) < 1e-6


def test_typed_errors():
    with pytest.raises(ConfigError, match="gamma"):
        ConformalSymplecticEuler(_dummy(), h=0.1, gamma=-0.5)
    with pytest.raises(StepSizeError, match="h"):
        ConformalSymplecticEuler(_dummy(), h=0.0, gamma=0.5)
    with pytest.raises(ConfigError, match="not convex"):
        PowerKinetic(0.5)
    with pytest.raises(ConfigError, match="not convex"):
        PowerKinetic(2.0, smoothing=0.5)
    with pytest.raises(ConfigError, match="convex KineticEnergy"):
        HamiltonianDescent(_dummy(), kinetic=lambda p: p)
    with pytest.raises(ConfigError, match="momentum"):
        RelativisticGradientDescent(_dummy(), momentum=1.5)
    with pytest.raises(ConfigError, match="variant"):
        HamiltonianDescent(_dummy(), variant="third")


def test_kinetic_gradients_match_autograd():
    p = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    for kinetic in (QuadraticKinetic(2.0), RelativisticKinetic(1.5, 0.5), PowerKinetic(4 / 3, 2.0)):
        (grad,) = torch.autograd.grad(kinetic.energy(p).sum(), p)
        assert torch.allclose(kinetic.grad(p.detach()), grad, atol=1e-12)
        assert float(kinetic.energy(torch.zeros(1, 4, dtype=torch.float64))) <= float(
            kinetic.energy(p.detach()).min()
        )
