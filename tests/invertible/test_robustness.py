"""Robustness bars: spline flows on data outside the spline interval never produce NaN/inf.

The default run trains a short while; the 10⁵-step bar is a soak test (``pytest -m soak``, by
hand: it trains for tens of minutes on two cores, so CI does not run it).
"""

from __future__ import annotations

import pytest
import torch

from structdl.invertible import Flow, Reverse, SplineCoupling

BOUND = 3.0


def _data(n: int, generator: torch.Generator) -> torch.Tensor:
    """Moons-like data inside ``[−B, B]`` with 5 % of the points far outside it."""
    x = 0.8 * torch.randn(n, 2, generator=generator)
    outside = torch.rand(n, generator=generator) < 0.05
    far = BOUND * (1.5 + 10 * torch.rand(n, 2, generator=generator))
    signs = torch.randint(0, 2, (n, 2), generator=generator) * 2 - 1
    return torch.where(outside[:, None], signs * far, x)


def _train_spline_flow(steps: int) -> tuple[int, float]:
    """Train and count non-finite losses, gradients and parameters; return (bad, last loss)."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    layers = []
    for _ in range(3):
        layers += [SplineCoupling(2, bins=8, bound=BOUND, hidden=16), Reverse()]
    flow = Flow(2, layers)
    optimiser = torch.optim.Adam(flow.parameters(), lr=5e-3)
    bad = 0
    loss = torch.zeros(())
    for _ in range(steps):
        x = _data(128, generator)
        optimiser.zero_grad()
        loss = -flow.log_prob(x).mean()
        loss.backward()
        grads = [p.grad for p in flow.parameters()]
        bad += int(not torch.isfinite(loss)) + sum(int(not torch.isfinite(g).all()) for g in grads)
        optimiser.step()
    bad += sum(int(not torch.isfinite(p).all()) for p in flow.parameters())
    with torch.no_grad():
        samples, log_p = flow.sample_and_log_prob((512,))
    bad += int(not torch.isfinite(samples).all()) + int(not torch.isfinite(log_p).all())
    return bad, float(loss.detach())


def test_spline_flow_with_outliers_stays_finite_short_run() -> None:
    bad, loss = _train_spline_flow(25)
    assert bad == 0
    assert loss == loss  # a finite final loss (NaN ≠ NaN)


@pytest.mark.slow
@pytest.mark.soak
def test_spline_flow_with_outliers_stays_finite_for_1e5_steps() -> None:
    bad, _ = _train_spline_flow(100_000)
    assert bad == 0
