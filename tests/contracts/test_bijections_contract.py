"""One contract over every registered bijection (``structdl.invertible._examples``).

For each example: the reported log-determinant equals the brute-force autograd Jacobian's
(1e-10 in float64, 1e-4 in float32; a continuous flow on a fixed grid within its declared
discretisation error), the inverse undoes the forward map and reports minus its log-
determinant, a stack of depth 64 reconstructs its input to 1e-5 in float32, gradients reach
every parameter, a saved state dict reproduces the map, and every claim that
``guarantees(obj)`` derives is confirmed by ``assert_preserves``. Negative controls: a wrong
inverse and a wrong log-determinant must fail the checks. A public ``Bijection`` class in
``structdl.invertible.__all__`` without an example fails
:func:`test_every_bijection_has_an_example`.
"""

from __future__ import annotations

import inspect
import io

import pytest
import torch

import structdl.invertible as invertible
from structdl.invertible import ActNorm, Bijection, Compose
from structdl.invertible._examples import EXAMPLES, Example
from structdl.structure import (
    BiLipschitz,
    Invertible,
    VolumePreserving,
    assert_preserves,
    check_inverse,
    check_lipschitz,
    check_volume_preserving,
    guarantees,
    tolerance,
)

IDS = [e.name for e in EXAMPLES]


def _stack_marks(example: Example) -> list[pytest.MarkDecorator]:
    # The stack test of costly layers runs in the slow suite (``pytest -m slow``).
    return [pytest.mark.slow] if example.slow_stack else []


STACK_CASES = [pytest.param(e, id=e.name, marks=_stack_marks(e)) for e in EXAMPLES]
BATCH = 6
#: Reconstruction bar of a depth-64 stack in float32 (max abs error, inputs of unit scale).
STACK_ATOL = 1e-5
STACK_DEPTH = 64


def _inputs(example: Example, dtype: torch.dtype, seed: int = 0, batch: int = BATCH):
    gen = torch.Generator().manual_seed(seed)
    x = example.input_scale * torch.randn(batch, *example.event_shape, generator=gen, dtype=dtype)
    context = None
    if example.context_features:
        context = torch.randn(batch, example.context_features, generator=gen, dtype=dtype)
    return x, context


def _build(example: Example, dtype: torch.dtype, seed: int = 0, *, stack: bool = False):
    torch.manual_seed(seed)
    build = example.stack_build if stack and example.stack_build is not None else example.build
    model = build().to(dtype)
    if example.warm_up and not stack:
        x, context = _inputs(example, dtype, seed=99, batch=32)
        model(x, context)
    return model


def _logdet_tolerance(example: Example, dtype: torch.dtype) -> float:
    if example.logdet_atol is None:
        return tolerance(dtype).exact
    return example.logdet_atol["float64" if dtype == torch.float64 else "float32"]


def _autograd_logdet(model: Bijection, x: torch.Tensor, context: torch.Tensor | None):
    values = []
    for i in range(x.shape[0]):
        row = None if context is None else context[i : i + 1]

        def flat(v: torch.Tensor, row=row) -> torch.Tensor:
            return model(v.reshape(1, *x.shape[1:]), row).reshape(-1)

        jac = torch.autograd.functional.jacobian(flat, x[i].reshape(-1))
        values.append(torch.linalg.slogdet(jac.double())[1])
    return torch.stack(values)


def test_every_bijection_has_an_example() -> None:
    covered = {type(e.build()).__name__ for e in EXAMPLES}
    public = [
        name
        for name in invertible.__all__
        if inspect.isclass(getattr(invertible, name))
        and issubclass(getattr(invertible, name), Bijection)
        and not inspect.isabstract(getattr(invertible, name))
        and getattr(invertible, name) is not Bijection
    ]
    missing = sorted(set(public) - covered)
    assert not missing, f"public bijections without an example in _examples.py: {missing}"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_logdet_matches_autograd_jacobian(example: Example, dtype: torch.dtype) -> None:
    model = _build(example, dtype)
    x, context = _inputs(example, dtype)
    _, logdet = model.forward_and_logdet(x, context)
    assert logdet.shape == (BATCH,)
    reference = _autograd_logdet(model, x, context)
    error = (logdet.double() - reference).abs().max().item()
    assert error <= _logdet_tolerance(example, dtype), f"log-det error {error:.3g}"


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_round_trip_and_inverse_logdet(example: Example) -> None:
    model = _build(example, torch.float64)
    x, context = _inputs(example, torch.float64, seed=1)
    z, logdet = model.forward_and_logdet(x, context)
    back, inverse_logdet = model.inverse_and_logdet(z, context)
    atol = _logdet_tolerance(example, torch.float64)
    assert (back - x).abs().max().item() <= atol
    assert (logdet + inverse_logdet).abs().max().item() <= atol
    # The inverse object is a bijection with the same maps, and .inv.inv is the original.
    assert model.inv.inv is model
    assert torch.allclose(model.inv(z, context), back)


