"""Regularisers, multilevel prolongation/restriction, deep-limit distances, parareal."""

from __future__ import annotations

import copy
import os
import socket

import pytest
import torch

from structdl._errors import ConfigError
from structdl.control import (
    h1_smoothness,
    kinetic_energy,
    level_distance,
    parareal_backward,
    parareal_forward,
    prolongate,
    restrict,
    weight_decay,
)
from structdl.dynamics import Euler, ODENet, Residual, RungeKutta


def _net(layers: int = 4, T: float = 1.0) -> ODENet:
    torch.manual_seed(0)
    return ODENet([Residual(3, width=5) for _ in range(layers)], Euler(), T=T).double()


def test_regularisers_are_time_integrals() -> None:
    field = Residual(3, width=5).double()
    constant = ODENet([copy.deepcopy(field) for _ in range(4)], Euler()).double()
    finer = ODENet([copy.deepcopy(field) for _ in range(8)], Euler()).double()
    # A constant control: ∫‖θ‖² is independent of K, the H¹ seminorm vanishes.
    decay, decay_finer = weight_decay(constant).detach(), weight_decay(finer).detach()
    assert float(decay) == pytest.approx(float(decay_finer), rel=1e-12)
    assert float(h1_smoothness(constant).detach()) == 0.0
    assert float(h1_smoothness(_net()).detach()) > 0.0
    x = torch.randn(10, 3, dtype=torch.float64)
    energy = kinetic_energy(constant, x)
    energy.backward()
    assert float(energy.detach()) > 0 and constant.field(0).weight.grad is not None


def test_prolongation_and_restriction() -> None:
    net = _net(4)
    fine = prolongate(net, 8)
    assert fine.steps == 8
    back = restrict(fine, 4)
    # Linear interpolation between cell centres, then averaging pairs: the interior is
    # recovered exactly up to the constant extrapolation at the two ends.
    from structdl.control import control_values

    assert back.steps == 4
    assert level_distance(net, fine) < float(control_values(net).detach().norm())
    # Restriction of a prolongation by a constant-in-t control is the identity.
    field = Residual(3).double()
    constant = ODENet([copy.deepcopy(field) for _ in range(4)], Euler()).double()
    assert level_distance(constant, prolongate(constant, 16)) == pytest.approx(0.0, abs=1e-14)
    assert torch.allclose(
        control_values(restrict(prolongate(constant, 8), 4)), control_values(constant)
    )
    x = torch.randn(5, 3, dtype=torch.float64)
    assert torch.allclose(prolongate(constant, 4)(x), constant(x))


def test_non_multiple_depth_is_refused() -> None:
    net = _net(4)
    with pytest.raises(ConfigError, match="multiple of the current depth"):
        prolongate(net, 6)
    with pytest.raises(ConfigError, match="multiple of the new depth"):
        restrict(net, 3)
    learned = ODENet([Residual(3) for _ in range(2)], Euler(), learn_steps=True)
    with pytest.raises(ConfigError, match="learned steps"):
        prolongate(learned, 4)


@pytest.mark.parametrize("integrator", [Euler(), RungeKutta("rk4")])
def test_parareal_forward_and_backward_match_sequential(integrator) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    net = ODENet([Residual(4, width=16) for _ in range(64)], integrator, T=1.0).double()
    x = torch.randn(16, 4, dtype=torch.float64)
    with torch.no_grad():
        sequential = net.trajectory(x)
    result = parareal_forward(net, x, chunks=8, iterations=4)
    assert float((result.boundaries[-1] - sequential[-1]).abs().max()) < 1e-6
    exact = parareal_forward(net, x, chunks=8, iterations=8)  # P iterations: finite termination
    assert float((exact.boundaries[-1] - sequential[-1]).abs().max()) < 1e-12
    leaf = x.clone().requires_grad_(True)
    out = net(leaf)
    lam = torch.ones_like(out) / out.numel()
    (grad,) = torch.autograd.grad(out, leaf, lam)
    back = parareal_backward(
        net, [sequential[8 * n] for n in range(9)], lam, chunks=8, iterations=4
    )
    assert float((back.boundaries[0] - grad).abs().max()) < 1e-6
    with pytest.raises(ConfigError, match="equal chunks"):
        parareal_forward(net, x, chunks=7)


def _worker(rank: int, port: int, queue) -> None:  # noqa: ANN001
    import torch.distributed as dist

    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = ODENet([Residual(4, width=16) for _ in range(32)], Euler(), T=1.0).double()
    x = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = parareal_forward(net, x, chunks=4, iterations=3, group=dist.group.WORLD)
    queue.put((rank, out.boundaries[-1]))
    dist.barrier()
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_parareal_equals_one_process() -> None:
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(r, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    torch.manual_seed(0)
    net = ODENet([Residual(4, width=16) for _ in range(32)], Euler(), T=1.0).double()
    x = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    single = parareal_forward(net, x, chunks=4, iterations=3).boundaries[-1]
    assert torch.equal(results[0], single) and torch.equal(results[1], single)
