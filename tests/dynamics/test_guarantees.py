"""structure.guarantees: every rule claimed where its theorem holds, and verified by the check of
the property; negative cases where the theorem does not apply, with the check failing there."""

from __future__ import annotations

import pytest
import torch

from structdl import IncompatibleSchemeError, StepSizeError
from structdl.dynamics import (
    AVF,
    Euler,
    GradientFlow,
    HamiltonianRidge,
    HamiltonianTwoStream,
    HarmonicOscillator,
    HenonHeiles,
    ImplicitMidpoint,
    ItohAbe,
    LieAlgebraField,
    LieEuler,
    LieTrotter,
    Pendulum,
    Residual,
    RidgeShearSum,
    RungeKutta,
    SeparableHamiltonian,
    StormerVerlet,
    Strang,
    SymplecticEuler,
    separable_split,
)
from structdl.structure import (
    Dissipative,
    EnergyConserving,
    Invertible,
    NonExpansive,
    OnManifold,
    Reversible,
    Symplectic,
    VolumePreserving,
    check_energy,
    check_lipschitz,
    check_reversible,
    check_symplectic,
    check_volume_preserving,
)

# Imported from the module itself: the package attribute ``structure.guarantees`` is shadowed by
# the submodule once it has been imported (reported to the lead; structure/__init__ should import
# the function eagerly).
from structdl.structure.guarantees import guarantees

F64 = torch.float64


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _euler_map(field, h: float):
    return lambda y: Euler().step(field, 0.0, y, h)


def _pair_map(integrator, field, h: float):
    d = field.dim

    def step(z: torch.Tensor) -> torch.Tensor:
        return torch.cat(integrator.step(field, 0.0, (z[:, :d], z[:, d:]), h), dim=1)

    return step


# -- non-expansive gradient-flow steps -----------------------------------


@pytest.mark.parametrize(
    ("activation", "bias", "safe", "unsafe"),
    [
        ("relu", 3.0, 2.0, 3.0),
        ("leaky_relu", 3.0, 2.0, 3.0),
        ("identity", 0.0, 2.0, 3.0),
        ("sigmoid", 0.0, 8.0, 12.0),
    ],
)
def test_euler_on_gradient_flow_is_nonexpansive_iff_h_below_bound(
    activation: str, bias: float, safe: float, unsafe: float
) -> None:
    field = GradientFlow(3, width=4, activation=activation).double()
    with torch.no_grad():
        # samples where σ' is at its maximum L for every neuron, so that the bound is attained
        field.bias.fill_(bias)
    norm2 = float(torch.linalg.matrix_norm(field.weight.detach(), 2)) ** 2
    x = 0.05 * torch.randn(64, 3, dtype=F64)
    # h = 2/(L‖A‖²) exactly (sigmoid: 8/‖A‖²) is claimed and holds
    h_safe = safe / norm2
    assert NonExpansive(1.0) in guarantees(field, Euler(), h_safe)
    assert check_lipschitz(_euler_map(field, h_safe), x, bound=1.0, ascent_steps=40).ok
    # h = 3/‖A‖² (sigmoid: 12/‖A‖²) is not claimed — and a counterexample exists
    h_unsafe = unsafe / norm2
    assert NonExpansive(1.0) not in guarantees(field, Euler(), h_unsafe)
    result = check_lipschitz(_euler_map(field, h_unsafe), x, bound=1.0, ascent_steps=40)
    assert not result.ok and result.worst > 1.01


def test_rk4_never_claims_nonexpansive_but_ssp_rk3_does() -> None:
    field = GradientFlow(3, width=4).double()
    nu = field.lipschitz_bound()
    assert NonExpansive(1.0) not in guarantees(field, RungeKutta("rk4"), 1e-3 / nu)
    assert NonExpansive(1.0) in guarantees(field, RungeKutta("ssp_rk3"), 1.9 / nu)
    assert NonExpansive(1.0) not in guarantees(field, RungeKutta("ssp_rk3"), 2.1 / nu)


