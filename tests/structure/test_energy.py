"""check_energy: conserved and non-increasing modes with negative controls."""

from __future__ import annotations

import pytest
import torch
from _structure_maps import oscillator_energy, rotation, split, trajectory
from hypothesis import given, settings
from hypothesis import strategies as st

from structdl import ConfigError, StructureViolation
from structdl.structure import assert_energy, check_energy, tolerance

DTYPES = [torch.float32, torch.float64]
H = 0.1


def start(n: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(3), dtype=dtype)


def explicit_euler(z):
    """Euler on q' = p, p' = −q multiplies the energy by (1 + h²) every step."""
    q, p = split(z)
    return torch.cat([q + H * p, p - H * q], dim=1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_exact_flow_conserves_energy(dtype):
    states = trajectory(rotation(H), start(6, dtype), 50)
    result = check_energy(oscillator_energy, states)
    assert result.ok, result.reason
    assert result.worst <= tolerance(dtype).exact
    # A conserved energy is also non-increasing.
    assert check_energy(oscillator_energy, states, mode="non_increasing").ok


@pytest.mark.parametrize("dtype", DTYPES)
def test_explicit_euler_gains_energy(dtype):
    states = trajectory(explicit_euler, start(6, dtype), 20)
    conserved = check_energy(oscillator_energy, states)
    assert not conserved.ok
    # After 20 steps E_20 = (1 + h²)^20 E_0: the drift is about 22 % of E_0 (or of 1).
    assert 0.01 < conserved.worst < 0.5
    increasing = check_energy(oscillator_energy, states, mode="non_increasing")
    assert not increasing.ok
    assert "dissipation" in increasing.reason


@pytest.mark.parametrize("dtype", DTYPES)
def test_damped_flow_is_dissipative_not_conservative(dtype):
    rotate = rotation(H)
    states = trajectory(lambda z: 0.95 * rotate(z), start(6, dtype), 20)
    assert check_energy(oscillator_energy, states, mode="non_increasing").ok
    assert not check_energy(oscillator_energy, states).ok


def test_tensor_trajectory_and_partitioned_states():
    states = trajectory(rotation(H), start(4, torch.float64), 10)
    assert check_energy(oscillator_energy, torch.stack(states)).ok
    pairs = [split(z) for z in states]
    assert check_energy(lambda s: 0.5 * (s[0] ** 2 + s[1] ** 2).sum(1), pairs).ok


def test_scalar_energy_is_accepted():
    states = trajectory(rotation(H), start(1, torch.float64), 5)
    assert check_energy(lambda z: oscillator_energy(z).sum(), states).ok


def test_blow_up_is_a_failed_check_not_an_error():
    states = [torch.ones(2, 2, dtype=torch.float64), torch.ones(2, 2, dtype=torch.float64)]
    energies = iter([torch.ones(2), torch.tensor([1.0, float("inf")])])
    result = check_energy(lambda _: next(energies), states)
    assert not result.ok
    assert "non-finite at step 1" in result.reason


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 5), steps=st.integers(1, 12), use_float64=st.booleans())
def test_energy_modes_any_batch_and_length(n, steps, use_float64):
    dtype = torch.float64 if use_float64 else torch.float32
    states = trajectory(explicit_euler, start(n, dtype), steps)
    assert check_energy(oscillator_energy, trajectory(rotation(H), start(n, dtype), steps)).ok
    assert not check_energy(oscillator_energy, states, mode="non_increasing").ok


@pytest.mark.parametrize("dtype", DTYPES)
def test_tolerance_override(dtype):
    states = trajectory(explicit_euler, start(3, dtype), 2)
    assert check_energy(oscillator_energy, states, rtol=0.1).ok
    assert check_energy(oscillator_energy, states, atol=0.1).ok
    with pytest.raises(ConfigError, match="only one"):
        check_energy(oscillator_energy, states, atol=0.1, rtol=0.1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_assert_energy_raises(dtype):
    states = trajectory(explicit_euler, start(3, dtype), 5)
    with pytest.raises(StructureViolation, match="energy conservation VIOLATED"):
        assert_energy(oscillator_energy, states)
