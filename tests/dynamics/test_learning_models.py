"""Learned Hamiltonian models: exact structure in float64, with negative controls."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from structdl import ConfigError, ShapeError
from structdl.dynamics import ImplicitMidpoint, ItohAbe, RungeKutta, StormerVerlet, Yoshida4
from structdl.dynamics.learning import (
    ActivationShear,
    DissipativeHamiltonianNN,
    FlowMap,
    GradientShear,
    GSympNet,
    HamiltonianNN,
    HenonLayer,
    HenonNet,
    LagrangianNN,
    LASympNet,
    LinearSymplectic,
    MLPField,
    ScalarMLP,
    SeparableHamiltonianNN,
    SymplecticAutoencoder,
    fit_derivatives,
    fit_rollout,
    symplectic_gradient,
)
from structdl.structure import (
    Dissipative,
    Symplectic,
    assert_preserves,
    canonical_J,
    check_energy,
    check_symplectic,
    guarantees,
)

F64 = torch.float64
#: The per-layer bar of the issue: float64 symplecticity defect at most 1e-12.
LAYER_BAR = 1e-12


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_scalar_mlp_gradient_matches_autograd(depth: int) -> None:
    net = ScalarMLP(3, width=7, depth=depth).double()
    x = torch.randn(6, 3, dtype=F64, requires_grad=True)
    auto = torch.autograd.grad(net(x).sum(), x)[0]
    value, grad = net.value_and_gradient(x)
    assert torch.allclose(grad, auto, atol=1e-14)
    assert torch.allclose(value, net(x))


def test_scalar_mlp_gradient_trains_like_the_double_backward() -> None:
    net = ScalarMLP(2, width=5).double()
    x = torch.randn(4, 2, dtype=F64, requires_grad=True)
    ours = torch.autograd.grad(net.gradient(x).pow(2).sum(), list(net.parameters()))
    auto = torch.autograd.grad(net(x).sum(), x, create_graph=True)[0]
    reference = torch.autograd.grad(auto.pow(2).sum(), list(net.parameters()))
    for a, b in zip(ours, reference, strict=True):
        assert torch.allclose(a, b, atol=1e-13)


SYMPNET_LAYERS = {
    "LinearSymplectic": lambda: LinearSymplectic(2, sublayers=3, init_scale=0.7),
    "ActivationShear-p": lambda: ActivationShear(2, "p", init_scale=1.0),
    "ActivationShear-q": lambda: ActivationShear(2, "q", activation="tanh", init_scale=1.0),
    "GradientShear-p": lambda: GradientShear(2, width=9, update="p", init_scale=1.0),
    "GradientShear-q": lambda: GradientShear(2, width=9, update="q", init_scale=1.0),
    "HenonLayer": lambda: HenonLayer(2, width=9, depth=2),
}


@pytest.mark.parametrize("name", sorted(SYMPNET_LAYERS))
def test_every_sympnet_layer_is_symplectic_to_round_off(name: str) -> None:
    layer = SYMPNET_LAYERS[name]().double()
    z = 1.5 * torch.randn(16, 4, dtype=F64)
    result = check_symplectic(layer, z)
    assert result.worst <= LAYER_BAR, result.reason
    assert torch.allclose(layer.inverse(layer(z)), z, atol=1e-12)


@pytest.mark.parametrize(
    "net",
    [
        lambda: LASympNet(2, layers=4, init_scale=0.5),
        lambda: GSympNet(2, layers=5, width=12, init_scale=0.8),
        lambda: HenonNet(2, layers=3, width=6),
    ],
)
def test_sympnets_symplectic_per_layer_and_whole(net) -> None:  # noqa: ANN001
    model = net().double()
    z = torch.randn(8, 4, dtype=F64)
    assert Symplectic() in guarantees(model)
    for part in model.parts:
        assert check_symplectic(part, z).worst <= LAYER_BAR
    assert check_symplectic(model, z).worst <= LAYER_BAR
    assert_preserves(model, z)


class _SkewedShear(nn.Module):
    """p ← p + A q with A NOT symmetric: volume preserving but not symplectic."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        a = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=z.dtype)
        return torch.cat((z[:, :2], z[:, 2:] + z[:, :2] @ a), dim=1)


def test_negative_control_a_non_symmetric_shear_fails_the_check() -> None:
    z = torch.randn(4, 4, dtype=F64)
    assert not check_symplectic(_SkewedShear(), z).ok


