"""Every dynamics layer works under torch.func: ``vmap``, ``jacrev``, ``jvp``, ``functional_call``.

One :class:`~structdl.dynamics.ODENet` per integrator of the guarantees-contract catalogue (every
registered integrator and its tableau/sub-integrator variants), on the first catalogue field it
accepts, plus the step rules and embeddings. Per-sample Jacobians by ``vmap(jacrev(…))`` must
equal the Jacobians autograd computes one sample at a time; buffers must not change under a
transform, and ``torch.compile(fullgraph=True)`` must trace a network (slow, optional).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch.func import functional_call, jacrev, jvp, vmap

from structdl.dynamics import (
    Euler,
    GradientFlow,
    ODENet,
    SeparableHamiltonian,
    StormerVerlet,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contracts"))
from test_guarantees_contract import FIELDS, all_integrators  # noqa: E402

F64 = torch.float64
# torch's forward-mode AD scripts its decompositions on first use and warns that torch.jit.script
# is deprecated: a warning of torch about itself, not of structdl.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


def _catalogue() -> dict[str, ODENet]:
    nets: dict[str, ODENet] = {}
    for name, make in all_integrators().items():
        for field_name, (make_field, _) in FIELDS.items():
            torch.manual_seed(0)
            field = make_field()
            integrator = make()
            if integrator.accepts_field(field):
                if hasattr(integrator, "max_iter"):
                    # Under vmap an implicit solve cannot read its increments and runs max_iter
                    # sweeps; at h = 0.1 it contracts to round-off well within 25.
                    integrator.max_iter = 25
                nets[f"{name} on {field_name}"] = ODENet(field, integrator, steps=2, T=0.2).double()
                break
    torch.manual_seed(0)
    nets["Euler clip"] = ODENet(
        GradientFlow(2, width=4), Euler(), steps=3, step_rule="clip"
    ).double()
    nets["Verlet phase"] = ODENet(
        SeparableHamiltonian(2, width=3), StormerVerlet(), steps=3, embed="phase"
    ).double()
    nets["learned steps"] = ODENet(GradientFlow(2), Euler(), steps=3, learn_steps=True).double()
    return nets


NETS = _catalogue()


def _input(net: ODENet) -> object:
    field = net.fields[0]
    gen = torch.Generator().manual_seed(1)
    dim = getattr(field, "dim", 3)
    if "partitioned" in field.kinds and net.embed is None:
        return (
            torch.randn(3, dim, generator=gen, dtype=F64),
            torch.randn(3, dim, generator=gen, dtype=F64),
        )
    x = torch.randn(3, dim, generator=gen, dtype=F64)
    return torch.nn.functional.normalize(x, dim=1) if "lie" in field.kinds else x


def _flat_net(net: ODENet, like: object):
    """``net`` as a map of one flat vector (a pair state is concatenated)."""
    if isinstance(like, tuple):
        d = like[0].shape[1]

        def f(z: torch.Tensor) -> torch.Tensor:
            return torch.cat(net((z[None, :d], z[None, d:])), dim=1)[0]

        return f, torch.cat(like, dim=1)
    return (lambda z: net(z[None])[0]), like


@pytest.mark.parametrize("name", sorted(NETS))
def test_per_sample_jacobians_under_vmap_match_autograd(name: str) -> None:
    net = NETS[name]
    f, x = _flat_net(net, _input(net))
    buffers = {k: v.clone() for k, v in net.named_buffers()}
    batched = vmap(jacrev(f))(x)
    for i in (0, x.shape[0] - 1):
        single = torch.autograd.functional.jacobian(f, x[i])
        assert torch.allclose(batched[i], single, atol=1e-9), name
    for key, value in net.named_buffers():
        assert torch.equal(value, buffers[key]), f"{name}: buffer {key} changed under vmap"


@pytest.mark.parametrize("name", sorted(NETS))
def test_jvp_and_functional_call(name: str) -> None:
    net = NETS[name]
    f, x = _flat_net(net, _input(net))
    tangent = torch.ones_like(x[0])
    value, derivative = jvp(f, (x[0],), (tangent,))
    assert torch.allclose(value, f(x[0]))
    assert torch.isfinite(derivative).all()
    params = {k: v.detach().clone() for k, v in net.named_parameters()}
    out = functional_call(net, params, (_input(net),))
    expected = net(_input(net))
    parts = out if isinstance(out, tuple) else (out,)
    ref = expected if isinstance(expected, tuple) else (expected,)
    assert all(torch.allclose(a, b) for a, b in zip(parts, ref, strict=True))


@pytest.mark.slow
def test_odenet_compiles_without_graph_breaks() -> None:
    torch.manual_seed(0)
    net = ODENet(GradientFlow(2, width=4), Euler(), steps=3, step_rule="clip").double()
    x = torch.randn(4, 2, dtype=F64)
    # Dynamo's graph capture is what fullgraph tests; the eager backend needs no C compiler.
    compiled = torch.compile(net, fullgraph=True, backend="eager")
    assert torch.equal(compiled(x), net(x))
