"""Riemannian SGD and Adam: Euclidean parameters match torch, typed errors, drift bars."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError, StepSizeError
from structdl.manifolds import ManifoldParameter, Oblique, SpecialOrthogonal, Sphere, Stiefel
from structdl.optim import RiemannianAdam, RiemannianSGD


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1))


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (
            lambda p: RiemannianSGD(p, lr=0.05, momentum=0.9),
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
        ),
        (lambda p: RiemannianAdam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    ],
)
def test_euclidean_parameters_follow_torch(ours, theirs):
    a, b = _net(), _net()
    opt_a, opt_b = ours(a.parameters()), theirs(b.parameters())
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for _ in range(20):
        for net, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            ((net(x) - y) ** 2).mean().backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(pa, pb, atol=1e-6)


def test_typed_errors():
    w = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(StepSizeError, match="lr"):
        RiemannianSGD(w, lr=-1.0)
    with pytest.raises(ConfigError, match="momentum"):
        RiemannianSGD(w, lr=0.1, momentum=1.0)
    with pytest.raises(ConfigError, match="betas"):
        RiemannianAdam(w, betas=(0.9,))


def test_rayleigh_quotient_finds_the_top_eigenvectors():
    # max tr(XᵀAX) on St(n, p): the top-p eigenspace — a known optimum.
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(10, 10, generator=gen, dtype=torch.float64)
    a = a @ a.T
    st = Stiefel("cayley")
    x = ManifoldParameter(st.random_point(10, 3, generator=gen, dtype=torch.float64), st)
    opt = RiemannianSGD([x], lr=0.01, momentum=0.5)
    for _ in range(1500):
        opt.zero_grad()
        (-torch.trace(x.T @ a @ x)).backward()
        opt.step()
    top = torch.linalg.eigvalsh(a)[-3:].sum()
    assert abs(float(torch.trace(x.T @ a @ x).detach()) - float(top)) < 1e-6 * float(top)


def _drift(manifold, shape, steps):
    gen = torch.Generator().manual_seed(0)
    w = ManifoldParameter(manifold.random_point(*shape, generator=gen), manifold)
    target = torch.randn(shape, generator=gen)
    opt = RiemannianAdam([w], lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        ((w - target) ** 2).sum().backward()
        opt.step()
    return float(manifold.defect(w.detach()).max())


@pytest.mark.parametrize("method", Stiefel.retractions)
def test_stiefel_drift_short(method):
    # The default-suite version of the slow bar below: 300 steps at n = 64.
    assert _drift(Stiefel(method), (64, 64), 300) <= 1e-6


@pytest.mark.slow
@pytest.mark.parametrize(
    ("make", "shape", "bar"),
    [(lambda m=m: Stiefel(m), (128, 128), 1e-6) for m in Stiefel.retractions]
    + [
        pytest.param(lambda m=m: Stiefel(m), (512, 512), 4e-6, marks=pytest.mark.soak)
        for m in Stiefel.retractions
    ]
    + [(lambda m=m: Sphere(m), (128, 128), 1e-6) for m in Sphere.retractions]
    + [(lambda m=m: Oblique(m), (128, 128), 1e-6) for m in Oblique.retractions]
    + [(lambda m=m: SpecialOrthogonal(m), (128, 128), 1e-6) for m in SpecialOrthogonal.retractions],
)
def test_drift_bar_after_ten_thousand_adam_steps(make, shape, bar):
    manifold = make()
    assert _drift(manifold, shape, 10_000) <= bar
