"""Exactly reversible RevNet blocks by fixed-point additions (``RevNetBlock(fixed_point=k)``)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from structdl import ConfigError
from structdl.invertible import Compose, FixedPoint, ReversibleSequential, RevNetBlock
from structdl.structure import (
    Invertible,
    VolumePreserving,
    check_inverse,
    check_volume_preserving,
    guarantees,
)


def _mlp(depth: int, width: int, seed: int = 0, **options) -> list[RevNetBlock]:
    """The reversible MLP of the memory study: F, G = Linear(w/2, w/2) + tanh."""
    torch.manual_seed(seed)
    half = width // 2

    def sub() -> nn.Module:
        return nn.Sequential(nn.Linear(half, half), nn.Tanh())

    return [RevNetBlock(sub(), sub(), **options) for _ in range(depth)]


def _gradients(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    for p in net.parameters():
        p.grad = None
    x = x.clone().requires_grad_(True)
    net(x).sin().mean().backward()
    return torch.cat([x.grad.flatten()] + [p.grad.flatten() for p in net.parameters()])


def _relative(a: torch.Tensor, reference: torch.Tensor) -> float:
    return float((a - reference).abs().max() / reference.abs().max())


def test_fixed_point_grid_rounding_and_range():
    grid = FixedPoint(16)
    x = torch.randn(100, 7)
    q = grid.round(x)
    assert grid.on_grid(q) and not grid.on_grid(x)
    assert float((q - x).abs().max()) <= 2.0**-17
    assert torch.equal(grid.round(q), q)  # idempotent
    assert grid.bound(torch.float32) == 256.0 and grid.bound(torch.float64) == 2.0**37
    # Straight-through gradient.
    leaf = x.clone().requires_grad_(True)
    (grid.round(leaf) * torch.arange(7.0)).sum().backward()
    assert torch.equal(leaf.grad, torch.arange(7.0).expand(100, 7))
    for bad in (0, 51, 2.5, True, "16"):
        with pytest.raises(ConfigError, match="fraction_bits"):
            FixedPoint(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="significand"):
        FixedPoint(30).bound(torch.float32)


@pytest.mark.parametrize("depth", [128, 512])
def test_inverse_reconstructs_bit_for_bit_in_float32(depth):
    blocks = _mlp(depth, 32, fixed_point=16)
    net = ReversibleSequential(*blocks)
    grid = blocks[0].fixed_point
    for seed in range(3):
        x = grid.round(torch.randn(64, 32, generator=torch.Generator().manual_seed(seed)))
        with torch.no_grad():
            back = net.inverse(net(x))
        assert torch.equal(back, x)
    # The same for a single block through check_inverse with a zero tolerance.
    block = blocks[0]
    assert check_inverse(block, block.inverse, x, atol=0.0).ok


def test_without_fixed_point_the_inverse_is_not_exact():
    # Negative control: the same weights in plain floating point lose the low bits.
    net = ReversibleSequential(*_mlp(128, 32))
    x = FixedPoint(16).round(torch.randn(64, 32, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        back = net.inverse(net(x))
    assert not torch.equal(back, x)
    assert float((back - x).abs().max()) > 0.0


def test_gradients_equal_plain_backprop_at_depth_128_float32():
    # The bar's network, smaller batch: width 128, depth 128.
    blocks = _mlp(128, 128, fixed_point=16)
    x = blocks[0].fixed_point.round(
        torch.randn(256, 128, generator=torch.Generator().manual_seed(1))
    )
    reference = _gradients(Compose(blocks), x)
    error = _relative(_gradients(ReversibleSequential(*blocks), x), reference)
    assert error <= 1e-5, f"fixed-point gradient error {error:.3g}"


def test_gradients_without_fixed_point_drift_at_depth_128_float32():
    # Negative control of the test above: plain float32 additions, same size and seeds.
    blocks = _mlp(128, 128)
    x = FixedPoint(16).round(torch.randn(256, 128, generator=torch.Generator().manual_seed(1)))
    reference = _gradients(Compose(blocks), x)
    error = _relative(_gradients(ReversibleSequential(*blocks), x), reference)
    assert error > 1e-6, f"plain float32 reversible gradient error {error:.3g}"


def test_fixed_point_gradients_float64_and_batchnorm_statistics():
    torch.manual_seed(0)

    def sub() -> nn.Module:
        return nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Tanh())

    blocks = [RevNetBlock(sub(), sub(), fixed_point=20) for _ in range(6)]
    rev = ReversibleSequential(*blocks).double()
    plain = Compose(list(rev.blocks))
    x = FixedPoint(20).round(torch.randn(16, 8, dtype=torch.float64))
    state = {k: v.clone() for k, v in rev.state_dict().items()}
    reference = _gradients(plain, x)
    stats_plain = {k: v.clone() for k, v in rev.state_dict().items() if "running" in k}
    rev.load_state_dict(state)
    error = _relative(_gradients(rev, x), reference)
    stats_rev = {k: v.clone() for k, v in rev.state_dict().items() if "running" in k}
    assert error <= 1e-12
    assert all(torch.equal(stats_plain[k], stats_rev[k]) for k in stats_plain)


def test_claims_are_those_of_a_shear():
    block = _mlp(1, 8, fixed_point=12)[0].double()
    x = torch.randn(5, 8, dtype=torch.float64)
    assert guarantees(block) == frozenset({Invertible(), VolumePreserving()})
    assert check_volume_preserving(block, x).ok
    assert check_inverse(block, block.inverse, x).ok
    assert block.fixed_point == FixedPoint(12)


def test_off_grid_input_and_out_of_range_states_raise():
    net = ReversibleSequential(*_mlp(4, 8, fixed_point=16))
    with pytest.raises(ConfigError, match="not on its grid"):
        net(torch.randn(3, 8, requires_grad=True))
    # A state beyond 2^(24-16) = 256 in float32.
    big = FixedPoint(16).round(300.0 * torch.ones(3, 8))
    with pytest.raises(ConfigError, match="exact range"):
        net(big.requires_grad_(True))
    # Unbounded F: the states grow past the range inside the chain.
    torch.manual_seed(0)
    growing = [RevNetBlock(nn.Linear(4, 4), nn.Linear(4, 4), fixed_point=16) for _ in range(8)]
    for block in growing:
        with torch.no_grad():
            block.f.weight.fill_(3.0)
            block.g.weight.fill_(3.0)
    x = FixedPoint(16).round(torch.ones(2, 8))
    with pytest.raises(ConfigError, match="exact range"):
        ReversibleSequential(*growing)(x.requires_grad_(True))
    with pytest.raises(ConfigError, match="fixed_point"):
        RevNetBlock(nn.Linear(2, 2), nn.Linear(2, 2), fixed_point=1.5)  # type: ignore[arg-type]
