"""Initial activation scale is comparable across exact and interpolated groups.

Regression test for interpolated (C8/D8) layers amplifying activations about 2× per layer at
initialisation (un-normalised Gaussian bumps, see ``_interp``), which kept a C8 network from
training. Inputs are smooth random images, as natural images and ReLU features are.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from structdl.equivariant import C, D, GroupConv2d, LiftingConv2d, _interp
from structdl.equivariant._interp import rotation_matrix

GROUPS = {"C2": C(2), "C4": C(4), "C8": C(8), "D4": D(4), "D8": D(8)}
TOL = 0.25


def _smooth_images(seed: int, channels: int = 1, size: int = 24) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(4, channels, size + 4, size + 4, generator=gen)
    return F.avg_pool2d(noise, 5, 1) * 5.0  # ≈ unit variance, correlated over ~5 px


def _stack_std(group, seed: int, depth: int = 2, width: int = 16) -> list[float]:
    """Std after the lifting layer and after each group conv (ReLU between), at init."""
    torch.manual_seed(seed)
    layers = [LiftingConv2d(1, width, 5, group)]
    layers += [GroupConv2d(width, width, 5, group) for _ in range(depth)]
    x, stds = _smooth_images(seed), []
    with torch.no_grad():
        for layer in layers:
            x = layer(x)
            stds.append(float(x.std()))
            x = torch.relu(x)
    return stds


def _mean_stds(group, seeds=range(4)) -> torch.Tensor:
    return torch.tensor([_stack_std(group, s) for s in seeds]).mean(0)


def test_initial_output_std_is_comparable_across_groups() -> None:
    reference = _mean_stds(GROUPS["C4"])
    for name, group in GROUPS.items():
        ratio = _mean_stds(group) / reference
        assert ((ratio - 1).abs() < TOL).all(), f"{name}: std ratio to C4 per layer {ratio}"


def test_unnormalised_bumps_fail_the_scale_check(monkeypatch: pytest.MonkeyPatch) -> None:
    # Negative control: the bumps without the unit-mass normalisation (the original bug).
    reference = _mean_stds(GROUPS["C4"])
    monkeypatch.setattr(_interp, "LATTICE_MASS", 1.0)
    _interp.rotation_matrix.cache_clear()  # the matrices are cached: rebuild them unnormalised
    try:
        ratio = _mean_stds(GROUPS["C8"]) / reference
    finally:
        _interp.rotation_matrix.cache_clear()
    assert (ratio > 1 + TOL).all()


@pytest.mark.parametrize("kernel_size", [3, 4, 5])
@pytest.mark.parametrize("angle", [0.0, 0.3, torch.pi / 4, 1.1])
def test_rotated_bumps_keep_unit_mass(kernel_size: int, angle: float) -> None:
    matrix = rotation_matrix(kernel_size, angle, dtype=torch.float64, device=torch.device("cpu"))
    disc = _interp.disc_mask(kernel_size).flatten().bool()
    mass = matrix.sum(0)[disc]  # column j: the rotated bump of base weight j on the bank grid
    assert torch.allclose(mass, torch.ones_like(mass), atol=0.05), mass


def test_interpolated_fan_in_counts_disc_weights() -> None:
    conv = GroupConv2d(3, 2, 3, C(8))
    taps = int(_interp.disc_mask(3).sum())  # 5 of 9 weights lie in the inscribed disc
    bound = (6.0 / (3 * 8 * taps)) ** 0.5
    assert conv.weight.abs().max() <= bound
    assert conv.weight.abs().max() > 0.9 * bound