@pytest.mark.parametrize(
    ("field", "integrator"),
    [
        (lambda: SeparableHamiltonianNN(2, width=8), StormerVerlet()),
        (lambda: SeparableHamiltonianNN(2, width=8, kinetic="quadratic"), Yoshida4()),
        (
            lambda: SeparableHamiltonianNN(
                2, width=8, kinetic="quadratic", potential="quadratic+mlp"
            ),
            Yoshida4(),
        ),
        (lambda: HamiltonianNN(2, width=8), ImplicitMidpoint()),
        (lambda: HamiltonianNN(2, width=8, energy="quadratic+mlp"), ImplicitMidpoint()),
    ],
)
def test_flow_maps_of_hamiltonian_networks_are_symplectic(field, integrator) -> None:  # noqa: ANN001
    step = FlowMap(field(), integrator, 0.1, steps=2).double()
    z = torch.randn(3, 4, dtype=F64)  # few points: implicit steps are Jacobian-costly
    assert Symplectic() in guarantees(step)
    results = assert_preserves(step, z, h=0.1)
    assert results["Symplectic()"].worst <= LAYER_BAR
    assert torch.allclose(step.inverse(step(z)), z, atol=1e-10)


def test_negative_control_mlp_field_under_rk4_claims_nothing_and_fails() -> None:
    step = FlowMap(MLPField(2, width=8), RungeKutta("rk4"), 0.3).double()
    assert guarantees(step) == frozenset()
    assert not check_symplectic(step, torch.randn(6, 4, dtype=F64)).ok


def test_negative_control_symplectic_integrator_cannot_fix_an_mlp_field() -> None:
    step = FlowMap(MLPField(1, width=8), ImplicitMidpoint(), 0.3).double()
    assert Symplectic() not in guarantees(step)
    assert not check_symplectic(step, torch.randn(6, 2, dtype=F64)).ok


def test_dissipative_network_under_itoh_abe_never_gains_energy() -> None:
    step = FlowMap(DissipativeHamiltonianNN(1, width=8, rank=2), ItohAbe(), 0.2, steps=3).double()
    assert Dissipative() in guarantees(step)
    z = torch.randn(5, 2, dtype=F64)
    assert_preserves(step, z, n_steps=10)
    # Negative control: backwards in time the same map must gain energy.
    back = [z]
    for _ in range(10):
        back.append(step.step(back[-1], -0.2))
    assert not check_energy(step.energy, back, mode="non_increasing").ok


def test_hamiltonian_network_energy_is_conserved_by_implicit_midpoint() -> None:
    field = HamiltonianNN(1, width=8).double()
    y = (torch.randn(3, 1, dtype=F64), torch.randn(3, 1, dtype=F64))
    h0 = field.energy(*y)
    for _ in range(20):
        y = ImplicitMidpoint().step(field, 0.0, y, 0.01)
    # Second order: the energy error of 20 steps of h = 0.01 is small but not zero.
    assert float((field.energy(*y) - h0).detach().abs().max()) < 1e-5


def test_symplectic_gradient_matches_the_closed_form() -> None:
    net = ScalarMLP(2, width=5).double()
    z = torch.randn(4, 2, dtype=F64)
    expected = HamiltonianNN(1, width=5).double()
    expected.net = net
    via_func = symplectic_gradient(lambda s: net(s.unsqueeze(0))[0], z)
    assert torch.allclose(via_func, expected.time_derivative(z), atol=1e-14)


def test_fit_derivatives_learns_the_oscillator() -> None:
    z = torch.randn(64, 2)
    dz = torch.cat((z[:, 1:], -z[:, :1]), dim=1)
    model = SeparableHamiltonianNN(1, width=16, kinetic="quadratic")
    losses = fit_derivatives(model, z, dz, steps=150, lr=1e-2)
    assert losses[-1] < 0.1 * losses[0]


def test_fit_rollout_trains_through_the_integrator() -> None:
    t = 0.1 * torch.arange(12, dtype=F64)
    path = torch.stack((torch.cos(t), -torch.sin(t)), dim=1)
    starts, targets = path[:8], torch.stack([path[i + 1 : i + 4] for i in range(8)])
    step = FlowMap(SeparableHamiltonianNN(1, width=8), StormerVerlet(), 0.1).double()
    losses = fit_rollout(step, starts, targets, steps=60, lr=1e-2, keep_best=True)
    assert min(losses) < 0.2 * losses[0]
    assert check_symplectic(step, torch.randn(4, 2, dtype=F64)).worst <= LAYER_BAR


