"""Phantoms, Poisson data, PSNR/SSIM and the TV baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from structdl._errors import ConfigError, ShapeError
from structdl.data.phantoms import ellipse_phantom, poisson_sinogram, random_ellipses
from structdl.tomography import RadonTransform, fbp, psnr, ssim, total_variation, tv_reconstruction


def test_phantoms_are_deterministic_by_seed_and_in_range() -> None:
    a = random_ellipses(3, 24, seed=7)
    b = random_ellipses(3, 24, seed=7)
    c = random_ellipses(3, 24, seed=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.shape == (3, 1, 24, 24)
    assert (a >= 0).all() and a.max() > 0.1
    # the background ellipse leaves the corners empty (object inside the field of view)
    assert (a[..., 0, 0] == 0).all()


def test_ellipse_phantom_area() -> None:
    # a disc of radius 0.5 covers π/16 of the square [-1, 1]²
    disc = ellipse_phantom(np.array([[1.0, 0.5, 0.5, 0.0, 0.0, 0.0]]), 64, supersample=4)
    assert abs(disc.mean().item() - math.pi / 16) < 2e-3
    with pytest.raises(ShapeError, match="wrong ellipse table"):
        ellipse_phantom(np.zeros((2, 5)), 8)


def test_poisson_sinogram_shapes_finite_and_noisier_at_low_dose() -> None:
    x = random_ellipses(2, 24, seed=0)
    op = RadonTransform(24, 12, half_width=0.18)
    clean = op(x)
    low = poisson_sinogram(clean, photons=1e3, seed=1)
    high = poisson_sinogram(clean, photons=1e6, seed=1)
    assert low.shape == clean.shape and torch.isfinite(low).all()
    assert torch.equal(low, poisson_sinogram(clean, photons=1e3, seed=1))
    assert (high - clean).pow(2).mean() < (low - clean).pow(2).mean() / 10


def test_poisson_sinogram_rejects_bad_parameters() -> None:
    clean = torch.zeros(1, 1, 3, 4)
    with pytest.raises(ConfigError, match="invalid photons"):
        poisson_sinogram(clean, photons=-5.0)
    with pytest.raises(ConfigError, match="invalid mu_max"):
        poisson_sinogram(clean, mu_max=0.0)
    with pytest.raises(ShapeError, match="non-finite"):
        poisson_sinogram(torch.full((2,), float("nan")))
    with pytest.raises(ConfigError, match="n must be an integer ≥ 1"):
        random_ellipses(0, 8)


def test_psnr_ssim_identity_and_ordering() -> None:
    x = random_ellipses(2, 32, seed=2)
    assert torch.isinf(psnr(x, x)).all() and (psnr(x, x) > 0).all()
    torch.testing.assert_close(ssim(x, x), torch.ones(2, 1, dtype=torch.float64))
    gen = torch.Generator().manual_seed(0)
    small = x + 0.01 * torch.randn(x.shape, generator=gen)
    large = x + 0.1 * torch.randn(x.shape, generator=gen)
    assert (psnr(small, x) > psnr(large, x) + 15).all()
    assert (ssim(small, x) > ssim(large, x)).all()
    # PSNR with peak = max(reference): mse 1e-2 with peak 1 is 20 dB
    ref = torch.zeros(8, 8, dtype=torch.float64)
    ref[0, 0] = 1.0
    assert abs(psnr(ref + 0.1, ref).item() - 20.0) < 1e-9


def test_ssim_matches_scikit_image() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    gen = torch.Generator().manual_seed(1)
    x = random_ellipses(1, 32, seed=4, dtype=torch.float64)[0, 0]
    noisy = x + 0.05 * torch.randn(x.shape, generator=gen, dtype=torch.float64)
    data_range = float(x.max() - x.min())
    ours = ssim(noisy, x).item()
    theirs = metrics.structural_similarity(
        noisy.numpy(), x.numpy(), data_range=data_range, gaussian_weights=False
    )
    assert abs(ours - theirs) < 1e-10
    theirs_psnr = metrics.peak_signal_noise_ratio(
        x.numpy(), noisy.numpy(), data_range=x.max().item()
    )
    assert abs(psnr(noisy, x).item() - theirs_psnr) < 1e-10


def test_metrics_reject_bad_inputs() -> None:
    with pytest.raises(ShapeError, match="mismatched images"):
        psnr(torch.zeros(4, 4), torch.zeros(4, 5))
    with pytest.raises(ShapeError, match="image too small"):
        ssim(torch.zeros(5, 5), torch.zeros(5, 5))
    with pytest.raises(ConfigError, match="invalid SSIM window"):
        ssim(torch.zeros(9, 9), torch.zeros(9, 9), window=4)


def test_total_variation_of_step_edge() -> None:
    x = torch.zeros(1, 1, 6, 6, dtype=torch.float64)
    x[..., :, 3:] = 1.0
    # one unit jump per row, six rows
    assert abs(total_variation(x, eps=0.0).item() - 6.0) < 1e-12


def test_tv_beats_fbp_on_noisy_sparse_data() -> None:
    torch.manual_seed(0)
    x = random_ellipses(1, 24, seed=5)
    op = RadonTransform(24, 12)
    noisy = op(x) + 0.05 * torch.randn(1, 1, 12, op.n_detectors)
    rec_fbp = fbp(op, noisy)
    rec_tv = tv_reconstruction(op, noisy, alpha=0.02, iterations=300, lr=1e-2, init=rec_fbp)
    assert psnr(rec_tv, x).item() > psnr(rec_fbp, x).item() + 2.0
    with pytest.raises(ConfigError, match="invalid iterations"):
        tv_reconstruction(op, noisy, iterations=0)


def test_tv_with_one_alpha_per_image_matches_separate_runs() -> None:
    # The batched alpha search relies on this: each image of a batch is its own problem.
    x = random_ellipses(2, 16, seed=6, dtype=torch.float64)
    op = RadonTransform(16, 8)
    gen = torch.Generator().manual_seed(1)
    noisy = op(x) + 0.05 * torch.randn(2, 1, 8, op.n_detectors, generator=gen, dtype=x.dtype)
    alphas = torch.tensor([0.002, 0.05], dtype=x.dtype)
    both = tv_reconstruction(op, noisy, alpha=alphas, iterations=40, lr=1e-2)
    for i in range(2):
        alone = tv_reconstruction(
            op, noisy[i : i + 1], alpha=float(alphas[i]), iterations=40, lr=1e-2
        )
        torch.testing.assert_close(both[i : i + 1], alone, rtol=1e-10, atol=1e-12)
    # negative control: the two weights really give different reconstructions
    swapped = tv_reconstruction(op, noisy, alpha=alphas.flip(0), iterations=40, lr=1e-2)
    assert (swapped - both).abs().max() > 1e-3
    with pytest.raises(ConfigError, match="one weight per image"):
        tv_reconstruction(op, noisy, alpha=torch.ones(3))
    with pytest.raises(ConfigError, match="finite weights"):
        tv_reconstruction(op, noisy, alpha=torch.tensor([1.0, -1.0]))
