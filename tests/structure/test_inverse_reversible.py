"""check_inverse and check_reversible: positives, negative controls, partitioned states."""

from __future__ import annotations

import pytest
import torch
from _structure_maps import AdditiveCoupling, euler_step, join, split, verlet_step
from hypothesis import given, settings
from hypothesis import strategies as st

from structdl import InverseError, StepSizeError, StructureViolation
from structdl.structure import (
    assert_inverse,
    assert_reversible,
    check_inverse,
    check_reversible,
    tolerance,
)

DTYPES = [torch.float32, torch.float64]


def points(n: int, dim: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_coupling_inverse_passes_and_wrong_inverse_fails(dtype):
    coupling = AdditiveCoupling(6, dtype)
    x = points(10, 6, dtype)
    good = check_inverse(coupling, coupling.inverse, x)
    assert good.ok, good.reason
    assert good.worst <= tolerance(dtype).exact
    bad = check_inverse(coupling, coupling.wrong_inverse, x)
    assert not bad.ok
    # The wrong inverse leaves 10 % of the shift tanh(x1 W), which is of order 0.1.
    assert 1e-2 < bad.worst < 0.2


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 8), dim=st.integers(2, 9), use_float64=st.booleans())
def test_coupling_inverse_any_batch_and_dim(n, dim, use_float64):
    dtype = torch.float64 if use_float64 else torch.float32
    coupling = AdditiveCoupling(dim, dtype, seed=dim)
    x = points(n, dim, dtype, seed=n)
    assert check_inverse(coupling, coupling.inverse, x).ok
    assert not check_inverse(coupling, lambda y: y, x).ok


@pytest.mark.parametrize("dtype", DTYPES)
def test_partitioned_states(dtype):
    q, p = split(points(5, 4, dtype))

    def forward(state):
        return state[0] + state[1], state[1]

    def inverse(state):
        return state[0] - state[1], state[1]

    assert check_inverse(forward, inverse, (q, p)).ok
    assert not check_inverse(forward, lambda s: s, (q, p)).ok


def test_failing_iterative_inverse_is_a_failed_check():
    def diverging(_):
        raise InverseError("fixed point did not converge in 50 iterations", residual=0.3)

    result = check_inverse(lambda x: 2 * x, diverging, points(3, 2, torch.float64))
    assert not result.ok
    assert result.worst == pytest.approx(0.3)
    assert "did not converge" in result.reason


@pytest.mark.parametrize("dtype", DTYPES)
def test_assert_inverse_raises(dtype):
    coupling = AdditiveCoupling(4, dtype)
    with pytest.raises(StructureViolation, match=r"invertibility VIOLATED.*Φ⁻¹"):
        assert_inverse(coupling, coupling.wrong_inverse, points(3, 4, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("h", [0.1, -0.3])
def test_verlet_is_reversible_euler_is_not(dtype, h):
    z = points(8, 4, dtype)
    assert check_reversible(verlet_step, z, h).ok
    euler = check_reversible(euler_step, z, h)
    assert not euler.ok
    # Euler's round trip is the identity only up to O(h²).
    assert euler.worst > 0.1 * h**2


@pytest.mark.parametrize("dtype", DTYPES)
def test_reversible_partitioned_step(dtype):
    def verlet_pair(state, h):
        z = verlet_step(join(*state), h)
        return split(z)

    q, p = split(points(4, 6, dtype))
    assert check_reversible(verlet_pair, (q, p), 0.2).ok


def test_reversible_accepts_tensor_step_size():
    z = points(3, 2, torch.float64)
    assert check_reversible(verlet_step, z, torch.tensor(0.2)).ok


@pytest.mark.parametrize("h", [0.0, float("nan"), float("inf"), "0.1", True])
def test_reversible_rejects_bad_step_size(h):
    with pytest.raises(StepSizeError, match="step size"):
        check_reversible(verlet_step, points(2, 2, torch.float64), h)


@pytest.mark.parametrize("dtype", DTYPES)
def test_assert_reversible_raises(dtype):
    with pytest.raises(StructureViolation, match="time reversibility"):
        assert_reversible(euler_step, points(3, 4, dtype), 0.2)
