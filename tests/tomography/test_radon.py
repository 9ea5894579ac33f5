"""Radon transform: exact adjoint, geometry, FBP accuracy and typed input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from structdl._errors import ConfigError, NonFiniteError, ShapeError
from structdl.data.phantoms import ellipse_phantom, random_ellipses
from structdl.structure.result import tolerance
from structdl.tomography import RadonTransform, fbp, parallel_angles, psnr

F64 = torch.float64


@pytest.mark.parametrize(("size", "angles", "n_det"), [(16, 7, None), (21, 30, 17), (32, 50, 45)])
def test_adjoint_matches_transpose_float64(size: int, angles: int, n_det: int | None) -> None:
    op = RadonTransform(size, angles, n_det)
    gen = torch.Generator().manual_seed(size)
    x = torch.randn(3, 2, size, size, generator=gen, dtype=F64)
    y = torch.randn(3, 2, op.n_angles, op.n_detectors, generator=gen, dtype=F64)
    lhs = (op(x) * y).sum()
    rhs = (x * op.adjoint(y)).sum()
    scale = op(x).norm() * y.norm()
    assert abs(lhs - rhs) / scale < tolerance(F64).exact


def test_adjoint_negative_control_pixel_driven_backprojection_is_not_the_transpose() -> None:
    # The smooth back-projection used by FBP is close to Aᵀ but not its exact transpose; the
    # adjoint test must be able to tell the difference.
    from structdl.tomography.fbp import _backproject_pixel_driven

    op = RadonTransform(16, 9)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 1, 16, 16, generator=gen, dtype=F64)
    y = torch.randn(1, 1, 9, op.n_detectors, generator=gen, dtype=F64)
    lhs = (op(x) * y).sum()
    rhs = (x * _backproject_pixel_driven(op, y)).sum()
    assert abs(lhs - rhs) / (op(x).norm() * y.norm()) > 1e-6


def test_gradients_through_forward_and_adjoint_are_matched() -> None:
    op = RadonTransform(8, 5)
    x = torch.randn(1, 1, 8, 8, dtype=F64, requires_grad=True)
    y = torch.randn(1, 1, 5, op.n_detectors, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: op(t), (x,))
    assert torch.autograd.gradcheck(lambda t: op.adjoint(t), (y,))
    # second order: the data-term gradient is differentiable (learned schemes need this)
    assert torch.autograd.gradgradcheck(lambda t: op.data_gradient(t, y.detach()), (x,))


def test_centred_disc_projections_do_not_depend_on_angle() -> None:
    disc = ellipse_phantom(np.array([[1.0, 0.5, 0.5, 0.0, 0.0, 0.0]]), 64, supersample=4)
    op = RadonTransform(64, 24)
    sino = op(disc.to(F64)[None, None])[0, 0]
    spread = (sino - sino.mean(dim=0)).abs().max() / sino.max()
    assert spread < 0.02
    # central ray: chord length 2·0.5 = 1 through a unit-intensity disc
    assert abs(sino[:, op.n_detectors // 2].mean().item() - 1.0) < 0.01
    # negative control: an off-centre ellipse is not angle independent
    blob = ellipse_phantom(np.array([[1.0, 0.4, 0.15, 0.3, 0.0, 0.0]]), 64, supersample=4)
    sino_blob = op(blob.to(F64)[None, None])[0, 0]
    assert (sino_blob - sino_blob.mean(dim=0)).abs().max() / sino_blob.max() > 0.2


def test_half_width_scales_line_integrals() -> None:
    x = random_ellipses(1, 16, seed=3)
    unit = RadonTransform(16, 6)(x)
    small = RadonTransform(16, 6, half_width=0.18)(x)
    torch.testing.assert_close(small, 0.18 * unit)


def test_fbp_reconstructs_phantom() -> None:
    x = random_ellipses(2, 48, seed=1)
    op = RadonTransform(48, 90)
    rec = fbp(op, op(x))
    assert psnr(rec, x).min() > 28.0
    # too few angles give visibly worse results (streaks): the metric is sensitive
    sparse = RadonTransform(48, 6)
    assert psnr(fbp(sparse, sparse(x)), x).max() < psnr(rec, x).min() - 5.0


def test_parallel_angles_are_in_half_open_interval() -> None:
    theta = parallel_angles(8)
    assert theta[0] == 0 and theta[-1] < math.pi and theta.numel() == 8


def test_bad_inputs_raise_typed_errors() -> None:
    op = RadonTransform(16, 5)
    with pytest.raises(ShapeError, match="wrong image shape"):
        op(torch.zeros(16, 16))
    with pytest.raises(ShapeError, match="non-square"):
        op(torch.zeros(1, 1, 16, 12))
    with pytest.raises(ShapeError, match="wrong image size"):
        op(torch.zeros(1, 1, 12, 12))
    with pytest.raises(ShapeError, match="wrong sinogram shape"):
        op.adjoint(torch.zeros(1, 1, 4, op.n_detectors))
    with pytest.raises(ConfigError, match="empty angles"):
        RadonTransform(16, [])
    with pytest.raises(ConfigError, match="angles out of range"):
        RadonTransform(16, [0.0, 4.0])
    with pytest.raises(ConfigError, match="invalid image_size"):
        RadonTransform(1, 5)
    with pytest.raises(ConfigError, match="invalid n_detectors"):
        RadonTransform(16, 5, 0)
    with pytest.raises(ConfigError, match="invalid half_width"):
        RadonTransform(16, 5, half_width=-1.0)
    with pytest.raises(ConfigError, match="invalid number of angles"):
        parallel_angles(0)


def test_sparse_operator_matches_grid_sample_oracle() -> None:
    op = RadonTransform(20, 11)
    x = torch.rand(2, 3, 20, 20, generator=torch.Generator().manual_seed(2), dtype=F64)
    torch.testing.assert_close(op(x), op._apply_forward_grid_sample(x), rtol=1e-12, atol=1e-12)


def test_quarter_turn_permutes_the_sinogram_when_angles_allow_it() -> None:
    # With m even, θ + π/2 is again in the angle set, so A(rot90 x) is A x with the angle rows
    # shifted by m/2 (wrapped rows have the detector axis reversed): A T_g = P_g A.
    m = 12
    op = RadonTransform(16, m)
    x = random_ellipses(1, 16, seed=0, dtype=F64)
    sino, rotated = op(x), op(torch.rot90(x, 1, dims=(-2, -1)))
    shifted = torch.cat([sino[..., m // 2 :, :], sino[..., : m // 2, :].flip(-1)], dim=-2)
    candidates = [shifted, torch.cat([sino[..., m // 2 :, :].flip(-1), sino[..., : m // 2, :]], -2)]
    errors = [float((rotated - c).abs().max()) for c in candidates]
    assert min(errors) < 1e-12 * float(sino.abs().max()) + 1e-14
    # negative control: with an odd number of angles no such permutation exists
    odd = RadonTransform(16, m + 1)
    assert float((odd(torch.rot90(x, 1, dims=(-2, -1))) - odd(x)).abs().max()) > 1e-3


def test_operator_copies_after_use_and_rebuilds_its_caches() -> None:
    # Learned reconstructions are deep-copied (e.g. for float64 checks) after training, when
    # the operator holds its cached sparse matrices; copies must work and agree.
    import copy
    import pickle

    op = RadonTransform(12, 6)
    x = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    y = op(x)
    image = fbp(op, y)
    assert op._cache and op._fbp_cache
    double = copy.deepcopy(op).double()
    torch.testing.assert_close(double(x.double()), y.double(), rtol=1e-6, atol=1e-6)
    restored = pickle.loads(pickle.dumps(op))
    assert torch.equal(restored(x), y)
    assert torch.equal(fbp(restored, y), image)


def test_integer_images_and_sinograms_are_refused_with_the_dtype_named() -> None:
    op = RadonTransform(16, 8)
    with pytest.raises(ShapeError, match="floating-point image — .* received torch.int64"):
        op(torch.ones(1, 1, 16, 16, dtype=torch.long))
    with pytest.raises(ShapeError, match="floating-point sinogram"):
        op.adjoint(torch.ones(1, 1, 8, op.n_detectors, dtype=torch.int32))


@pytest.mark.parametrize("bad", [float("nan"), float("-inf")])
def test_non_finite_images_and_sinograms_are_refused(bad: float) -> None:
    op = RadonTransform(16, 8)
    image = torch.rand(2, 1, 16, 16, dtype=torch.float64)
    image[1, 0, 3, 3] = bad
    with pytest.raises(NonFiniteError, match="image contains 1 NaN or infinite entries"):
        op(image)
    sino = torch.rand(1, 1, 8, op.n_detectors)
    sino[0, 0, 0, 0] = bad
    with pytest.raises(NonFiniteError, match="sinogram contains 1 NaN or infinite"):
        op.adjoint(sino)


def test_meta_tensors_give_the_output_shape() -> None:
    op = RadonTransform(16, 8)
    sino = op(torch.empty(3, 2, 16, 16, device="meta"))
    assert sino.device.type == "meta" and sino.shape == (3, 2, 8, op.n_detectors)
    assert op.adjoint(sino).shape == (3, 2, 16, 16)


def test_oversized_geometry_is_refused_up_front_with_the_size_it_needs() -> None:
    # 4 × 141422² ray samples: about 8.2 TiB of geometry, refused before any allocation.
    with pytest.raises(ConfigError, match=r"too large — .* need about 8345 GiB"):
        RadonTransform(10**5, 4)
    with pytest.raises(ConfigError, match="too large"):
        RadonTransform(64, 30, max_bytes=2**20)
    assert RadonTransform(16, 4, max_bytes=2**20).n_angles == 4
