"""Invertible linear maps, 1×1 convolutions, ActNorm and rearrangements."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError, InverseError, ShapeError
from structdl.invertible import (
    ActNorm,
    CayleyLinear,
    HaarDownsample,
    HouseholderLinear,
    InvertibleConv1x1,
    LULinear,
    QRLinear,
    Squeeze,
)
from structdl.structure import BiLipschitz, check_lipschitz, guarantees


@pytest.mark.parametrize("cls", [LULinear, InvertibleConv1x1])
def test_singular_initial_weight_is_refused_with_a_config_error(cls) -> None:
    singular = torch.tensor([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(ConfigError, match="singular"):
        cls(2, weight=singular)
    with pytest.raises(ConfigError, match=r"\(2, 2\) matrix"):
        cls(2, weight=torch.eye(3))


def test_lu_linear_keeps_a_given_weight() -> None:
    weight = torch.tensor([[2.0, 1.0], [0.5, 3.0]])
    layer = LULinear(2, weight=weight)
    assert torch.allclose(layer.weight(), weight, atol=1e-6)


@pytest.mark.parametrize("cls", [HouseholderLinear, CayleyLinear])
def test_orthogonal_maps_stay_orthogonal_after_training(cls) -> None:
    torch.manual_seed(0)
    layer = cls(4).double()
    optimiser = torch.optim.Adam(layer.parameters(), lr=0.1)
    target = torch.randn(4, 4, dtype=torch.float64)
    for _ in range(20):
        optimiser.zero_grad()
        ((layer.weight() - target) ** 2).sum().backward()
        optimiser.step()
    w = layer.weight()
    assert torch.allclose(w @ w.T, torch.eye(4, dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize(
    "layer, x",
    [
        (LULinear(3), torch.randn(16, 3, dtype=torch.float64)),
        (QRLinear(3), torch.randn(16, 3, dtype=torch.float64)),
        (InvertibleConv1x1(2), torch.randn(16, 2, 2, 2, dtype=torch.float64)),
        (HaarDownsample(), torch.randn(16, 1, 2, 2, dtype=torch.float64)),
    ],
)
def test_bilipschitz_bounds_hold_both_ways(layer, x) -> None:
    torch.manual_seed(0)
    layer = layer.double()
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    (tag,) = [t for t in guarantees(layer) if isinstance(t, BiLipschitz)]
    assert check_lipschitz(layer, x, bound=tag.forward, ascent_steps=30).ok
    assert check_lipschitz(layer.inverse, layer(x), bound=tag.inverse, ascent_steps=30).ok
    # Negative controls: 0.9 times either constant is exceeded somewhere (the bounds are tight).
    assert not check_lipschitz(layer, x, bound=0.9 * tag.forward, ascent_steps=30).ok
    assert not check_lipschitz(layer.inverse, layer(x), bound=0.9 * tag.inverse, ascent_steps=30).ok


def test_lu_conv_never_fails_to_invert_at_extreme_parameters() -> None:
    torch.manual_seed(0)
    conv = InvertibleConv1x1(4).double()
    x = torch.randn(3, 4, 2, 2, dtype=torch.float64)
    for trial in range(200):
        with torch.no_grad():
            for p in conv.parameters():
                p.copy_(torch.randn_like(p) * (0.5 + trial / 40))
            conv.matrix.log_pivots.clamp_(-8, 8)
            z, logdet = conv.forward_and_logdet(x)
            back, inverse_logdet = conv.inverse_and_logdet(z)
            condition = torch.linalg.cond(conv.weight())
        assert torch.isfinite(back).all() and torch.isfinite(logdet).all()
        assert torch.equal(logdet, -inverse_logdet)
        scale = max(1.0, float(z.abs().max()))
        # Backward stable: the error is round-off times the condition number.
        assert (back - x).abs().max() <= 1e-12 * scale * condition


def test_plain_conv_guard_raises_inverse_error_when_singular() -> None:
    conv = InvertibleConv1x1(2, parametrisation="plain")
    with torch.no_grad():
        conv.plain_weight.copy_(torch.tensor([[1.0, 1.0], [1.0, 1.0 + 1e-9]]))
    with pytest.raises(InverseError, match="singular") as info:
        conv(torch.randn(1, 2, 2, 2))
    assert info.value.residual > 1e6


def test_actnorm_initialises_once_and_the_flag_is_saved() -> None:
    norm = ActNorm(2)
    norm(3 * torch.randn(64, 2) + 1)
    shift = norm.shift.detach().clone()
    norm(torch.randn(64, 2))
    assert torch.equal(norm.shift, shift)
    fresh = ActNorm(2)
    fresh.load_state_dict(norm.state_dict())
    fresh(torch.randn(64, 2))
    assert torch.equal(fresh.shift, shift)


def test_squeeze_and_haar_reject_odd_sizes() -> None:
    for layer in (Squeeze(), HaarDownsample()):
        with pytest.raises(ShapeError, match="even H and W"):
            layer(torch.randn(1, 1, 3, 4))


def test_haar_average_channel_is_twice_the_block_mean() -> None:
    x = torch.randn(2, 3, 4, 4)
    z = HaarDownsample()(x)
    mean = torch.nn.functional.avg_pool2d(x, 2)
    assert torch.allclose(z[:, 0::4], 2 * mean, atol=1e-6)


def test_inverse_swaps_bilipschitz_constants_and_reads_base_conditions() -> None:
    torch.manual_seed(0)
    layer = LULinear(3, weight=torch.diag(torch.tensor([4.0, 1.0, 0.5]))).double()
    (ahead,) = [t for t in guarantees(layer) if isinstance(t, BiLipschitz)]
    (back,) = [t for t in guarantees(layer.inv) if isinstance(t, BiLipschitz)]
    assert (back.forward, back.inverse) == (ahead.inverse, ahead.forward)
    # Built in float32, then converted: the constants carry float32 rounding.
    assert abs(ahead.forward - 4.0) < 1e-6 and abs(ahead.inverse - 2.0) < 1e-6
    # A base whose claims have conditions on its own attributes (an i-ResNet's certified
    # Lipschitz bound): the inverse evaluates them on the base instead of failing.
    from structdl.invertible import IResNetBlock

    assert guarantees(IResNetBlock(2).inv)
