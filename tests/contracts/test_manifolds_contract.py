"""One contract, parametrised over every manifold exported by ``structdl.manifolds``.

Adding a manifold to ``structdl.manifolds.__all__`` without a factory here fails
:func:`test_every_exported_manifold_has_a_factory`. The contract: random points, projections
and every retraction land on the manifold; the tangent projection is idempotent and its image
is tangent; transport lands in the tangent space of the target; the point stays on the manifold
AFTER optimiser steps (Riemannian SGD with momentum, Riemannian Adam, and torch's SGD through
``constrain``) — with the negative control that plain SGD on the raw tensor leaves it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import structdl.manifolds as manifolds
from structdl.manifolds import Manifold, ManifoldParameter, constrain
from structdl.optim import RiemannianAdam, RiemannianSGD
from structdl.structure import check_on_manifold, guarantees, tolerance

#: name → (factory taking a retraction name, point shape)
FACTORIES: dict[str, tuple[Callable[..., Manifold], tuple[int, ...]]] = {
    "Sphere": (manifolds.Sphere, (4, 5)),
    "Oblique": (manifolds.Oblique, (6, 3)),
    "Stiefel": (manifolds.Stiefel, (7, 3)),
    "Grassmann": (manifolds.Grassmann, (7, 3)),
    "SpecialOrthogonal": (manifolds.SpecialOrthogonal, (4, 4)),
    "SPD": (manifolds.SPD, (3, 3)),
}

CASES = [
    (name, method) for name, (factory, _) in FACTORIES.items() for method in factory.retractions
]


def _exported() -> set[str]:
    return {
        name
        for name in manifolds.__all__
        if isinstance(getattr(manifolds, name), type)
        and issubclass(getattr(manifolds, name), Manifold)
        and getattr(manifolds, name) is not Manifold
    }


def test_every_exported_manifold_has_a_factory():
    assert _exported() == set(FACTORIES)


def _setup(name: str, method: str, dtype=torch.float64, seed: int = 0):
    factory, shape = FACTORIES[name]
    manifold = factory(method)
    gen = torch.Generator().manual_seed(seed)
    x = manifold.random_point(2, *shape, generator=gen, dtype=dtype)  # a batch of two points
    return manifold, x, gen


def _tangent_defect(manifold: Manifold, x, u) -> float:
    return float((manifold.proj_tangent(x, u) - u).abs().max())


@pytest.mark.parametrize(("name", "method"), CASES)
def test_points_projections_and_retractions_are_on_the_manifold(name, method):
    manifold, x, gen = _setup(name, method)
    assert manifold.check_point(x)
    assert check_on_manifold(manifold, x).ok
    far = x + 0.3 * torch.randn(x.shape, generator=gen, dtype=x.dtype)
    assert manifold.check_point(manifold.project(far))
    u = 0.5 * manifold.random_tangent(x, generator=gen)
    y = manifold.retract(x, u, method)
    assert check_on_manifold(manifold, y).ok
    # R_x(0) = x, and dR_x(0) = id to first order.
    assert torch.allclose(manifold.retract(x, torch.zeros_like(x), method), x, atol=1e-12)
    t = 1e-5
    slope = (manifold.retract(x, t * u, method) - x) / t
    assert float((slope - u).abs().max()) < 1e-4


@pytest.mark.parametrize("name", list(FACTORIES))
def test_tangent_projection_is_idempotent_and_transport_is_tangent(name):
    factory, _ = FACTORIES[name]
    manifold, x, gen = _setup(name, factory.retractions[0])
    ambient = torch.randn(x.shape, generator=gen, dtype=x.dtype)
    u = manifold.proj_tangent(x, ambient)
    assert _tangent_defect(manifold, x, u) < 1e-12
    assert torch.allclose(manifold.proj_tangent(x, u), u, atol=1e-12)
    y = manifold.retract(x, 0.3 * u)
    moved = manifold.transport(x, y, u)
    assert _tangent_defect(manifold, y, moved) < 1e-12
    rgrad = manifold.egrad_to_rgrad(x, ambient)
    assert _tangent_defect(manifold, x, rgrad) < 1e-12


@pytest.mark.parametrize("name", list(FACTORIES))
def test_riemannian_gradient_is_the_gradient_of_the_metric(name):
    # ⟨rgrad, v⟩_x = ⟨egrad, v⟩ (Euclidean) for every tangent v: the defining identity.
    factory, _ = FACTORIES[name]
    manifold, x, gen = _setup(name, factory.retractions[0])
    egrad = torch.randn(x.shape, generator=gen, dtype=x.dtype)
    v = manifold.random_tangent(x, generator=gen)
    lhs = manifold.inner(x, manifold.egrad_to_rgrad(x, egrad), v)
    dims = tuple(range(-manifold.point_ndim, 0))
    rhs = (egrad * v).sum(dim=dims)
    assert torch.allclose(lhs, rhs, atol=1e-10)


def _loss(weight, target):
    # Bounded below on every manifold, minimised at the target (another point of it).
    return ((weight - target) ** 2).sum()


@pytest.mark.parametrize(("name", "method"), CASES)
@pytest.mark.parametrize("optimiser", ["sgd", "adam"])
def test_stays_on_the_manifold_after_riemannian_steps(name, method, optimiser):
    manifold, x, gen = _setup(name, method, dtype=torch.float32)
    target = manifold.random_point(x.shape, generator=gen)
    w = ManifoldParameter(x.clone(), manifold)
    opt = (
        RiemannianSGD([w], lr=0.05, momentum=0.9)
        if optimiser == "sgd"
        else RiemannianAdam([w], lr=0.05)
    )
    start = float(_loss(w.detach(), target))
    for _ in range(25):
        opt.zero_grad()
        _loss(w, target).backward()
        opt.step()
    assert check_on_manifold(manifold, w.detach()).ok
    assert float(_loss(w.detach(), target)) < start  # it did move, and downhill


@pytest.mark.parametrize("name", list(FACTORIES))
def test_negative_control_plain_sgd_leaves_the_manifold(name):
    factory, _ = FACTORIES[name]
    manifold, x, gen = _setup(name, factory.retractions[0], dtype=torch.float32)
    target = x + torch.randn(x.shape, generator=gen)  # a pull off the manifold
    w = torch.nn.Parameter(x.clone())
    opt = torch.optim.SGD([w], lr=0.05, momentum=0.9)
    for _ in range(20):
        opt.zero_grad()
        _loss(w, target).backward()
        opt.step()
    result = check_on_manifold(manifold, w.detach())
    assert not result.ok
    assert "VIOLATED" in result.reason


@pytest.mark.parametrize("name", list(FACTORIES))
def test_constrain_keeps_any_torch_optimiser_on_the_manifold(name):
    factory, shape = FACTORIES[name]
    manifold = factory()
    module = torch.nn.Module()
    module.weight = torch.nn.Parameter(
        torch.randn(shape, generator=torch.Generator().manual_seed(1))
    )
    constrain(module, "weight", manifold)
    assert guarantees(module.parametrizations.weight[0])  # OnManifold declared as data
    target = manifold.random_point(shape, generator=torch.Generator().manual_seed(2))
    opt = torch.optim.Adam(module.parameters(), lr=0.05)
    for _ in range(30):
        opt.zero_grad()
        _loss(module.weight, target).backward()
        opt.step()
    point = module.parametrizations.weight[0].to_point(module.weight.detach())
    assert check_on_manifold(manifold, point[None]).ok


@pytest.mark.parametrize("name", list(FACTORIES))
def test_check_point_explains_itself(name):
    factory, _ = FACTORIES[name]
    manifold, x, _ = _setup(name, factory.retractions[0])
    bad = x.clone()
    bad[1] = -2.0 * bad[1] + 0.1
    result = manifold.check_point(bad, explain=True)
    assert (
        not result.ok and manifold.name in result.reason and "worst at flat index" in result.reason
    )
    good = manifold.check_point(x, explain=True, atol=tolerance(x.dtype).manifold)
    assert good.ok and "holds" in good.reason
