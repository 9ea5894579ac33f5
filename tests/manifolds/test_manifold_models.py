"""Manifold models: the sphere ODE stays on the sphere (explicit Euler does not), the
orthogonal RNN keeps its recurrent matrix orthogonal through training."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError, ShapeError
from structdl.dynamics import Euler
from structdl.manifolds import OrthogonalRNN, SpecialOrthogonal, Sphere, SphereODE, Stiefel
from structdl.optim import RiemannianAdam
from structdl.structure import assert_preserves, check_on_manifold


@pytest.mark.parametrize("method", SphereODE.METHODS)
def test_sphere_ode_stays_on_the_sphere_for_large_steps(method):
    torch.manual_seed(0)
    ode = SphereODE(5, steps=2, T=4.0, method=method).double()  # h = 2
    x = torch.randn(8, 5, dtype=torch.float64)
    assert_preserves(ode, x)
    # Gradients reach the field's parameters.
    ode(x).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ode.parameters())


def test_negative_control_explicit_euler_on_the_same_field_leaves_the_sphere():
    torch.manual_seed(0)
    ode = SphereODE(5).double()
    y = Sphere().project(torch.randn(8, 5, dtype=torch.float64))
    for _ in range(4):
        y = Euler().step(ode.field, 0.0, y, 0.5)
    assert not check_on_manifold(Sphere(), y).ok


def test_sphere_ode_errors():
    with pytest.raises(ConfigError, match="method"):
        SphereODE(3, method="rk4")
    with pytest.raises(ShapeError, match="expected"):
        SphereODE(3)(torch.randn(2, 4))


def _train(rnn, opt, steps=15):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(16, 6, 3, generator=gen)
    y = torch.randn(16, 2, generator=gen)
    for _ in range(steps):
        opt.zero_grad()
        ((rnn(x) - y) ** 2).mean().backward()
        opt.step()


def test_orthogonal_rnn_parametrized_stays_in_so_n_with_adam():
    torch.manual_seed(0)
    rnn = OrthogonalRNN(3, 8, 2)
    _train(rnn, torch.optim.Adam(rnn.parameters(), lr=0.05))
    assert SpecialOrthogonal().check_point(rnn.recurrent.detach())


def test_orthogonal_rnn_riemannian_stays_orthogonal_and_free_does_not():
    torch.manual_seed(0)
    rnn = OrthogonalRNN(3, 8, 2, mode="riemannian")
    _train(rnn, RiemannianAdam(rnn.parameters(), lr=0.05))
    assert Stiefel().check_point(rnn.recurrent.detach())
    free = OrthogonalRNN(3, 8, 2, mode="free")
    _train(free, torch.optim.Adam(free.parameters(), lr=0.05))
    assert not Stiefel().check_point(free.recurrent.detach())


def test_orthogonal_rnn_errors():
    with pytest.raises(ConfigError, match="mode"):
        OrthogonalRNN(3, 8, 2, mode="unitary")
    with pytest.raises(ShapeError, match="batch, time"):
        OrthogonalRNN(3, 8, 2)(torch.randn(4, 3))
