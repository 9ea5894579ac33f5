"""PairwiseHamiltonianNN: closed-form gradient, symplectic splitting maps, exact momenta."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError
from structdl.dynamics import StormerVerlet, Yoshida4
from structdl.dynamics.learning import FlowMap, PairwiseHamiltonianNN, SeparableHamiltonianNN
from structdl.structure import Symplectic, check_symplectic, guarantees

F64 = torch.float64


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _bodies_apart(n: int, batch: int) -> torch.Tensor:
    """Positions ``(batch, 2n)`` of n bodies on a unit circle, jittered (no collisions)."""
    angles = torch.arange(n, dtype=F64) * (2 * torch.pi / n)
    ring = torch.cat((torch.cos(angles), torch.sin(angles)))
    return ring + 0.1 * torch.randn(batch, 2 * n, dtype=F64)


def test_gradient_is_the_autograd_gradient_of_the_energy() -> None:
    field = PairwiseHamiltonianNN(3, width=7).double()
    q = _bodies_apart(3, 5).requires_grad_(True)
    p = torch.randn(5, 6, dtype=F64, requires_grad=True)
    dq, dp = torch.autograd.grad(field.energy(q, p).sum(), (q, p))
    assert torch.allclose(field.grad_q(0.0, q), dq, atol=1e-13)
    assert torch.allclose(field.grad_p(0.0, p), dp, atol=1e-13)


@pytest.mark.parametrize("integrator", [StormerVerlet(), Yoshida4()])
def test_splitting_map_is_symplectic_and_conserves_both_momenta(integrator) -> None:  # noqa: ANN001
    field = PairwiseHamiltonianNN(3, width=8).double()
    with torch.no_grad():
        field.kinetic.log_mass.copy_(torch.tensor([0.0, 0.3, -0.2]))  # unequal masses
    step = FlowMap(field, integrator, 0.05, steps=20)
    z = torch.cat((_bodies_apart(3, 4), 0.3 * torch.randn(4, 6, dtype=F64)), dim=1)
    assert Symplectic() in guarantees(step)
    assert check_symplectic(step, z[:2]).worst <= 1e-11
    with torch.no_grad():
        z1 = step(z)
    q0, p0, q1, p1 = z[:, :6], z[:, 6:], z1[:, :6], z1[:, 6:]
    assert torch.allclose(field.momentum(p1), field.momentum(p0), atol=1e-13)
    spin0, spin1 = field.angular_momentum(q0, p0), field.angular_momentum(q1, p1)
    assert torch.allclose(spin1, spin0, atol=1e-12)
    # Negative control: a generic separable network is not rotation invariant.
    generic = FlowMap(SeparableHamiltonianNN(6, width=8), integrator, 0.05, steps=20).double()
    with torch.no_grad():
        z2 = generic(z)
    drift = (field.angular_momentum(z2[:, :6], z2[:, 6:]) - field.angular_momentum(q0, p0)).abs()
    assert float(drift.max()) > 1e-6


def test_bad_options_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match="bodies"):
        PairwiseHamiltonianNN(1)
    with pytest.raises(ConfigError, match="space = 2"):
        PairwiseHamiltonianNN(2, width=4, space=3).angular_momentum(
            torch.zeros(1, 6), torch.zeros(1, 6)
        )