@pytest.mark.parametrize("example", STACK_CASES)
def test_depth_64_stack_reconstructs_in_float32(example: Example) -> None:
    x, context = _inputs(example, torch.float32, seed=2)
    layers = []
    for i in range(STACK_DEPTH):
        layer = _build(example, torch.float32, seed=100 + i, stack=True)
        if layer(x, context).shape != x.shape and i % 2:
            # A shape-changing map (squeeze, multiscale) alternates with another one's inverse.
            layer = layer.inv
        elif example.warm_up:
            # _build's own check pass initialised the data-dependent layers on an unrelated
            # batch; start them afresh so that the warm-up initialises each on its own input.
            for module in layer.modules():
                if isinstance(module, ActNorm):
                    module.initialised.fill_(False)
        layers.append(layer)
    stack = Compose(layers)
    if example.warm_up:
        # Data-dependent initialisation through the stack: each layer sees its own input.
        warm, warm_context = _inputs(example, torch.float32, seed=99, batch=32)
        stack(warm, warm_context)
    with torch.no_grad():
        back = stack.inverse(stack(x, context), context)
    # Relative to the input's scale, so the bar does not depend on the example's input_scale.
    error = ((back - x).abs().max() / x.abs().max()).item()
    assert error <= STACK_ATOL, f"depth-{STACK_DEPTH} relative reconstruction error {error:.3g}"


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_gradients_reach_every_parameter(example: Example) -> None:
    model = _build(example, torch.float64)
    x, context = _inputs(example, torch.float64, seed=3)
    z, logdet = model.forward_and_logdet(x, context)
    back, inverse_logdet = model.inverse_and_logdet(z.detach(), context)
    loss = (z**2).sum() + logdet.sum() + (back**2).sum() + inverse_logdet.sum()
    if not loss.requires_grad:  # a map without parameters
        assert not list(model.parameters())
        return
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, f"no gradient reaches {name}"
        assert torch.isfinite(param.grad).all(), f"non-finite gradient of {name}"
        assert param.grad.abs().sum() > 0, f"zero gradient of {name}"


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_state_dict_round_trip(example: Example) -> None:
    model = _build(example, torch.float64)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    torch.manual_seed(12345)  # a different draw of every random parameter
    fresh = example.build().to(torch.float64)
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer))
    x, context = _inputs(example, torch.float64, seed=4)
    z, logdet = model.forward_and_logdet(x, context)
    z2, logdet2 = fresh.forward_and_logdet(x, context)
    assert torch.equal(z, z2) and torch.equal(logdet, logdet2)


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_declared_claims_hold(example: Example) -> None:
    model = _build(example, torch.float64)
    derived = guarantees(model)
    assert Invertible() in derived
    if example.context_features:
        pytest.skip("the structure checks call maps without a context")
    x, _ = _inputs(example, torch.float64, seed=5)
    if example.logdet_atol is not None:
        # A continuous flow's inverse is exact up to its discretisation error, not round-off.
        result = check_inverse(model, model.inverse, x, atol=example.logdet_atol["float64"])
        assert result.ok, result.reason
        derived = derived - {Invertible()}
        if not derived:
            return
    # BiLipschitz: check_lipschitz on both directions, with a shorter adversarial search than
    # assert_preserves' default (the constants are exact for these maps; 30 ascent steps from
    # 16 starts reach them); every other derived tag through assert_preserves.
    for tag in [t for t in derived if isinstance(t, BiLipschitz)]:
        ahead = check_lipschitz(model, x, bound=tag.forward, ascent_steps=30)
        back = check_lipschitz(model.inverse, model(x), bound=tag.inverse, ascent_steps=30)
        assert ahead.ok and back.ok, f"{ahead.reason}; {back.reason}"
    rest = {t for t in derived if not isinstance(t, BiLipschitz)}
    assert_preserves(model, x, properties=rest)


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_negative_controls_fail(example: Example) -> None:
    model = _build(example, torch.float64)
    x, context = _inputs(example, torch.float64, seed=6)

    def row_context(v: torch.Tensor) -> torch.Tensor | None:
        # One context row for every point: the checks call the map on batches of any size.
        return None if context is None else context[:1].expand(v.shape[0], -1)

    def forward(v: torch.Tensor) -> torch.Tensor:
        return model(v, row_context(v))

    wrong_inverse = check_inverse(forward, lambda v: model.inverse(v, row_context(v)) + 1e-3, x)
    assert not wrong_inverse.ok
    logdet_off = check_volume_preserving(
        lambda v: forward(v).reshape(v.shape[0], -1),
        x,
        logdet=lambda v: model.forward_and_logdet(v, row_context(v))[1] + 1e-3,
    )
    assert not logdet_off.ok
    if VolumePreserving() in guarantees(model):
        # A volume-preserving map scaled by 1.01 must fail the volume check.
        assert not check_volume_preserving(lambda v: 1.01 * forward(v), x).ok
