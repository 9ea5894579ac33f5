"""The optimiser checks: conformal symplecticity of a step on quadratics, and passivity."""

from __future__ import annotations

import math

import pytest
import torch

from structdl import ConfigError, NonFiniteError, ShapeError, StructureViolation
from structdl.structure import (
    assert_conformal_step,
    assert_passivity,
    check_conformal_step,
    check_passivity,
)


def _hessian(d: int, seed: int) -> torch.Tensor:
    a = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a @ a.T + torch.eye(d, dtype=torch.float64)


def _heavy_ball(mu: float, h: float):
    def step(q, p, gradient):
        p = mu * p - h * gradient(q)
        return q + h * p, p

    return step


def _nesterov(mu: float, lr: float):
    def step(q, p, gradient):
        v = mu * p - lr * gradient(q + mu * p)
        return q + v, v

    return step


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heavy_ball_is_conformal_symplectic_on_random_quadratics(seed):
    result = check_conformal_step(_heavy_ball(0.8, 0.1), _hessian(4, seed), 0.8, seed=seed)
    assert result.ok, result.reason
    assert result.worst < 1e-13


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_negative_control_nesterov_is_not(seed):
    result = check_conformal_step(_nesterov(0.8, 0.05), _hessian(4, seed), 0.8, seed=seed)
    assert not result.ok
    assert "VIOLATED" in result.reason
    with pytest.raises(StructureViolation, match="conformal symplecticity"):
        assert_conformal_step(_nesterov(0.8, 0.05), _hessian(4, seed), 0.8)


def test_wrong_rate_fails():
    assert not check_conformal_step(_heavy_ball(0.8, 0.1), _hessian(3, 0), 0.9).ok


def test_bad_hessian_and_rate_raise():
    with pytest.raises(ShapeError, match="hessian"):
        check_conformal_step(_heavy_ball(0.8, 0.1), torch.ones(2, 3), 0.8)
    with pytest.raises(ConfigError, match="rate"):
        check_conformal_step(_heavy_ball(0.8, 0.1), _hessian(2, 0), -1.0)


def _damped_oscillator(steps: int, h: float, beta: float, *, exact_balance: bool):
    """H = ½(q² + p²); dq = p, dp = −q − βp. Implicit midpoint (a discrete gradient for a
    quadratic H) satisfies the balance exactly with D = β p̄², p̄ the midpoint momentum;
    explicit Euler does not (negative control)."""
    gen = torch.Generator().manual_seed(0)
    q, p = torch.randn(2, generator=gen, dtype=torch.float64).tolist()
    energies, dissipation = [0.5 * (q * q + p * p)], []
    for _ in range(steps):
        if exact_balance:
            # Solve the 2×2 linear midpoint system exactly.
            a = torch.tensor([[1.0, -h / 2], [h / 2, 1 + h * beta / 2]], dtype=torch.float64)
            b = torch.tensor([q + h / 2 * p, p - h / 2 * q - h * beta / 2 * p], dtype=torch.float64)
            q1, p1 = torch.linalg.solve(a, b).tolist()
            dissipation.append(beta * (0.5 * (p + p1)) ** 2)
        else:
            q1, p1 = q + h * p, p + h * (-q - beta * p)
            dissipation.append(beta * p * p)
        q, p = q1, p1
        energies.append(0.5 * (q * q + p * p))
    return energies, dissipation


def test_passivity_holds_for_a_discrete_gradient_step():
    energies, dissipation = _damped_oscillator(50, 0.3, 0.5, exact_balance=True)
    result = check_passivity(energies, dissipation, 0.3)
    assert result.ok, result.reason
    assert all(b <= a + 1e-15 for a, b in zip(energies, energies[1:], strict=False))


def test_negative_control_explicit_euler_violates_the_balance():
    energies, dissipation = _damped_oscillator(50, 0.3, 0.5, exact_balance=False)
    result = check_passivity(energies, dissipation, 0.3)
    assert not result.ok and "VIOLATED" in result.reason
    with pytest.raises(StructureViolation):
        assert_passivity(energies, dissipation, 0.3)


def test_negative_dissipation_fails():
    # An energy gain booked as negative dissipation balances but is not passive.
    assert not check_passivity([1.0, 1.5], [-0.5 / 0.1], 0.1).ok


def test_passivity_input_errors():
    with pytest.raises(ShapeError, match="lengths"):
        check_passivity([1.0, 0.9], [0.1, 0.1], 0.1)
    with pytest.raises(NonFiniteError, match="non-finite"):
        check_passivity([1.0, math.nan], [0.1], 0.1)


def test_reparametrisation_invariance_on_random_steps_and_a_perturbed_control():
    from structdl.structure import check_reparametrisation_invariance

    gen = torch.Generator().manual_seed(0)
    step = torch.randn(40, generator=gen, dtype=torch.float64)
    a = torch.randn(40, 40, generator=gen, dtype=torch.float64) + 6 * torch.eye(
        40, dtype=torch.float64
    )
    # The same update expressed in φ = A⁻¹θ and mapped back by A: invariant to round-off.
    mapped = a @ torch.linalg.solve(a, step)
    assert check_reparametrisation_invariance(step, mapped).ok
    perturbed = mapped + 1e-6 * torch.randn(40, generator=gen, dtype=torch.float64)
    assert not check_reparametrisation_invariance(step, perturbed).ok
    with pytest.raises(ShapeError, match="one shape"):
        check_reparametrisation_invariance(step, step[:-1])
