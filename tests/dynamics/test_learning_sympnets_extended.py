"""Extended SympNets: symplectic in (q, p) at every fixed parameter, with negative controls."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from structdl import ConfigError, NonFiniteError, ShapeError
from structdl.data.hamiltonian_tasks import integrate
from structdl.dynamics.learning import (
    ExtendedShear,
    ExtendedSympNet,
    GSympNet,
    fit_rollout,
    rollout,
)
from structdl.structure import (
    Invertible,
    Symplectic,
    VolumePreserving,
    assert_preserves,
    check_inverse,
    check_symplectic,
    check_volume_preserving,
    guarantees,
)

F64 = torch.float64
#: The per-layer bar of issue 12: float64 symplecticity defect at most 1e-12.
LAYER_BAR = 1e-12


@pytest.fixture(autouse=True)
def _seed() -> None:
    # (One intra-op thread comes from tests/conftest.py.)
    torch.manual_seed(0)


SHEARS = {
    "p-sigmoid": dict(update="p", activation="sigmoid"),
    "q-sigmoid": dict(update="q", activation="sigmoid"),
    "p-tanh": dict(update="p", activation="tanh"),
    "q-tanh": dict(update="q", activation="tanh"),
}


@pytest.mark.parametrize("name", sorted(SHEARS))
@pytest.mark.parametrize("parameter_dim", [1, 3])
def test_every_extended_shear_is_symplectic_at_every_drawn_parameter(
    name: str, parameter_dim: int
) -> None:
    shear = ExtendedShear(2, parameter_dim, width=9, init_scale=1.0, **SHEARS[name]).double()
    z = 1.5 * torch.randn(16, 4, dtype=F64)
    for c in 2.0 * torch.randn(5, parameter_dim, dtype=F64):
        at_c = shear.at(c)
        assert Symplectic() in guarantees(at_c)
        result = check_symplectic(at_c, z)
        assert result.worst <= LAYER_BAR, result.reason
        assert check_inverse(at_c, at_c.inverse, z).ok


def test_the_extended_map_declares_volume_and_inverse_on_q_p_c_not_symplecticity() -> None:
    net = ExtendedSympNet(2, parameter_dim=3, layers=4, width=8, init_scale=0.8).double()
    # c is not a canonical coordinate (its dimension may be odd): the extended map claims only
    # what holds on (q, p, c), and those claims pass their checks there.
    assert guarantees(net) == frozenset({VolumePreserving(), Invertible()})
    x = torch.randn(12, 7, dtype=F64)
    assert_preserves(net, x)
    assert check_volume_preserving(net, x).worst <= LAYER_BAR
    for part in net.parts:
        assert guarantees(part) == frozenset({VolumePreserving(), Invertible()})
        assert torch.allclose(part.inverse(part(x)), x, atol=1e-13)


def test_restrictions_are_symplectic_per_layer_and_whole_at_every_parameter() -> None:
    net = ExtendedSympNet(2, parameter_dim=2, layers=5, width=12, init_scale=0.8).double()
    z = torch.randn(8, 4, dtype=F64)
    for c in torch.randn(4, 2, dtype=F64):
        at_c = net.at(c)
        assert {Symplectic(), VolumePreserving(), Invertible()} <= guarantees(at_c)
        for part in at_c.parts:
            assert check_symplectic(part, z).worst <= LAYER_BAR
        assert check_symplectic(at_c, z).worst <= LAYER_BAR
        assert_preserves(at_c, z)


def test_restriction_is_the_extended_map_at_that_parameter_and_c_passes_through() -> None:
    net = ExtendedSympNet(1, parameter_dim=2, layers=4, width=8, init_scale=0.8).double()
    z = torch.randn(6, 2, dtype=F64)
    c = torch.tensor([0.3, -1.2], dtype=F64)
    extended = net(torch.cat((z, c.expand(6, 2)), dim=1))
    assert torch.equal(extended[:, 2:], c.expand(6, 2))
    assert torch.allclose(extended[:, :2], net.at(c)(z), atol=1e-15)
    # ... and the parameter matters: another c gives another map.
    assert (net.at(c + 0.5)(z) - net.at(c)(z)).abs().max() > 1e-3
    # ... and the restriction trains the extended network's own weights (shared, not copied).
    assert {id(p) for p in net.at(c).parameters()} == {id(p) for p in net.parameters()}


def _coupled(net: ExtendedSympNet) -> nn.Module:
    """The parameter fed from the state (c = q): no longer a fixed-parameter map."""

    class Coupled(nn.Module):
        def forward(self, z: Tensor) -> Tensor:
            d = net.dim
            return net(torch.cat((z, z[:, :d]), dim=1))[:, : 2 * d]

    return Coupled()


def test_negative_control_coupling_the_parameter_to_the_state_breaks_symplecticity() -> None:
    net = ExtendedSympNet(2, parameter_dim=2, layers=3, width=8, init_scale=1.0).double()
    z = torch.randn(8, 4, dtype=F64)
    assert check_symplectic(net.at(torch.zeros(2)), z).ok  # the fixed-parameter map passes
    result = check_symplectic(_coupled(net), z)
    assert not result.ok and result.worst > 1e-3


def test_negative_control_the_extended_map_is_not_symplectic_on_q_p_c_as_phase_space() -> None:
    # d = 1, k = 2: (q, p, c₁, c₂) has four columns, and read as a phase space with the
    # canonical J the extended map is not symplectic (∂(q, p)/∂c ≠ 0): the claim could not be
    # made on the extended state, only on its restrictions.
    net = ExtendedSympNet(1, parameter_dim=2, layers=3, width=8, init_scale=1.0).double()
    x = torch.randn(8, 4, dtype=F64)
    assert not check_symplectic(net, x).ok


class _UntiedShear(nn.Module):
    """p ← p + W(a ⊙ σ(K q + M c + b)) with W ≠ Kᵀ: not a gradient in q."""

    def __init__(self) -> None:
        super().__init__()
        self.k = torch.randn(6, 2, dtype=F64)
        self.m = torch.randn(6, 1, dtype=F64)
        self.w = torch.randn(6, 2, dtype=F64)

    def forward(self, z: Tensor) -> Tensor:
        c = torch.full((z.shape[0], 1), 0.4, dtype=F64)
        inner = z[:, :2] @ self.k.T + c @ self.m.T
        return torch.cat((z[:, :2], z[:, 2:] + torch.sigmoid(inner) @ self.w), dim=1)


def test_negative_control_an_untied_extended_shear_fails_the_check() -> None:
    assert not check_symplectic(_UntiedShear(), torch.randn(6, 4, dtype=F64)).ok


def test_inputs_are_validated_with_typed_errors() -> None:
    net = ExtendedSympNet(2, parameter_dim=1, layers=2, width=4)
    with pytest.raises(ShapeError, match=r"x = \(q, p, c\)"):
        net(torch.zeros(3, 4))
    with pytest.raises(ShapeError, match="one value of c"):
        net.at(torch.zeros(2))
    with pytest.raises(ShapeError, match="one value of c"):
        net.at(torch.zeros(3, 1))
    with pytest.raises(NonFiniteError, match="not finite"):
        net.at(float("nan"))
    with pytest.raises(ShapeError, match="non-floating dtype"):
        net(torch.zeros(3, 5, dtype=torch.long))
    with pytest.raises(ShapeError):
        net.at(0.5)(torch.zeros(3, 5))
    with pytest.raises(ConfigError):
        ExtendedShear(1, 1, activation="relu")
    with pytest.raises(ConfigError):
        ExtendedShear(1, 0)
    with pytest.raises(ConfigError):
        ExtendedShear(1, 1, update="c")


# --------------------------------------------------------------------- learning a family


def _pendulum_family(x: Tensor) -> Tensor:
    """``H = ½p² − c cos q`` (c = g/ℓ: a pendulum of length ℓ) on extended states (q, p, c)."""
    q, p, k = x[:, :1], x[:, 1:2], x[:, 2:]
    return torch.cat((p, -k * torch.sin(q), torch.zeros_like(k)), dim=1)


def _orbits(strengths: list[float], q0: float, steps: int, h: float = 0.1) -> Tensor:
    z0 = torch.tensor([[q0, 0.0, s] for s in strengths], dtype=F64)
    times = h * torch.arange(steps + 1, dtype=F64)
    return integrate(_pendulum_family, z0, times, substeps=10)


@pytest.mark.slow
def test_an_extended_sympnet_learns_a_pendulum_family_across_lengths() -> None:
    train = _orbits([0.5, 0.75, 1.0, 1.25, 1.5], q0=1.0, steps=60)
    starts = train[:, :-1].reshape(-1, 3)
    targets = train[:, 1:].reshape(-1, 1, 3)
    torch.manual_seed(0)
    settings = dict(layers=4, width=30, activation="tanh", init_scale=0.3)
    net = ExtendedSympNet(1, parameter_dim=1, **settings).double()
    fit_rollout(net, starts, targets, steps=2000, lr=1e-2, final_lr_fraction=0.01)
    # The baseline that ignores the parameter: one G-SympNet for the whole pooled family.
    torch.manual_seed(0)
    blind = GSympNet(1, **settings).double()
    fit_rollout(blind, starts[:, :2], targets[..., :2], steps=2000, lr=1e-2, final_lr_fraction=0.01)

    test = _orbits([0.625, 1.375], q0=1.0, steps=100)  # lengths never trained on
    with torch.no_grad():
        ours = rollout(net, test[:, 0], 100)
        theirs = rollout(blind, test[:, 0, :2], 100)
    error = (ours[..., :2] - test[..., :2]).pow(2).mean()
    blind_error = (theirs - test[..., :2]).pow(2).mean()
    assert torch.equal(ours[..., 2], test[..., 2])  # the parameter is carried unchanged
    assert error < 2e-3, f"rollout MSE at unseen lengths {float(error):.3g}"
    assert error < 0.01 * blind_error, (float(error), float(blind_error))
    for c in (0.625, 1.375):  # and the trained map is symplectic at every parameter
        assert check_symplectic(net.at(c), test[0, :8, :2]).worst <= LAYER_BAR
