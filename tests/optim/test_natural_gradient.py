"""Exact natural gradient: CG = direct solve, reparametrisation invariance to 1e-8 (float64),
the Euclidean and damped steps as negative controls, typed errors."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError, ShapeError
from structdl.optim.natural_gradient import NaturalGradient
from structdl.structure import (
    ReparametrisationInvariant,
    check_reparametrisation_invariance,
    guarantees,
)


def _data(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (64,), generator=gen)
    w1 = 0.5 * torch.randn(6, 4, generator=gen, dtype=torch.float64)
    w2 = 0.5 * torch.randn(3, 6, generator=gen, dtype=torch.float64)
    b = torch.randn(4, 4, generator=gen, dtype=torch.float64) + 2 * torch.eye(
        4, dtype=torch.float64
    )
    return x, y, w1, w2, b


def _step_direction(reparametrise: bool, *, seed=0, euclidean=False, **options):  # noqa: FBT001
    """The first layer's weight W as W = Φ·B (reparametrised) or W itself; the step mapped to W."""
    x, y, w1, w2, b = _data(seed)
    if reparametrise:
        phi = torch.nn.Parameter(w1 @ torch.linalg.inv(b))
        first, weight = phi, lambda: phi @ b
    else:
        first = torch.nn.Parameter(w1.clone())
        weight = lambda: first  # noqa: E731
    second = torch.nn.Parameter(w2.clone())

    def outputs():
        return torch.tanh(x @ weight().T) @ second.T, y

    if euclidean:
        logits, _ = outputs()
        loss = torch.nn.functional.cross_entropy(logits, y)
        g1, g2 = torch.autograd.grad(loss, [first, second])
        d1 = g1 @ b if reparametrise else g1
        return torch.cat([d1.reshape(-1), g2.reshape(-1)])
    opt = NaturalGradient([first, second], lr=1.0, **options)
    opt.step(outputs)
    d = opt.last_direction
    d1 = d[:24].view(6, 4)
    return torch.cat([(d1 @ b if reparametrise else d1).reshape(-1), d[24:]])


@pytest.mark.parametrize("solver", ["cg", "direct"])
@pytest.mark.parametrize("seed", [0, 1])
def test_exact_true_fisher_step_is_invariant_to_1e8(solver, seed):
    options = {"damping": 0.0, "solver": solver, "cg_iters": 500, "cg_tol": 1e-14}
    result = check_reparametrisation_invariance(
        _step_direction(False, seed=seed, **options), _step_direction(True, seed=seed, **options)
    )
    assert result.ok, result.reason
    assert result.worst <= 1e-8


def test_negative_controls_euclidean_and_damped_steps_are_not_invariant():
    euclidean = check_reparametrisation_invariance(
        _step_direction(False, euclidean=True), _step_direction(True, euclidean=True)
    )
    assert not euclidean.ok and euclidean.worst > 1e-2
    damped = {"damping": 0.1, "cg_iters": 500, "cg_tol": 1e-14}
    assert not check_reparametrisation_invariance(
        _step_direction(False, **damped), _step_direction(True, **damped)
    ).ok


def test_cg_matches_the_direct_solve_and_claims_follow_the_configuration():
    cg = _step_direction(False, damping=1e-3, cg_iters=500, cg_tol=1e-14)
    direct = _step_direction(False, damping=1e-3, solver="direct")
    assert torch.allclose(cg, direct, rtol=1e-8, atol=1e-10)
    p = [torch.nn.Parameter(torch.zeros(2))]
    assert ReparametrisationInvariant() in guarantees(NaturalGradient(p, damping=0.0))
    assert ReparametrisationInvariant() not in guarantees(NaturalGradient(p, damping=0.1))
    assert ReparametrisationInvariant() not in guarantees(
        NaturalGradient(p, damping=0.0, fisher="empirical")
    )


def test_natural_gradient_trains_a_regression_faster_than_gradient_descent():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(128, 3, generator=gen, dtype=torch.float64)
    y = torch.sin(x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64))
    losses = {}
    for name in ("natural", "sgd"):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
        net = net.double()
        if name == "natural":
            opt = NaturalGradient(net.parameters(), lr=0.5, damping=1e-3, likelihood="gaussian")
            for _ in range(30):
                loss = opt.step(lambda net=net: (net(x), y))
        else:
            sgd = torch.optim.SGD(net.parameters(), lr=0.1)
            for _ in range(30):
                sgd.zero_grad()
                loss = 0.5 * ((net(x) - y) ** 2).sum(1).mean()
                loss.backward()
                sgd.step()
        losses[name] = float(loss.detach())
    assert losses["natural"] < 0.5 * losses["sgd"]


def test_typed_errors():
    p = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ConfigError, match="damping"):
        NaturalGradient(p, damping=-1.0)
    with pytest.raises(ConfigError, match="fisher"):
        NaturalGradient(p, fisher="kfac")
    opt = NaturalGradient(p)
    with pytest.raises(ConfigError, match="closure"):
        opt.step()
    with pytest.raises(ShapeError, match="categorical"):
        opt.step(lambda: (p[0].unsqueeze(0), torch.zeros(3, dtype=torch.long)))
