"""Flow as a torch.distributions.Distribution; conditional flows; the multiscale flow."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Distribution, MultivariateNormal

from structdl import ConfigError, ShapeError
from structdl.invertible import (
    AffineCoupling,
    Flow,
    LULinear,
    MultiscaleFlow,
    Reverse,
    SplineCoupling,
    StandardNormal,
)


def _flow(context_features: int = 0) -> Flow:
    torch.manual_seed(0)
    layers = [
        AffineCoupling(2, hidden=8, context_features=context_features),
        Reverse(),
        SplineCoupling(2, hidden=8, context_features=context_features),
    ]
    return Flow(2, layers).double()


def test_flow_is_a_distribution_whose_density_integrates_to_one() -> None:
    flow = _flow()
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.2 * torch.randn_like(p))
    assert isinstance(flow, Distribution)
    grid = torch.linspace(-7, 7, 281, dtype=torch.float64)
    points = torch.cartesian_prod(grid, grid)
    with torch.no_grad():
        mass = flow.log_prob(points).exp().sum() * (grid[1] - grid[0]) ** 2
    assert abs(mass.item() - 1) < 1e-3


def test_linear_flow_matches_the_closed_form_gaussian() -> None:
    torch.manual_seed(0)
    layer = LULinear(3).double()
    flow = Flow(3, [layer]).double()
    w = layer.weight().detach()
    b = layer.bias.detach()
    # z = Wx + b ~ N(0, I)  ⇔  x ~ N(−W⁻¹b, (WᵀW)⁻¹).
    reference = MultivariateNormal(-torch.linalg.solve(w, b), torch.linalg.inv(w.T @ w))
    x = torch.randn(10, 3, dtype=torch.float64)
    assert torch.allclose(flow.log_prob(x), reference.log_prob(x), atol=1e-10)


def test_sample_and_log_prob_is_one_consistent_pass() -> None:
    flow = _flow()
    x, log_p = flow.sample_and_log_prob((7,))
    assert x.shape == (7, 2) and log_p.shape == (7,)
    assert torch.allclose(flow.log_prob(x), log_p, atol=1e-10)
    assert not x.requires_grad


def test_rsample_carries_gradients_to_the_parameters() -> None:
    flow = _flow()
    flow.rsample((16,)).pow(2).sum().backward()
    assert all(p.grad is not None for p in flow.parameters())


def test_conditional_flow_samples_per_context_row() -> None:
    flow = _flow(context_features=3)
    context = torch.randn(4, 3, dtype=torch.float64)
    x, log_p = flow.sample_and_log_prob((5,), context=context)
    assert x.shape == (5, 4, 2) and log_p.shape == (5, 4)
    again = flow.log_prob(x.reshape(-1, 2), context.repeat(5, 1)).reshape(5, 4)
    assert torch.allclose(again, log_p, atol=1e-10)
    conditioned = flow.condition(context[0])
    assert conditioned.sample((6,)).shape == (6, 2)
    assert conditioned.log_prob(x[:, 0]).shape == (5,)
    with pytest.raises(ShapeError, match="context"):
        flow.log_prob(x[:, 0], torch.randn(5, 2, dtype=torch.float64))


def test_flow_rejects_bad_base_and_data_shapes() -> None:
    with pytest.raises(ConfigError, match="base"):
        Flow("normal", [Reverse()])
    with pytest.raises(ShapeError, match=r"expected \(batch, 2\)"):
        _flow().log_prob(torch.randn(3, 4, dtype=torch.float64))


def test_standard_normal_log_prob() -> None:
    base = StandardNormal((2, 2))
    z = torch.zeros(3, 2, 2)
    assert torch.allclose(base.log_prob(z), torch.full((3,), -2 * math.log(2 * math.pi)))


def test_multiscale_flow_learned_prior_and_shapes() -> None:
    torch.manual_seed(0)
    flow = MultiscaleFlow((1, 8, 8), levels=2, steps=1, hidden=8)
    assert flow.piece_shapes == [(2, 4, 4), (8, 2, 2)]
    model = Flow(64, [flow], event_shape=(1, 8, 8))
    x = torch.rand(5, 1, 8, 8)
    log_p = model.log_prob(x)
    assert log_p.shape == (5,)
    log_p.sum().backward()
    assert flow.priors[0].net.net[0].weight.grad.abs().sum() > 0
    samples = model.sample((3,))
    assert samples.shape == (3, 1, 8, 8)
    with pytest.raises(ConfigError, match="divisible"):
        MultiscaleFlow((1, 6, 6), levels=2)
