"""One contract, run over every equivariant layer of structdl.equivariant.

For each registered example: forward in float32 and float64, equivariance (exact layers to the
dtype's tolerance; interpolated ones approximately, and they must not claim exactness),
declared structure checked by ``assert_preserves``, gradients reach every parameter,
state-dict round trip, and ``export()`` where the layer has it.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

import structdl.equivariant as equivariant
from structdl.equivariant._examples import layer_examples
from structdl.structure import (
    Equivariant,
    assert_preserves,
    check_equivariance,
    guarantees,
    tolerance,
)

EXAMPLES = layer_examples()


def _input(example, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(example.input_shape, generator=gen, dtype=dtype)


def _smooth_disc_input(example, dtype):
    """Blurred noise inside the inscribed disc: rotating it by interpolation is accurate."""
    x = _input(example, dtype)
    n = x.shape[-1]
    t = torch.arange(-3, 4, dtype=dtype)
    blur = torch.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * 1.5**2))
    flat = x.reshape(-1, 1, n, n)
    flat = torch.nn.functional.conv2d(flat, (blur / blur.sum())[None, None], padding=3)
    c = torch.arange(n, dtype=dtype) - (n - 1) / 2
    disc = (c[:, None] ** 2 + c[None, :] ** 2) <= ((n - 1) / 2 - 2) ** 2
    return (flat * disc).reshape(x.shape)


class _DiscMask(nn.Module):
    def forward(self, y):
        n = y.shape[-1]
        c = torch.arange(n, dtype=y.dtype) - (n - 1) / 2
        return y * ((c[:, None] ** 2 + c[None, :] ** 2) <= ((n - 1) / 2 - 1) ** 2)


def _masked(action):
    return lambda g, y: _DiscMask()(action(g, y))


def _build(example, dtype=torch.float32):
    torch.manual_seed(0)
    module = example.build().to(dtype)
    # Non-zero biases and affine parameters, so that their equivariance is tested too.
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.endswith("bias"):
                param.normal_(std=0.1)
    return module


def test_every_public_layer_class_is_in_the_catalogue():
    public = {
        obj
        for name in equivariant.__all__
        if inspect.isclass(obj := getattr(equivariant, name)) and issubclass(obj, nn.Module)
    }
    covered = {example.cls for example in EXAMPLES}
    assert public and public <= covered, f"missing: {sorted(c.__name__ for c in public - covered)}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
def test_equivariance(example, dtype):
    layer = module = _build(example, dtype)
    group, in_action, out_action = example.actions(module)
    x = _input(example, dtype) if group.exact else _smooth_disc_input(example, dtype)
    if not group.exact:
        # Rotating by interpolation fills the corners with zeros: compare on the central disc.
        module = nn.Sequential(module, _DiscMask())
        out_action = _masked(out_action)
    with torch.no_grad():
        y = module(x)
        result = check_equivariance(module, group, in_action, out_action, x)
    assert y.dtype == dtype and torch.isfinite(y).all()
    if group.exact:
        assert result.ok, result.reason
        assert result.worst <= tolerance(dtype).equivariance
    else:
        # Interpolated groups: a bounded, nonzero error, not claimed as exact structure. A
        # single 45°-interpolated layer measures up to ~0.13 here (lifting C8, float64); deep
        # networks on smooth images measure ~2e-2 (tests/equivariant/test_networks.py).
        assert 1e-6 < result.worst < 0.25
        assert layer.exact is False
        assert Equivariant(group) not in guarantees(layer)
        # Negative control of the check itself: the exact check must reject this layer.
        assert not result.ok


# Point-wise maps and spatial pooling declare no feature types (the catalogue supplies actions).
DECLARING = [e for e in EXAMPLES if e.input_action is None]


@pytest.mark.parametrize("example", DECLARING, ids=lambda e: e.name)
def test_declared_structure(example):
    module = _build(example, torch.float64)
    assert module.group is not None and module.out_rep is not None
    x = _input(example, torch.float64)
    if module.is_exactly_equivariant:
        assert guarantees(module) == {Equivariant(module.group)}
        with torch.no_grad():
            assert_preserves(module, x)
    else:
        assert guarantees(module) == frozenset()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
def test_gradients_reach_the_input_and_every_parameter(example):
    module = _build(example, torch.float64)
    params = dict(module.named_parameters())
    x = _input(example, torch.float64).requires_grad_(True)
    (module(x) ** 2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # gradients flow to the input too
    for name, param in params.items():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    weights = [p for n, p in params.items() if n.endswith("weight")]
    assert all(p.grad.abs().sum() > 0 for p in weights)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
def test_state_dict_round_trip(example):
    module = _build(example)
    with torch.no_grad():
        for param in module.parameters():
            param.add_(0.05)
    twin = example.build()
    twin.load_state_dict(module.state_dict())
    module.eval()
    twin.eval()
    x = _input(example, torch.float32)
    with torch.no_grad():
        assert torch.equal(module(x), twin(x))


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if hasattr(e.cls, "export")], ids=lambda e: e.name
)
def test_export_matches(example):
    module = _build(example)
    x = _input(example, torch.float32)
    conv = module.export(input_size=x.shape[-1])
    assert type(conv) is nn.Conv2d
    with torch.no_grad():
        y = module(x)
        z = conv(x.reshape(x.shape[0], -1, *x.shape[-2:]))
    assert torch.equal(z.reshape(y.shape), y)


# -- torch.func transforms and torch.compile ---------------------------------------------------


# torch.func.jvp scripts a helper of torch's own on first use, which warns of deprecation.
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
def test_layer_under_vmap_jacrev_jvp_and_functional_call(example):
    # Per-sample Jacobians, forward-mode tangents and functional parameter gradients must agree
    # with plain autograd (eval mode: batch norm uses its running statistics, as torch's own).
    module = _build(example, torch.float64).eval()
    x = _input(example, torch.float64)

    def single(z):
        return module(z[None])[0]

    jacobians = torch.func.vmap(torch.func.jacrev(single))(x)
    reference = torch.autograd.functional.jacobian(single, x[-1], vectorize=True)
    torch.testing.assert_close(jacobians[-1], reference, rtol=1e-10, atol=1e-10)

    tangent = _input(example, torch.float64, seed=1)
    out, pushed = torch.func.jvp(module, (x,), (tangent,))
    torch.testing.assert_close(out, module(x), rtol=1e-12, atol=1e-12)
    row = jacobians[0].reshape(out[0].numel(), -1) @ tangent[0].reshape(-1)
    torch.testing.assert_close(pushed[0].reshape(-1), row, rtol=1e-9, atol=1e-9)

    params = {name: p.detach() for name, p in module.named_parameters()}
    if params:
        buffers = dict(module.named_buffers())

        def loss(p):
            return torch.func.functional_call(module, {**p, **buffers}, (x,)).square().sum()

        by_func = torch.func.grad(loss)(params)
        by_autograd = torch.autograd.grad(module(x).square().sum(), list(module.parameters()))
        for got, want in zip(by_func.values(), by_autograd, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.script:DeprecationWarning")
@pytest.mark.parametrize("name", ["lifting_p4", "gconv_p4m_stride2", "lifting_c8_interpolated"])
def test_layer_compiles_without_graph_breaks(name):
    # fullgraph=True turns any graph break into an error; the filter bank's geometry lives in
    # buffers built at construction, so nothing is cached or built inside the traced forward.
    import warnings

    example = next(e for e in EXAMPLES if e.name == name)
    module = _build(example)
    x = _input(example, torch.float32).requires_grad_(True)
    compiled = torch.compile(module, fullgraph=True, dynamic=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*lru_cache.*")
        out = compiled(x)
    torch.testing.assert_close(out, module(x), rtol=1e-5, atol=1e-5)
    (grad,) = torch.autograd.grad(out.square().sum(), x)
    (want,) = torch.autograd.grad(module(x).square().sum(), x)
    torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-5)
