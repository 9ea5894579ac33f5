"""Memory-efficient backpropagation: ReversibleSequential, RevNet blocks, reversible ODE nets."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from structdl import ConfigError, IncompatibleSchemeError
from structdl.dynamics import (
    Euler,
    GradientFlow,
    ODENet,
    SecondOrder,
    SeparableHamiltonian,
    StormerVerlet,
    Strang,
    separable_split,
)
from structdl.invertible import (
    Compose,
    IResNetBlock,
    ODEBijection,
    ReversibleSequential,
    RevNetBlock,
    volume_preserving_network,
)
from structdl.structure import (
    Invertible,
    VolumePreserving,
    check_inverse,
    check_volume_preserving,
    guarantees,
)

F64 = torch.float64


def _saved_bytes(fn) -> tuple[int, object]:
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return total, out


def _sub(width: int, *, batch_norm: bool = False, dropout: float = 0.0) -> nn.Module:
    layers: list[nn.Module] = [nn.Linear(width, width)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(width))
    layers.append(nn.Tanh())
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def _revnet(depth: int, width: int = 3, seed: int = 0, **options) -> list[RevNetBlock]:
    torch.manual_seed(seed)
    return [RevNetBlock(_sub(width, **options), _sub(width, **options)) for _ in range(depth)]


def _step(net, x: torch.Tensor, seed: int = 7, owner=None) -> tuple[torch.Tensor, dict]:
    """One loss + backward from a fixed RNG state; returns all gradients and the buffers."""
    torch.manual_seed(seed)
    for p in net.parameters():
        p.grad = None
    x = x.clone().requires_grad_(True)
    y, logdet = net.forward_and_logdet(x)
    (y.sin().sum() + logdet.sum()).backward()
    grads = [x.grad.flatten()] + [
        torch.zeros(p.numel(), dtype=p.dtype) if p.grad is None else p.grad.flatten()
        for p in net.parameters()
    ]
    owner = net if owner is None else owner
    buffers = {k: v.clone() for k, v in owner.state_dict().items() if "running" in k}
    return torch.cat(grads), buffers


def _compare(rev: ReversibleSequential, x: torch.Tensor) -> tuple[float, float]:
    plain = Compose(list(rev.blocks))
    state = {k: v.clone() for k, v in rev.state_dict().items()}
    g_plain, b_plain = _step(plain, x, owner=rev)
    after_plain = torch.rand(3)
    rev.load_state_dict(state)
    g_rev, b_rev = _step(rev, x)
    after_rev = torch.rand(3)
    assert torch.equal(after_plain, after_rev), "the backward pass must not consume RNG draws"
    grad_error = float((g_plain - g_rev).abs().max() / g_plain.abs().max())
    stat_error = max([float((b_plain[k] - b_rev[k]).abs().max()) for k in b_plain] + [0.0])
    return grad_error, stat_error


def test_revnet_block_is_volume_preserving_and_invertible():
    block = _revnet(1)[0].double()
    x = torch.randn(8, 6, dtype=F64)
    assert guarantees(block) == frozenset({Invertible(), VolumePreserving()})
    assert check_volume_preserving(block, x).ok
    assert check_inverse(block, block.inverse, x).ok
    torch.manual_seed(0)
    not_volume = IResNetBlock(6, hidden=8, coefficient=0.9).double()  # negative control
    assert not check_volume_preserving(not_volume, x).ok


@pytest.mark.parametrize(
    "options", [{}, {"batch_norm": True}, {"batch_norm": True, "dropout": 0.3}]
)
def test_gradients_and_batchnorm_statistics_equal_plain_backprop_float64(options):
    rev = ReversibleSequential(*_revnet(6, **options)).double()
    grad_error, stat_error = _compare(rev, torch.randn(16, 6, dtype=F64))
    assert grad_error <= 1e-12
    assert stat_error == 0.0


def test_gradients_equal_plain_backprop_float32():
    rev = ReversibleSequential(*_revnet(16, width=8))
    grad_error, _ = _compare(rev, torch.randn(64, 16))
    assert grad_error <= 1e-5


def test_live_activation_memory_is_flat_in_depth():
    x = torch.randn(32, 8, requires_grad=True)
    sizes = []
    for depth in (4, 32):
        rev = ReversibleSequential(*_revnet(depth, width=4))
        sizes.append(_saved_bytes(lambda r=rev: r(x))[0])
        plain = Compose(list(rev.blocks))
        plain_bytes = _saved_bytes(lambda p=plain: p(x))[0]
        assert plain_bytes > depth * x.numel() * 4  # grows with depth
    assert sizes[0] == sizes[1] == x.numel() * 4  # the output only


def test_non_invertible_blocks_are_checkpointed_and_refuse_inverse():
    torch.manual_seed(0)
    rev = ReversibleSequential(
        RevNetBlock(nn.Linear(2, 2), nn.Linear(2, 2)),
        nn.Sequential(nn.Linear(4, 4), nn.Tanh()),
        RevNetBlock(nn.Linear(2, 2), nn.Linear(2, 2)),
    ).double()
    plain = nn.Sequential(*rev.blocks)
    x = torch.randn(8, 4, dtype=F64)
    grads = []
    for net in (plain, rev):
        xx = x.clone().requires_grad_(True)
        rev.zero_grad()
        net(xx).square().sum().backward()
        grads.append(torch.cat([xx.grad.flatten()] + [p.grad.flatten() for p in rev.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-13)
    assert guarantees(rev) == frozenset()
    with pytest.raises(IncompatibleSchemeError, match="block 1 \\(Sequential\\) is not invertible"):
        rev.inverse(x)
    with pytest.raises(IncompatibleSchemeError, match="expected every block to be a Bijection"):
        rev.forward_and_logdet(x)


def test_bad_configuration_is_a_typed_error():
    with pytest.raises(ConfigError, match="nn.Module blocks"):
        ReversibleSequential()
    with pytest.raises(ConfigError, match="drift_threshold"):
        ReversibleSequential(nn.Linear(2, 2), drift_threshold=-1.0)


@pytest.mark.parametrize("logdet", ["exact", "roulette"])
def test_iresnet_chain_gradients_equal_plain_in_training_mode(logdet):
    torch.manual_seed(0)
    blocks = [IResNetBlock(3, hidden=8, coefficient=0.7, logdet=logdet) for _ in range(3)]
    rev = ReversibleSequential(*blocks).double()
    grad_error, _ = _compare(rev, torch.randn(8, 3, dtype=F64))
    assert grad_error <= 1e-8  # the inverse is iterative: residual-limited agreement


def test_drift_monitor_anchors_and_reports():
    torch.manual_seed(0)
    blocks = [IResNetBlock(3, hidden=8, coefficient=0.9, inverse_tol=1e-3) for _ in range(6)]
    plain = Compose(blocks).double().eval()
    x = torch.randn(16, 3, dtype=F64)
    reference, _ = _step(plain, x)
    errors, reports = {}, {}
    for threshold in (None, 2e-4, 1e-12):
        rev = ReversibleSequential(*plain.transforms, drift_threshold=threshold)
        grads, _ = _step(rev, x)
        errors[threshold] = float((grads - reference).abs().max())
        reports[threshold] = rev.drift_report
    assert reports[None].anchors == [] and reports[None].block_errors == []
    every = reports[1e-12]
    assert len(every.block_errors) == 6 and min(every.block_errors) > 0
    assert every.anchors == list(range(6))
    some = reports[2e-4]
    assert 0 < len(some.anchors) < 6
    assert all(v > 2e-4 for v in some.anchor_drift.values())
    assert errors[None] > 1e-6  # a sloppy inverse spoils the gradient ...
    assert errors[1e-12] < 1e-12  # ... and anchoring every block restores it


def test_volume_preserving_network():
    net = volume_preserving_network(5, depth=4, hidden=8).double()
    x = torch.randn(6, 5, dtype=F64)
    assert {Invertible(), VolumePreserving()} <= guarantees(net)
    assert check_volume_preserving(net, x).ok
    assert check_inverse(net, net.inverse, x).ok


def _hamiltonian_net(
    depth: int, field=SeparableHamiltonian, *, learn_steps: bool = False
) -> ODENet:
    torch.manual_seed(0)
    fields = [field(3, width=6) for _ in range(depth)]
    return ODENet(fields, StormerVerlet(), T=1.0, learn_steps=learn_steps).double()


@pytest.mark.parametrize("field", [SeparableHamiltonian, SecondOrder])
@pytest.mark.parametrize("learn_steps", [False, True])
def test_reversible_ode_gradient_equals_backprop_through_steps(field, learn_steps):
    net = _hamiltonian_net(64, field, learn_steps=learn_steps)
    x = torch.randn(8, 6, dtype=F64)
    grads, sizes = [], []
    for memory in ("backprop", "reversible"):
        flow = ODEBijection(net, memory=memory)
        net.zero_grad()
        xx = x.clone().requires_grad_(True)
        size, z = _saved_bytes(lambda f=flow, v=xx: f(v))
        z.sin().sum().backward()
        grads.append(torch.cat([xx.grad.flatten()] + [p.grad.flatten() for p in net.parameters()]))
        sizes.append(size)
    assert float((grads[0] - grads[1]).abs().max() / grads[0].abs().max()) <= 1e-10
    assert sizes[1] * 50 <= sizes[0]


def test_ode_bijection_claims_follow_the_network_and_refuse_other_integrators():
    flow = ODEBijection(_hamiltonian_net(4))
    x = torch.randn(5, 6, dtype=F64)
    assert guarantees(flow) == frozenset({Invertible(), VolumePreserving()})
    assert check_volume_preserving(flow, x).ok
    assert check_inverse(flow, flow.inverse, x).ok
    with pytest.raises(IncompatibleSchemeError, match="no exact inverse step"):
        ODEBijection(ODENet(GradientFlow(2, width=3), Euler(), steps=3))
    with pytest.raises(ConfigError, match="embed=None"):
        ODEBijection(ODENet(SeparableHamiltonian(2), StormerVerlet(), steps=2, embed="phase"))


def test_reversible_ode_gradient_through_a_strang_splitting_of_shears():
    torch.manual_seed(0)
    fields = [separable_split(SeparableHamiltonian(2, width=4)) for _ in range(16)]
    net = ODENet(fields, Strang()).double()
    x = torch.randn(5, 4, dtype=F64)
    grads = []
    for memory in ("backprop", "reversible"):
        flow = ODEBijection(net, memory=memory)
        net.zero_grad()
        xx = x.clone().requires_grad_(True)
        flow(xx).sin().sum().backward()
        grads.append(torch.cat([xx.grad.flatten()] + [p.grad.flatten() for p in net.parameters()]))
    assert guarantees(flow) == frozenset({Invertible(), VolumePreserving()})
    assert float((grads[0] - grads[1]).abs().max() / grads[0].abs().max()) <= 1e-12
    assert check_inverse(flow, flow.inverse, x).ok


def test_conditional_blocks_receive_the_context_and_its_gradient():
    from structdl.invertible import AffineCoupling

    torch.manual_seed(0)
    blocks = [AffineCoupling(4, hidden=8, parity=i % 2, context_features=3) for i in range(4)]
    rev = ReversibleSequential(*blocks).double()
    plain = Compose(list(rev.blocks))
    x, context = torch.randn(6, 4, dtype=F64), torch.randn(6, 3, dtype=F64)
    grads = []
    for net in (plain, rev):
        net.zero_grad()
        xx, cc = x.clone().requires_grad_(True), context.clone().requires_grad_(True)
        z, logdet = net.forward_and_logdet(xx, cc)
        (z.sin().sum() + logdet.sum()).backward()
        params = [p.grad.flatten() for p in rev.parameters()]
        grads.append(torch.cat([xx.grad.flatten(), cc.grad.flatten(), *params]))
    assert torch.allclose(grads[0], grads[1], atol=1e-12)
    back = rev.inverse(rev(x, context), context)
    assert torch.allclose(back, x, atol=1e-12)
