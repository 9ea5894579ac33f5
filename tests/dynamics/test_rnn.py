"""AntisymmetricRNNCell: the update formula, the spectrum of K, the role of γ, validation."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError, NonFiniteError, ShapeError
from structdl.dynamics import AntisymmetricRNNCell

F64 = torch.float64


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_update_matches_the_reference_formula() -> None:
    cell = AntisymmetricRNNCell(3, 5, eps=0.1, gamma=0.05).double()
    x, h = torch.randn(4, 3, dtype=F64), torch.randn(4, 5, dtype=F64)
    w = cell.weight
    k = w - w.T - 0.05 * torch.eye(5, dtype=F64)
    expected = h + 0.1 * torch.tanh(h @ k.T + x @ cell.input_weight.T + cell.bias)
    assert torch.allclose(cell(x, h), expected, atol=1e-15)
    assert torch.allclose(cell(x), 0.1 * torch.tanh(x @ cell.input_weight.T + cell.bias))


def test_gated_update_matches_the_reference_formula() -> None:
    cell = AntisymmetricRNNCell(3, 5, eps=0.1, gamma=0.05, gated=True).double()
    x, h = torch.randn(4, 3, dtype=F64), torch.randn(4, 5, dtype=F64)
    kh = h @ cell.matrix().T
    gate = torch.sigmoid(kh + x @ cell.gate_weight.T + cell.gate_bias)
    expected = h + 0.1 * gate * torch.tanh(kh + x @ cell.input_weight.T + cell.bias)
    assert torch.allclose(cell(x, h), expected, atol=1e-15)


def test_k_has_eigenvalues_with_real_part_minus_gamma() -> None:
    cell = AntisymmetricRNNCell(2, 6, gamma=0.3).double()
    eig = torch.linalg.eigvals(cell.matrix().detach())
    assert torch.allclose(eig.real, torch.full((6,), -0.3, dtype=F64), atol=1e-12)


def test_diffusion_makes_the_linearised_euler_step_stable() -> None:
    # |1 + ε(−γ + iβ)|² = (1 − εγ)² + ε²β²: > 1 for γ = 0 (forward Euler on an imaginary
    # spectrum), ≤ 1 once ε(γ² + β²) ≤ 2γ — why AntisymmetricRNN needs γ > 0.
    eps = 0.1
    cell = AntisymmetricRNNCell(1, 4, eps=eps, gamma=0.0).double()
    skew = (cell.weight - cell.weight.T).detach()
    beta_max = float(torch.linalg.eigvals(skew).imag.abs().max())
    assert eps * beta_max <= 1.0  # precondition of the choice of γ below
    gamma = eps * beta_max**2  # then ε(γ² + β²) = ε β²(ε²β² + 1) ≤ 2εβ² = 2γ
    eye = torch.eye(4, dtype=F64)
    undamped = torch.linalg.eigvals(eye + eps * skew).abs().max()
    damped = torch.linalg.eigvals(eye + eps * (skew - gamma * eye)).abs().max()
    assert undamped > 1.0
    assert damped <= 1.0 + 1e-12


def test_gradients_reach_all_parameters() -> None:
    cell = AntisymmetricRNNCell(3, 4, gated=True)
    h = None
    for _ in range(5):
        h = cell(torch.randn(2, 3), h)
    h.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in cell.parameters())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eps": 0.0}, "eps must be > 0"),
        ({"eps": -0.1}, "eps must be a finite number"),
        ({"gamma": -1.0}, "gamma must be a finite number"),
        ({"gamma": float("nan")}, "gamma must be a finite number"),
        ({"hidden_size": 0}, "hidden_size must be an integer ≥ 1"),
        ({"input_size": 1.5}, "input_size must be an integer ≥ 1"),
        ({"gated": "yes"}, "gated must be True or False"),
    ],
)
def test_bad_options(kwargs: dict, match: str) -> None:
    options = {"input_size": 2, "hidden_size": 3, **kwargs}
    with pytest.raises(ConfigError, match=match):
        AntisymmetricRNNCell(**options)


@pytest.mark.parametrize(
    ("x", "h", "match"),
    [
        (torch.zeros(4, 3), None, r"expected \(batch, 2\)"),
        (torch.zeros(4, 2, dtype=torch.int64), None, "non-floating dtype"),
        (torch.full((4, 2), float("nan")), None, "NaN"),
        (torch.zeros(4, 2, dtype=F64), None, "dtype torch.float64 but the parameters"),
        (torch.zeros(4, 2), torch.zeros(3, 3), r"expected \(4, 3\)"),
    ],
)
def test_bad_inputs(x: torch.Tensor, h: torch.Tensor | None, match: str) -> None:
    with pytest.raises((ShapeError, NonFiniteError), match=match):
        AntisymmetricRNNCell(2, 3)(x, h)
