"""Continuous normalising flow: exact and Hutchinson traces, discretisation error, context."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError, ShapeError
from structdl.invertible import ContinuousFlow


def _cnf(**options) -> ContinuousFlow:
    torch.manual_seed(0)
    cnf = ContinuousFlow(3, hidden=8, **options).double()
    with torch.no_grad():
        for p in cnf.velocity.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return cnf


def _autograd_logdet(cnf: ContinuousFlow, x: torch.Tensor) -> torch.Tensor:
    return torch.stack(
        [
            torch.linalg.slogdet(torch.autograd.functional.jacobian(lambda v: cnf(v[None])[0], p))[
                1
            ]
            for p in x
        ]
    )


def test_logdet_error_falls_at_fourth_order_with_the_grid() -> None:
    x = torch.randn(3, 3, dtype=torch.float64)
    errors = []
    for steps in (4, 8):
        cnf = _cnf(steps=steps)
        _, logdet = cnf.forward_and_logdet(x)
        errors.append((logdet - _autograd_logdet(cnf, x)).abs().max().item())
    # Halving h divides an O(h⁴) error by ≈ 16; allow a wide margin.
    assert errors[1] < errors[0] / 6


def test_hutchinson_trace_is_unbiased() -> None:
    x = torch.randn(2, 3, dtype=torch.float64)
    exact = _cnf(steps=4, trace="exact")
    hutchinson = _cnf(steps=4, trace="hutchinson")
    hutchinson.load_state_dict(exact.state_dict())
    _, reference = exact.forward_and_logdet(x)
    torch.manual_seed(1)
    draws = torch.stack([hutchinson.forward_and_logdet(x)[1] for _ in range(400)])
    spread = draws.std(0) / 400**0.5
    assert ((draws.mean(0) - reference).abs() <= 4 * spread + 1e-12).all()
    assert (draws.std(0) > 0).all()


def test_context_changes_the_map_and_is_validated() -> None:
    cnf = _cnf(steps=4, context_features=2)
    x = torch.randn(4, 3, dtype=torch.float64)
    a = cnf(x, torch.zeros(4, 2, dtype=torch.float64))
    b = cnf(x, torch.ones(4, 2, dtype=torch.float64))
    assert (a - b).abs().max() > 1e-6
    with pytest.raises(ShapeError, match=r"expected \(4, 2\)"):
        cnf(x, torch.ones(4, 3, dtype=torch.float64))


def test_sampling_direction_needs_no_gradients() -> None:
    cnf = _cnf(steps=4)
    with torch.no_grad():
        x, logdet = cnf.inverse_and_logdet(torch.randn(5, 3, dtype=torch.float64))
    assert not x.requires_grad and torch.isfinite(logdet).all()


def test_unknown_trace_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="trace"):
        ContinuousFlow(2, trace="approximate")