def test_errors_name_what_is_wrong() -> None:
    with pytest.raises(ConfigError, match="dim"):
        HamiltonianNN(0)
    with pytest.raises(ConfigError, match="energy"):
        HamiltonianNN(1, energy="cubic")
    with pytest.raises(ConfigError, match="kinetic"):
        SeparableHamiltonianNN(1, kinetic="cubic")
    with pytest.raises(ConfigError, match="update"):
        GradientShear(1, update="x")
    with pytest.raises(ConfigError, match="activation"):
        GSympNet(1, activation="relu")
    with pytest.raises(ShapeError, match="expected a \\(batch, 4\\)"):
        GSympNet(2)(torch.zeros(3, 3))
    with pytest.raises(ShapeError, match="pair"):
        HamiltonianNN(1)(0.0, torch.zeros(2, 2))
    with pytest.raises(ConfigError, match="no exact inverse"):
        FlowMap(MLPField(1, width=4), RungeKutta("rk4"), 0.1).inverse(torch.zeros(1, 2))
    with pytest.raises(ConfigError, match="h must be"):
        FlowMap(HamiltonianNN(1, width=4), ImplicitMidpoint(), 0.0)


class _AnharmonicLagrangian(nn.Module):
    """L = ½|v|² − ½|q|² + 0.1 Σ q⁴, so a = −q + 0.4 q³ (an oracle for the acceleration)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, v = x[:, :2], x[:, 2:]
        return 0.5 * (v * v).sum(1) - 0.5 * (q * q).sum(1) + 0.1 * (q**4).sum(1)


def test_lagrangian_network_acceleration_and_energy() -> None:
    field = LagrangianNN(2, width=8).double()
    field.net = _AnharmonicLagrangian()
    # States inside the well (|q| < 1.58, where V = ½q² − 0.1q⁴ still confines), drawn from
    # their own generator so that the networks' initialisation does not move them.
    generator = torch.Generator().manual_seed(0)
    q = torch.rand(3, 2, dtype=F64, generator=generator) * 2 - 1
    v = torch.rand(3, 2, dtype=F64, generator=generator) * 2 - 1
    assert torch.allclose(field(0.0, (q, v))[1], -q + 0.4 * q**3, atol=1e-12)
    y, start = (q, v), field.energy(q, v)
    for _ in range(50):
        y = RungeKutta("rk4").step(field, 0.0, y, 0.01)
    assert float((field.energy(*y) - start).abs().max()) < 1e-6  # RK4 error, h = 0.01
    # Its integrator map claims nothing canonical (the Legendre map is not the identity).
    assert guarantees(FlowMap(LagrangianNN(1, width=4), RungeKutta("rk4"), 0.1)) == frozenset()


def test_registered_self_checks_of_the_learned_models_pass() -> None:
    from structdl.structure.check_registry import all_checks

    checks = {name: fn for name, fn in all_checks().items() if name.startswith("learning.")}
    assert len(checks) == 4
    for name, fn in checks.items():
        result = fn()
        assert result.ok, f"{name}: {result.reason}"


def _embedding_defect(ae: SymplecticAutoencoder, latent: torch.Tensor) -> float:
    """max ‖D_decᵀ J_{2n} D_dec − J_{2k}‖ over the latent points."""
    jac = torch.func.vmap(torch.func.jacrev(lambda x: ae.decode(x.unsqueeze(0))[0]))(latent)
    gram = jac.transpose(1, 2) @ canonical_J(ae.dim) @ jac
    return float((gram - canonical_J(ae.latent_dim)).detach().abs().max())


def test_symplectic_autoencoder_embeds_the_latent_space_symplectically() -> None:
    ae = SymplecticAutoencoder(3, latent_dim=2, layers=3, width=6).double()
    with torch.no_grad():
        ae.rotation.normal_()
    latent = torch.randn(5, 4, dtype=F64)
    assert torch.allclose(ae.encode(ae.decode(latent)), latent, atol=1e-12)
    assert check_symplectic(ae, torch.randn(5, 6, dtype=F64)).worst <= LAYER_BAR
    assert _embedding_defect(ae, latent) <= LAYER_BAR
    # Negative control: a non-orthogonal basis breaks the lift and the embedding.
    ae.basis = lambda: 1.5 * torch.eye(3, dtype=F64)  # type: ignore[method-assign]
    assert not check_symplectic(ae, torch.randn(5, 6, dtype=F64)).ok
    assert _embedding_defect(ae, latent) > 1e-3
    with pytest.raises(ConfigError, match="latent_dim"):
        SymplecticAutoencoder(2, latent_dim=3)
