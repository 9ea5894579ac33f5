"""Learned proximal-gradient reconstruction: block equivariance, export, pipeline structure."""

from __future__ import annotations

import pytest
import torch

from structdl._errors import ConfigError, ShapeError
from structdl.data.phantoms import random_ellipses
from structdl.equivariant import C2, C4, C, act_image
from structdl.structure import Equivariant, guarantees
from structdl.structure.checks import check_equivariance
from structdl.structure.testing import assert_preserves
from structdl.tomography import RadonTransform
from structdl.tomography.learned import LearnedProximalGradient, ProximalCNN, ProximalGCNN


def _randomise(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    # Zero-initialised residual weights would hide a broken middle layer: fill every parameter.
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return module


@pytest.mark.parametrize("group", [C2, C4])
def test_group_block_is_equivariant_and_cnn_block_is_not(group) -> None:
    z = torch.randn(2, 7, 12, 12, generator=torch.Generator().manual_seed(0))
    block = _randomise(ProximalGCNN(1, 5, 3, group), 1)
    assert check_equivariance(block, group, act_image, act_image, z)
    control = _randomise(ProximalCNN(1, 5, 3 * group.order), 1)
    assert not check_equivariance(control, group, act_image, act_image, z)


def test_export_is_a_plain_block_with_the_same_output_and_width() -> None:
    block = _randomise(ProximalGCNN(1, 5, 4, C4).double(), 2)
    plain = block.export()
    assert isinstance(plain, ProximalCNN)
    assert plain.conv_mid.weight.shape == (16, 16, 3, 3)
    z = torch.randn(3, 7, 10, 10, dtype=torch.float64)
    torch.testing.assert_close(plain(z), block(z), rtol=1e-12, atol=1e-12)


def test_reconstruction_map_is_c4_equivariant_with_group_blocks_only() -> None:
    op = RadonTransform(16, 8)  # 8 angles: quarter turns permute the views
    images = random_ellipses(2, 16, seed=0, dtype=torch.float64)

    def build(block_factory, init: str) -> torch.nn.Module:
        torch.manual_seed(0)
        model = LearnedProximalGradient(op, block_factory, iterations=2, init=init)
        _randomise(model, 3).double()
        return lambda x: model(op(x))

    for init in ("zero", "fbp"):
        group_map = build(lambda c, m: ProximalGCNN(c, m, 2, C4), init)
        assert check_equivariance(group_map, C4, act_image, act_image, images)
    cnn_map = build(lambda c, m: ProximalCNN(c, m, 8), "zero")
    assert not check_equivariance(cnn_map, C4, act_image, act_image, images)


def test_learned_reconstruction_trains() -> None:
    torch.manual_seed(0)
    op = RadonTransform(16, 8)
    x = random_ellipses(4, 16, seed=1)
    y = op(x)
    model = LearnedProximalGradient(op, lambda c, m: ProximalCNN(c, m, 8), iterations=2)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        loss = torch.nn.functional.mse_loss(model(y), x)
        first = loss.item() if first is None else first
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.5 * first


def test_bad_arguments_raise_typed_errors() -> None:
    op = RadonTransform(16, 8)
    with pytest.raises(ConfigError, match="invalid iterations"):
        LearnedProximalGradient(op, lambda c, m: ProximalCNN(c, m, 4), iterations=0)
    with pytest.raises(ConfigError, match="unknown init"):
        LearnedProximalGradient(op, lambda c, m: ProximalCNN(c, m, 4), init="random")
    with pytest.raises(ConfigError, match="invalid operator"):
        LearnedProximalGradient("radon", lambda c, m: ProximalCNN(c, m, 4))
    model = LearnedProximalGradient(op, lambda c, m: ProximalCNN(c, m, 4), iterations=1)
    with pytest.raises(ShapeError, match="wrong sinogram batch"):
        model(torch.zeros(8, op.n_detectors))


def test_group_block_declares_equivariance_only_for_exact_groups() -> None:
    block = ProximalGCNN(1, 2, 2, C4).double()
    assert guarantees(block) == {Equivariant(C4)}
    with torch.no_grad():
        assert_preserves(block, torch.randn(2, 4, 9, 9, dtype=torch.float64))
    assert guarantees(ProximalGCNN(1, 2, 2, C(8))) == frozenset()
