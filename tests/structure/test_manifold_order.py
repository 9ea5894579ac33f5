"""check_on_manifold and check_order: positives and negative controls."""

from __future__ import annotations

import math

import pytest
import torch
from _structure_maps import sphere_defect

from structdl import StructureViolation
from structdl.structure import assert_on_manifold, assert_order, check_on_manifold, check_order

DTYPES = [torch.float32, torch.float64]


def points(n: int, dim: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(0), dtype=dtype)


class UnitSphere:
    """A minimal manifold exposing ``distance`` (the defect) and ``project``."""

    name = "UnitSphere"

    def distance(self, x):
        return sphere_defect(x)

    def project(self, x):
        return x / x.norm(dim=1, keepdim=True)


class ProjectOnly:
    def project(self, x):
        return x / x.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("manifold", [UnitSphere(), ProjectOnly(), sphere_defect])
def test_points_on_sphere_pass_and_off_sphere_fail(dtype, manifold):
    x = points(10, 3, dtype)
    on = x / x.norm(dim=1, keepdim=True)
    assert check_on_manifold(manifold, on).ok
    off = check_on_manifold(manifold, on * 1.01)
    assert not off.ok
    assert off.worst == pytest.approx(0.01, rel=1e-3)


def test_worst_point_is_reported():
    on = points(5, 3, torch.float64)
    on = on / on.norm(dim=1, keepdim=True)
    on[3] *= 1.5
    result = check_on_manifold(UnitSphere(), on)
    assert "worst at point 3" in result.reason
    assert "UnitSphere" in result.reason
    assert "the zero set of sphere_defect" in check_on_manifold(sphere_defect, on).reason


@pytest.mark.parametrize("dtype", DTYPES)
def test_assert_on_manifold_raises(dtype):
    with pytest.raises(StructureViolation, match="membership of UnitSphere VIOLATED"):
        assert_on_manifold(UnitSphere(), 2 * torch.ones(2, 3, dtype=dtype))


def euler_error(n_steps: int, dtype: torch.dtype) -> float:
    """Global error at T = 1 of forward Euler on y' = −y, y(0) = 1 (exact: e^(−1))."""
    h = 1.0 / n_steps
    y = torch.ones((), dtype=dtype)
    for _ in range(n_steps):
        y = y - h * y
    return abs(float(y) - math.exp(-1.0))


def heun_error(n_steps: int, dtype: torch.dtype) -> float:
    """Global error of Heun's method (explicit trapezoid, order 2) on y' = −y."""
    h = 1.0 / n_steps
    y = torch.ones((), dtype=dtype)
    for _ in range(n_steps):
        predictor = y - h * y
        y = y + 0.5 * h * (-y - predictor)
    return abs(float(y) - math.exp(-1.0))


STEPS = [8, 16, 32, 64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("method", "order"), [(euler_error, 1), (heun_error, 2)])
def test_fitted_order_matches_declared(dtype, method, order):
    h = [1.0 / n for n in STEPS]
    errors = [method(n, dtype) for n in STEPS]
    result = check_order(h, errors, order)
    assert result.ok, result.reason
    assert result.worst == pytest.approx(order, abs=0.1)
    wrong = check_order(h, errors, 3 - order)  # Euler declared 2, Heun declared 1
    assert not wrong.ok
    assert "VIOLATED" in wrong.reason


def test_order_accepts_tensors_and_exact_power_law():
    h = torch.tensor([0.1, 0.05, 0.025])
    assert check_order(h, 3.0 * h**4, 4).worst == pytest.approx(4.0, abs=1e-9)


def test_assert_order_raises():
    with pytest.raises(StructureViolation, match=r"order 2 VIOLATED: fitted slope .* = 1\.0"):
        assert_order([0.1, 0.05], [0.1, 0.05], 2)
