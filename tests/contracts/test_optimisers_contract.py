"""One contract, parametrised over every optimiser exported by ``structdl.optim``.

Adding an optimiser to ``structdl.optim.__all__`` without a factory here fails
:func:`test_every_exported_optimiser_has_a_factory`. The contract: it is a
``torch.optim.Optimizer``; training a small network lowers the loss; a parameter without a
gradient is left alone; ``state_dict`` / ``load_state_dict`` resume the run exactly; a bad
step size is a typed error.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch

import structdl.optim as optim
from structdl import StepSizeError

#: name → (factory(params) -> optimiser, closure style: "plain", "closure" or "loss-only")
FACTORIES: dict[str, tuple[Callable, str]] = {
    "RiemannianSGD": (lambda p: optim.RiemannianSGD(p, lr=0.05, momentum=0.9), "plain"),
    "RiemannianAdam": (lambda p: optim.RiemannianAdam(p, lr=0.01), "plain"),
    "ConformalSymplecticEuler": (
        lambda p: optim.ConformalSymplecticEuler(p, h=0.2, gamma=2.0),
        "plain",
    ),
    "ConformalSymplecticLeapfrog": (
        lambda p: optim.ConformalSymplecticLeapfrog(p, h=0.2, gamma=2.0),
        "closure",
    ),
    "RelativisticGradientDescent": (
        lambda p: optim.RelativisticGradientDescent(p, lr=0.02, momentum=0.9),
        "closure",
    ),
    "HamiltonianDescent": (
        lambda p: optim.HamiltonianDescent(p, lr=0.2, gamma=2.0),
        "plain",
    ),
    "PortHamiltonian": (lambda p: optim.PortHamiltonian(p, lr=0.2, beta=1.0), "loss-only"),
    "NaturalGradient": (
        lambda p: optim.NaturalGradient(p, lr=0.5, damping=1e-3, likelihood="gaussian"),
        "outputs",
    ),
}


def _exported() -> set[str]:
    return {
        name
        for name in optim.__all__
        if isinstance(getattr(optim, name), type)
        and issubclass(getattr(optim, name), torch.optim.Optimizer)
    }


#: Optimisers built from a model (they hook its layers), not from a parameter list.
MODEL_FACTORIES: dict[str, Callable] = {
    "KFAC": lambda net: optim.KFAC(net, lr=0.5, damping=1e-2, inverse_every=5),
}


def test_every_exported_optimiser_has_a_factory():
    assert _exported() == set(FACTORIES) | set(MODEL_FACTORIES)


@pytest.mark.parametrize("name", list(MODEL_FACTORIES))
def test_model_based_optimiser_lowers_the_loss(name):
    net, _, loss_fn = _problem()
    opt = MODEL_FACTORIES[name](net)
    assert isinstance(opt, torch.optim.Optimizer)
    first = _step(opt, loss_fn, "outputs")
    for _ in range(60):
        last = _step(opt, loss_fn, "outputs")
    assert last < 0.7 * first


def _problem():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    net = net.double()
    frozen = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))  # never gets a gradient
    x = torch.randn(32, 3, dtype=torch.float64)
    y = torch.sin(x.sum(dim=1, keepdim=True))
    loss_fn = lambda: ((net(x) - y) ** 2).mean()  # noqa: E731
    loss_fn.pair = lambda: (net(x), y)  # what a natural-gradient closure returns
    return net, frozen, loss_fn


def _step(opt, loss_fn, style: str) -> float:
    if style == "outputs":
        return float(opt.step(loss_fn.pair))
    if style == "loss-only":
        return float(opt.step(loss_fn))

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    if style == "closure":
        return float(opt.step(closure).detach())
    loss = closure()
    opt.step()
    return float(loss.detach())


@pytest.mark.parametrize("name", list(FACTORIES))
def test_training_lowers_the_loss_and_leaves_gradientless_parameters(name):
    make, style = FACTORIES[name]
    net, frozen, loss_fn = _problem()
    opt = make([*net.parameters(), frozen])
    assert isinstance(opt, torch.optim.Optimizer)
    first = _step(opt, loss_fn, style)
    for _ in range(60):
        last = _step(opt, loss_fn, style)
    assert last < 0.7 * first
    assert torch.equal(frozen.detach(), torch.ones(2, dtype=torch.float64))


@pytest.mark.parametrize("name", list(FACTORIES))
def test_state_dict_resumes_exactly(name):
    make, style = FACTORIES[name]
    net, _, loss_fn = _problem()
    opt = make(net.parameters())
    for _ in range(5):
        _step(opt, loss_fn, style)
    twin = copy.deepcopy(net)
    x = torch.randn(32, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.cos(x.sum(dim=1, keepdim=True))
    opt_twin = make(twin.parameters())
    opt_twin.load_state_dict(copy.deepcopy(opt.state_dict()))  # torch shares tensors otherwise
    for model, optimiser in ((net, opt), (twin, opt_twin)):
        for _ in range(5):
            loss_fn = lambda m=model: ((m(x) - y) ** 2).mean()  # noqa: E731
            loss_fn.pair = lambda m=model: (m(x), y)
            _step(optimiser, loss_fn, style)
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_bad_step_size_is_a_typed_error(name):
    cls = getattr(optim, name)
    keyword = "h" if name.startswith("ConformalSymplectic") else "lr"
    with pytest.raises(StepSizeError, match=keyword):
        cls([torch.nn.Parameter(torch.zeros(1))], **{keyword: -1.0})