def test_implicit_midpoint_is_nonexpansive_for_every_step_on_gradient_flows() -> None:
    field = GradientFlow(3, width=4, activation="tanh").double()
    nu = field.lipschitz_bound()
    for h in (0.5 / nu, 50.0 / nu):
        assert NonExpansive(1.0) in guarantees(field, ImplicitMidpoint(), h)
    x = torch.randn(16, 3, dtype=F64)
    step = lambda y: ImplicitMidpoint().step(field, 0.0, y, 1.0 / nu)  # noqa: E731
    assert check_lipschitz(step, x, bound=1.0, n_pairs=64, ascent_steps=8).ok


def test_no_nonexpansive_claim_off_gradient_fields() -> None:
    assert NonExpansive(1.0) not in guarantees(Residual(3), Euler(), 1e-4)


# -- symplecticity and volume ------------------------------------------


@pytest.mark.parametrize("integrator", [SymplecticEuler(), StormerVerlet(), ImplicitMidpoint()])
def test_symplectic_methods_on_hamiltonian_fields(integrator) -> None:
    field = SeparableHamiltonian(2, width=3).double()
    claims = guarantees(field, integrator, 0.3)
    assert {Symplectic(), VolumePreserving(), Invertible()} <= claims
    z = torch.randn(6, 4, dtype=F64)
    assert check_symplectic(_pair_map(integrator, field, 0.3), z).ok
    assert check_volume_preserving(_pair_map(integrator, field, 0.3), z).ok


def test_euler_on_hamiltonian_is_not_symplectic() -> None:
    field = SeparableHamiltonian(2, width=3).double()
    claims = guarantees(field, Euler(), 0.3)
    assert Symplectic() not in claims and VolumePreserving() not in claims
    z = torch.randn(6, 4, dtype=F64)
    assert not check_symplectic(_pair_map(Euler(), field, 0.3), z).ok


def test_rk4_on_hamiltonian_is_not_claimed_symplectic() -> None:
    field = SeparableHamiltonian(2, width=3).double()
    assert Symplectic() not in guarantees(field, RungeKutta("rk4"), 0.3)


def test_two_stream_field_is_never_claimed_symplectic() -> None:
    field = HamiltonianTwoStream(2).double()
    claims = guarantees(field, ImplicitMidpoint(), 0.3)  # a symplectic method ...
    assert Symplectic() not in claims and VolumePreserving() not in claims
    z = torch.randn(6, 4, dtype=F64)
    # ... and indeed its step on this non-Hamiltonian field is not symplectic
    assert not check_symplectic(_pair_map(ImplicitMidpoint(), field, 0.3), z).ok
    with pytest.raises(IncompatibleSchemeError, match="StormerVerlet cannot integrate"):
        guarantees(field, StormerVerlet(), 0.3)


# -- splitting of shears --------------------------------------------------


@pytest.mark.parametrize("integrator", [LieTrotter(), Strang()])
def test_splitting_of_ridge_shears_preserves_volume(integrator) -> None:
    field = RidgeShearSum(3, n_ridges=4).double()
    claims = guarantees(field, integrator, 0.9)
    assert {VolumePreserving(), Invertible()} <= claims
    x = torch.randn(8, 3, dtype=F64)
    assert check_volume_preserving(lambda y: integrator.step(field, 0.0, y, 0.9), x).ok


def test_euler_on_ridge_shear_is_not_volume_preserving() -> None:
    field = RidgeShearSum(3, n_ridges=4).double()
    assert VolumePreserving() not in guarantees(field, Euler(), 0.9)
    x = torch.randn(8, 3, dtype=F64)
    assert not check_volume_preserving(_euler_map(field, 0.9), x).ok


def test_strang_of_kick_drift_is_symplectic() -> None:
    split = separable_split(SeparableHamiltonian(2, width=3).double())
    claims = guarantees(split, Strang(), 0.2)
    assert {Symplectic(), VolumePreserving(), Reversible()} <= claims


@pytest.mark.parametrize("integrator", [LieTrotter(), Strang(), ImplicitMidpoint()])
def test_hamiltonian_ridge_layers_are_symplectic(integrator) -> None:
    field = HamiltonianRidge(2, n_ridges=3).double()
    assert {Symplectic(), VolumePreserving(), Invertible()} <= guarantees(field, integrator, 0.4)
    z = torch.randn(6, 4, dtype=F64)
    assert check_symplectic(_pair_map(integrator, field, 0.4), z).ok


