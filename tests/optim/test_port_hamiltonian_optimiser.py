"""Port-Hamiltonian optimiser: exact discrete energy balance, unconditional energy decay,
the explicit method as negative control, typed errors."""

from __future__ import annotations

import math

import pytest
import torch

from structdl import ConfigError, StepSizeError
from structdl.optim.port_hamiltonian import PortHamiltonian
from structdl.structure import Dissipative, check_passivity, guarantees


def _run(opt, loss_fn, steps):
    before, after, dissipation = [], [], []
    for _ in range(steps):
        opt.step(loss_fn)
        s = opt.last_step
        before.append(s["energy_before"])
        after.append(s["energy_after"])
        dissipation.append(s["dissipation"])
    return before, after, dissipation


def _per_step_balance(before, after, dissipation, h):
    return max(abs(b - a + h * d) for a, b, d in zip(before, after, dissipation, strict=True))


def _mlp_problem():
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    net = net.double()
    x = torch.randn(64, 6, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (64,), generator=gen)
    return net, lambda: torch.nn.functional.cross_entropy(net(x), y)


@pytest.mark.parametrize("h", [0.05, 0.5, 5.0])
def test_discrete_energy_balance_to_1e10_in_float64(h):
    net, loss_fn = _mlp_problem()
    opt = PortHamiltonian(net.parameters(), lr=h, beta=0.5, c=1e-3)
    before, after, dissipation = _run(opt, loss_fn, 40)
    assert _per_step_balance(before, after, dissipation, h) <= 1e-10
    # Full batch: consecutive steps share the energy, so the run is one passive trajectory.
    energies = [before[0], *after]
    result = check_passivity(energies, dissipation, h)
    assert result.ok, result.reason
    assert all(e1 <= e0 + 1e-12 for e0, e1 in zip(energies, energies[1:], strict=False))


def _quadratic(lam: torch.Tensor):
    w = torch.nn.Parameter(torch.ones(lam.numel(), dtype=torch.float64))
    return w, lambda: 0.5 * (lam * w * w).sum()


def _explicit_energies(lam: torch.Tensor, h: float, beta: float, steps: int):
    """Symplectic-Euler discretisation of the same port-Hamiltonian system (a = 1, b = ½)."""
    w = torch.ones(lam.numel(), dtype=torch.float64)
    v = torch.zeros_like(w)
    energies = []
    for _ in range(steps):
        v = v - h * (lam * w + beta * v)
        w = w + h * v
        energies.append(float(0.5 * (lam * w * w).sum() + 0.5 * (v @ v)))
    return energies


def test_energy_never_increases_at_ten_times_the_explicit_limit():
    lam = torch.linspace(0.1, 100.0, 20, dtype=torch.float64)
    explicit_limit = 2.0 / math.sqrt(float(lam.max()))  # symplectic Euler: h·ω < 2
    h = 10.0 * explicit_limit
    w, loss_fn = _quadratic(lam)
    opt = PortHamiltonian([w], lr=h, beta=1.0)
    before, after, dissipation = _run(opt, loss_fn, 200)
    energies = [before[0], *after]
    assert all(e1 <= e0 + 1e-12 for e0, e1 in zip(energies, energies[1:], strict=False))
    assert _per_step_balance(before, after, dissipation, h) <= 1e-10
    assert energies[-1] < 0.1 * energies[0]
    # Negative control: the explicit method at 1.2× its limit gains energy and diverges.
    explicit = _explicit_energies(lam, 1.2 * explicit_limit, 1.0, 200)
    assert explicit[-1] > explicit[0]
    start = float(0.5 * lam.sum())  # w = 1, v = 0
    # Even booking zero dissipation, the explicit run's energy changes are not balanced.
    assert not check_passivity([start, *explicit], [0.0] * len(explicit), 1.2 * explicit_limit).ok


def test_declares_dissipation_and_needs_a_closure():
    w, loss_fn = _quadratic(torch.ones(3, dtype=torch.float64))
    opt = PortHamiltonian([w])
    assert Dissipative("energy") in guarantees(opt)
    with pytest.raises(ConfigError, match="closure"):
        opt.step()


def test_typed_errors():
    w = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(StepSizeError, match="lr"):
        PortHamiltonian(w, lr=0.0)
    with pytest.raises(ConfigError, match="beta"):
        PortHamiltonian(w, beta=-1.0)
    with pytest.raises(ConfigError, match="b"):
        PortHamiltonian(w, b=0.0)
    opt = PortHamiltonian(w)
    with pytest.raises(ConfigError, match="scalar loss"):
        opt.step(lambda: w[0] * torch.ones(2))
