"""check_symplectic and check_volume_preserving: positives, negative controls, assert forms."""

from __future__ import annotations

import pytest
import torch
from _structure_maps import (
    AdditiveCoupling,
    affine_coupling,
    affine_coupling_logdet,
    euler_step,
    kick,
    rotation,
    scaling,
    squeeze,
    verlet_step,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from structdl import StructureViolation
from structdl.structure import (
    assert_symplectic,
    assert_volume_preserving,
    canonical_J,
    check_symplectic,
    check_volume_preserving,
    tolerance,
)

DTYPES = [torch.float32, torch.float64]


def points(n: int, dim: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "symplectic_map",
    [rotation(0.7), kick(0.3), lambda z: verlet_step(z, 0.2)],
    ids=["rotation", "kick", "verlet"],
)
def test_symplectic_maps_pass(dtype, symplectic_map):
    result = check_symplectic(symplectic_map, points(8, 4, dtype))
    assert result.ok, result.reason
    assert result.worst <= tolerance(dtype).exact
    assert "holds" in result.reason


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("violator", "expected"),
    # scaling by 1.1: DΦᵀJDΦ − J = 0.21·J, Frobenius norm 0.21·√(2d) with d = 2;
    # the squeeze diag(2, ½, 1, 1): off-diagonal blocks 2 − 1 and ½ − 1, twice each. The
    # round-off allowance 16·ε·‖DΦ‖_F² is below atol here, so the defects are exact.
    [(scaling(1.1), 0.21 * 2.0), (squeeze, (2 * (1.0**2 + 0.5**2)) ** 0.5)],
    ids=["scaling", "squeeze"],
)
def test_symplectic_violators_fail_with_exact_defect(dtype, violator, expected):
    result = check_symplectic(violator, points(8, 4, dtype))
    assert not result.ok
    assert result.worst == pytest.approx(expected, rel=1e-5)
    assert "VIOLATED" in result.reason


@pytest.mark.parametrize("dtype", DTYPES)
def test_symplectic_tolerance_scales_with_the_jacobian(dtype):
    # A symplectic shear with entries of size 1e6: round-off in DΦᵀJDΦ is ε·1e12 in absolute
    # terms, within the scaled bar; a non-symplectic map of the same size still fails.
    big = 1e6 if dtype == torch.float64 else 1e2

    def shear(z: torch.Tensor) -> torch.Tensor:
        q, p = z[:, :2], z[:, 2:]
        return torch.cat([q + big * p, p], dim=1)

    def stretched_shear(z: torch.Tensor) -> torch.Tensor:
        return 1.1 * shear(z)

    assert check_symplectic(shear, points(8, 4, dtype)).ok
    assert not check_symplectic(stretched_shear, points(8, 4, dtype)).ok


@pytest.mark.parametrize("dtype", DTYPES)
def test_euler_on_pendulum_is_not_symplectic(dtype):
    # det DΦ = 1 + h² cos q, so the defect is of order h² = 0.04, far above any tolerance.
    assert not check_symplectic(lambda z: euler_step(z, 0.2), points(8, 4, dtype)).ok


@pytest.mark.parametrize("dtype", DTYPES)
def test_conformal_symplectic_rate(dtype):
    z = points(6, 4, dtype)
    damp = scaling(0.9)
    assert check_symplectic(damp, z, rate=0.81).ok
    assert not check_symplectic(damp, z).ok


def test_custom_structure_matrix():
    # With J' = -J (the other sign convention) the rotation stays symplectic, the scaling not.
    z = points(5, 4, torch.float64)
    minus_j = -canonical_J(2)
    assert check_symplectic(rotation(0.4), z, J=minus_j).ok
    assert not check_symplectic(scaling(1.1), z, J=minus_j).ok


@pytest.mark.parametrize("dtype", DTYPES)
def test_assert_symplectic_raises_with_reason(dtype):
    z = points(4, 4, dtype)
    assert assert_symplectic(rotation(0.3), z).ok
    with pytest.raises(StructureViolation, match=r"symplecticity VIOLATED.*> atol"):
        assert_symplectic(scaling(1.1), z)


def test_module_without_functorch_support_uses_fallback():
    # ``.item()`` inside the map is not vmap-compatible: the autograd fallback must take over.
    def shear_with_item(z):
        q, p = z[:, :1], z[:, 1:]
        strength = float(torch.tensor(0.5).item())
        return torch.cat([q, p - strength * torch.sin(q)], dim=1)

    z = points(4, 2, torch.float64)
    assert check_symplectic(shear_with_item, z).ok
    assert not check_symplectic(lambda w: 1.1 * shear_with_item(w), z).ok


@settings(max_examples=10, deadline=None)
@given(
    n=st.integers(1, 6),
    half_dim=st.integers(1, 4),
    theta=st.floats(-3.0, 3.0),
    use_float64=st.booleans(),
)
def test_rotation_symplectic_and_volume_preserving_any_shape(n, half_dim, theta, use_float64):
    dtype = torch.float64 if use_float64 else torch.float32
    z = points(n, 2 * half_dim, dtype)
    assert check_symplectic(rotation(theta), z).ok
    assert check_volume_preserving(rotation(theta), z).ok
    assert not check_volume_preserving(scaling(1.1), z).ok


@pytest.mark.parametrize("dtype", DTYPES)
def test_volume_preserving_maps_pass(dtype):
    x = points(8, 6, dtype)
    for vp_map in (rotation(1.1), AdditiveCoupling(6, dtype), kick(0.5)):
        result = check_volume_preserving(vp_map, x)
        assert result.ok, result.reason
    # The squeeze is volume preserving but not symplectic: the checks tell them apart.
    z = points(8, 4, dtype)
    assert check_volume_preserving(squeeze, z).ok
    assert not check_symplectic(squeeze, z).ok


@pytest.mark.parametrize("dtype", DTYPES)
def test_volume_violators_fail_with_exact_defect(dtype):
    x = points(8, 4, dtype)
    result = check_volume_preserving(scaling(1.1), x)
    assert not result.ok
    assert result.worst == pytest.approx(4 * torch.log(torch.tensor(1.1)).item(), rel=1e-5)
    assert not check_volume_preserving(affine_coupling, x).ok


@pytest.mark.parametrize("dtype", DTYPES)
def test_volume_against_reported_logdet(dtype):
    x = points(8, 4, dtype)
    result = check_volume_preserving(affine_coupling, x, logdet=affine_coupling_logdet)
    assert result.ok, result.reason
    wrong = check_volume_preserving(
        affine_coupling, x, logdet=lambda v: 0.5 * affine_coupling_logdet(v)
    )
    assert not wrong.ok
    assert "log-determinant" in wrong.reason


def test_volume_on_image_shaped_states():
    x = points(3, 2 * 2 * 2, torch.float64).reshape(3, 2, 2, 2)
    assert check_volume_preserving(lambda v: v.flip(-1), x).ok
    assert not check_volume_preserving(lambda v: 2 * v, x).ok


def test_singular_map_fails_volume():
    x = points(4, 2, torch.float64)
    result = check_volume_preserving(lambda v: torch.cat([v[:, :1], 0 * v[:, 1:]], 1), x)
    assert not result.ok
    assert result.worst == float("inf")


@pytest.mark.parametrize("dtype", DTYPES)
def test_assert_volume_preserving_raises(dtype):
    with pytest.raises(StructureViolation, match="volume preservation VIOLATED"):
        assert_volume_preserving(scaling(1.1), points(4, 4, dtype))