def test_euler_on_hamiltonian_ridge_is_not_symplectic() -> None:
    field = HamiltonianRidge(2, n_ridges=3).double()
    assert Symplectic() not in guarantees(field, Euler(), 0.4)
    z = torch.randn(6, 4, dtype=F64)
    assert not check_symplectic(_pair_map(Euler(), field, 0.4), z).ok


# -- reversibility ----------------------------------------------------------------------------


def test_symmetric_methods_are_reversible_and_symplectic_euler_is_not() -> None:
    field = SeparableHamiltonian(2, width=3).double()
    z = torch.randn(6, 4, dtype=F64)

    def as_step(integrator):
        return lambda y, h: _pair_map(integrator, field, h)(y)

    assert Reversible() in guarantees(field, StormerVerlet(), 0.3)
    assert check_reversible(as_step(StormerVerlet()), z, 0.3).ok
    assert Reversible() not in guarantees(field, SymplecticEuler(), 0.3)
    assert not check_reversible(as_step(SymplecticEuler()), z, 0.3).ok


# -- Lie groups and discrete gradients -------------------------------------------------------


def test_lie_euler_keeps_lie_fields_on_the_sphere() -> None:
    claims = guarantees(LieAlgebraField(4), LieEuler(), 0.1)
    assert OnManifold("sphere") in claims
    assert OnManifold("sphere") not in guarantees(LieAlgebraField(4), Euler(), 0.1)


def test_avf_claims_energy_only_where_its_quadrature_is_exact() -> None:
    # A tanh network's ∇E is not a polynomial: the quadrature error is the drift, nothing is
    # claimed. A polynomial energy within the rule's degree is conserved (skew S).
    gradient = GradientFlow(2, width=3, activation="tanh").double()
    assert not {Dissipative(), EnergyConserving()} & guarantees(gradient, AVF(), 0.5)
    hamiltonian = SeparableHamiltonian(2, width=3).double()
    assert EnergyConserving() not in guarantees(hamiltonian, AVF(), 0.5)
    assert EnergyConserving() in guarantees(HarmonicOscillator(), AVF(nodes=1), 0.5)
    assert EnergyConserving() in guarantees(HenonHeiles(), AVF(nodes=2), 0.5)
    assert EnergyConserving() not in guarantees(HenonHeiles(), AVF(nodes=1), 0.5)
    assert EnergyConserving() not in guarantees(Pendulum(), AVF(), 0.5)


def test_itoh_abe_dissipates_a_gradient_flow_energy_for_any_energy() -> None:
    gradient = GradientFlow(2, width=3, activation="tanh").double()
    assert Dissipative() in guarantees(gradient, ItohAbe(), 0.5)
    y = 2 * torch.randn(5, 2, dtype=F64)
    states = ItohAbe().integrate(gradient, y, [0.5 * k for k in range(8)])
    assert check_energy(gradient.energy, states, mode="non_increasing").ok


# -- rule hygiene and bad input ----------------------------------------------------------------


def test_every_integrator_claim_states_its_theorem() -> None:
    from structdl.dynamics.integrators import INTEGRATORS

    for cls in INTEGRATORS.values():
        for claim in cls().claims:
            assert len(claim.reason.split()) >= 5, (cls.__name__, claim)


@pytest.mark.parametrize("h", [0.0, float("nan"), float("inf"), "0.1", torch.ones(2)])
def test_guarantees_rejects_bad_step_sizes(h: object) -> None:
    with pytest.raises(StepSizeError, match="step size|one step size"):
        guarantees(GradientFlow(2), Euler(), h)


def test_guarantees_rejects_incompatible_pairs_and_classes() -> None:
    with pytest.raises(IncompatibleSchemeError, match="SymplecticEuler cannot integrate"):
        guarantees(GradientFlow(2), SymplecticEuler(), 0.1)
    with pytest.raises(IncompatibleSchemeError, match="an instance, not the class"):
        guarantees(GradientFlow(2), Euler, 0.1)


def test_algebraic_stability_is_derived_from_the_tableau() -> None:
    from structdl.dynamics.tableau import TABLEAUX

    stable = {name for name, tab in TABLEAUX.items() if tab.is_algebraically_stable}
    assert {"gauss2", "gauss4"} <= stable
    assert not {"euler", "heun", "rk4", "ssp_rk3", "midpoint"} & stable
