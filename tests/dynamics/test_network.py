"""ODENet: layers of integrator steps; step sizes, step rules, embedding, inverse, guarantees."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from structdl import (
    ConfigError,
    IncompatibleSchemeError,
    InverseError,
    NonFiniteError,
    ShapeError,
    StepSizeError,
)
from structdl.dynamics import (
    Antisymmetric,
    Euler,
    GradientFlow,
    LieAlgebraField,
    LieEuler,
    ODENet,
    Residual,
    RidgeShearSum,
    RungeKutta,
    SecondOrder,
    SeparableHamiltonian,
    StormerVerlet,
    Strang,
    SymplecticEuler,
)
from structdl.structure import (
    Invertible,
    NonExpansive,
    OnManifold,
    Symplectic,
    assert_preserves,
    check_inverse,
    check_lipschitz,
)

F64 = torch.float64


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# -- layers and parameters ---------------------------------------------------------------------


def test_shared_field_is_a_neural_ode_and_matches_a_manual_euler_loop() -> None:
    field = GradientFlow(3, width=5).double()
    net = ODENet(field, Euler(), steps=4, T=2.0).double()
    x = torch.randn(6, 3, dtype=F64)
    y = x
    for _ in range(4):
        y = y + 0.5 * field(0.0, y)
    assert torch.allclose(net(x), y, atol=1e-14)
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in field.parameters())


def test_per_layer_fields_have_their_own_parameters() -> None:
    fields = [Residual(3) for _ in range(5)]
    net = ODENet(fields, Euler())
    assert net.steps == 5 and not net.shared
    assert sum(p.numel() for p in net.parameters()) == 5 * sum(
        p.numel() for p in fields[0].parameters()
    )
    x = torch.randn(4, 3)
    states = net.trajectory(x)
    assert len(states) == 6
    assert torch.equal(states[-1], net(x))
    # gradients reach every layer's parameters
    net(x).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_learned_steps_lie_on_the_simplex_and_are_trained() -> None:
    net = ODENet(Antisymmetric(3, gamma=0.1), Euler(), steps=6, T=3.0, learn_steps=True)
    optimiser = torch.optim.SGD(net.parameters(), lr=0.5)
    x = torch.randn(16, 3)
    before = net.step_sizes().detach().clone()
    for _ in range(3):
        optimiser.zero_grad()
        net(x).square().sum().backward()
        assert net.step_logits.grad is not None and net.step_logits.grad.abs().sum() > 0
        optimiser.step()
    after = net.step_sizes().detach()
    assert not torch.allclose(before, after)
    assert float(after.sum()) == pytest.approx(3.0, rel=1e-6)
    assert (after > 0).all()


def test_fixed_steps_are_uniform() -> None:
    net = ODENet(Residual(2), Euler(), steps=8, T=2.0)
    assert torch.allclose(net.step_sizes(), torch.full((8,), 0.25))


def test_head_is_applied_after_the_structured_part() -> None:
    head = nn.Linear(4, 2)
    net = ODENet(SeparableHamiltonian(2), StormerVerlet(), steps=3, embed="phase", head=head)
    x = torch.randn(5, 2)
    assert net(x).shape == (5, 2)
    assert torch.allclose(net(x), head(net.features(x)))


# -- step rules --------------------------------------------------------------------------------


def _big_field() -> GradientFlow:
    field = GradientFlow(3, width=6)
    with torch.no_grad():
        field.weight.mul_(4.0)  # ‖A‖ large: h = T/steps is above 2/‖A‖²
    return field


def test_step_rule_raise_names_the_bound() -> None:
    net = ODENet(_big_field(), Euler(), steps=2, T=1.0, step_rule="raise")
    with pytest.raises(StepSizeError, match=r"exceeds the non-expansive bound 2r/\(L‖A‖²\)"):
        net(torch.randn(4, 3))


def test_step_rule_clip_enforces_the_bound_and_certifies_nonexpansive() -> None:
    field = _big_field().double()
    unruled = ODENet(field, Euler(), steps=2, T=1.0).double()
    assert NonExpansive(1.0) not in unruled.guarantees()
    net = ODENet(field, Euler(), steps=2, T=1.0, step_rule="clip").double()
    bound = 2.0 / field.lipschitz_bound()
    h = net.step_sizes().detach()
    assert (h <= bound).all() and (h > 0.999 * bound).all()
    assert NonExpansive(1.0) in net.guarantees()
    assert net.lipschitz_bound() == 1.0
    x = torch.randn(32, 3, dtype=F64)
    assert check_lipschitz(net.features, x, bound=1.0, ascent_steps=20).ok
    # negative control: the same network without the rule expands somewhere
    assert not check_lipschitz(unruled.features, x, bound=1.0, ascent_steps=20).ok


def test_per_layer_step_rule_uses_each_layers_norm() -> None:
    fields = [GradientFlow(2, width=3) for _ in range(3)]
    with torch.no_grad():
        for k, f in enumerate(fields):
            f.weight.mul_(k + 1.0)
    net = ODENet(fields, Euler(), T=30.0, step_rule="clip")
    bounds = torch.tensor([2.0 / f.lipschitz_bound() for f in fields])
    h = net.step_sizes().detach()
    assert (h <= bounds).all()  # the clip margin is 100 ulp of float32 below the bound
    assert torch.allclose(h, bounds, rtol=1e-4)


def test_step_rule_needs_gradient_fields_and_a_contractive_method() -> None:
    with pytest.raises(ConfigError, match="needs gradient-flow fields"):
        ODENet(Residual(2), Euler(), steps=2, step_rule="clip")
    with pytest.raises(ConfigError, match=r"RungeKutta\(rk4\) has r = 0"):
        ODENet(GradientFlow(2), RungeKutta("rk4"), steps=2, step_rule="raise")


# -- phase-space embedding and inverse ----------------------------------------------------------


def test_phase_embedding_and_readouts() -> None:
    field = SecondOrder(3, width=4)
    net = ODENet(field, StormerVerlet(), steps=2, embed="phase")
    x = torch.randn(5, 3)
    states = net.trajectory(x)
    assert torch.equal(states[0][0], x) and torch.equal(states[0][1], torch.zeros_like(x))
    assert net(x).shape == (5, 6)
    q_only = ODENet(field, StormerVerlet(), steps=2, embed="phase", readout="q")
    assert torch.equal(q_only(x), net(x)[:, :3])


@pytest.mark.parametrize("integrator", [SymplecticEuler(), StormerVerlet()])
@pytest.mark.parametrize("embed", ["phase", "phase_linear"])
def test_inverse_round_trip_is_exact(integrator, embed: str) -> None:
    fields = [SeparableHamiltonian(3, width=5) for _ in range(6)]
    net = ODENet(fields, integrator, T=3.0, embed=embed).double()
    if embed == "phase_linear":
        with torch.no_grad():
            net.embed_weight.normal_()
    x = torch.randn(20, 3, dtype=F64)
    assert (net.inverse(net.features(x)) - x).abs().max() <= 1e-12
    assert check_inverse(net.features, net.inverse, x).ok
    assert Invertible() in net.guarantees() and Symplectic() in net.guarantees()


def test_inverse_on_pairs_and_on_split_shears() -> None:
    net = ODENet([SeparableHamiltonian(2) for _ in range(3)], StormerVerlet()).double()
    q, p = torch.randn(4, 2, dtype=F64), torch.randn(4, 2, dtype=F64)
    back = net.inverse(net((q, p)))
    assert (back[0] - q).abs().max() <= 1e-12 and (back[1] - p).abs().max() <= 1e-12
    ridges = ODENet([RidgeShearSum(3, n_ridges=3) for _ in range(4)], Strang()).double()
    x = torch.randn(8, 3, dtype=F64)
    assert (ridges.inverse(ridges(x)) - x).abs().max() <= 1e-12


def test_inverse_rejects_outputs_outside_the_range() -> None:
    net = ODENet(SeparableHamiltonian(2), SymplecticEuler(), steps=3, embed="phase").double()
    y = net.features(torch.randn(4, 2, dtype=F64)) + 0.1
    with pytest.raises(InverseError, match="not the output of this network") as info:
        net.inverse(y)
    assert info.value.residual is not None and info.value.residual > 1e-3


def test_inverse_needs_an_invertible_scheme() -> None:
    with pytest.raises(IncompatibleSchemeError, match="Euler has no exact inverse step"):
        ODENet(Residual(2), Euler(), steps=2).inverse(torch.zeros(1, 2))
    net = ODENet(SecondOrder(2), StormerVerlet(), steps=2, embed="phase", readout="q")
    with pytest.raises(IncompatibleSchemeError, match="readout='q' discards the momenta"):
        net.inverse(torch.zeros(1, 2))


# -- guarantees and compatibility ---------------------------------------------------------------


def test_lie_network_keeps_sphere_guarantee() -> None:
    net = ODENet(LieAlgebraField(6), LieEuler(), steps=5).double()
    assert OnManifold("sphere") in net.guarantees()
    y = torch.nn.functional.normalize(torch.randn(10, 3, dtype=F64), dim=1)
    assert (net(y).norm(dim=1) - 1).abs().max() < 1e-12


def test_guarantees_are_the_intersection_over_layers() -> None:
    fields = [GradientFlow(2, width=3) for _ in range(2)]
    with torch.no_grad():
        fields[1].weight.mul_(10.0)  # only layer 1 violates h ≤ 2/‖A‖²
    net = ODENet(fields, Euler(), T=0.2)
    assert NonExpansive(1.0) not in net.guarantees()
    with pytest.raises(IncompatibleSchemeError, match="layer 1 .* no non-expansive guarantee"):
        net.lipschitz_bound()


def test_incompatible_pair_fails_before_any_computation() -> None:
    calls = []

    class Spy(LieAlgebraField):
        def evaluate(self, t, y):
            calls.append(1)
            return super().evaluate(t, y)

        def xi(self, t, y):
            calls.append(1)
            return super().xi(t, y)

    # layer 0 is compatible, layer 1 is not: nothing may run, not even layer 0
    with pytest.raises(IncompatibleSchemeError, match="LieEuler cannot integrate GradientFlow"):
        ODENet([Spy(4), GradientFlow(3)], LieEuler())
    assert calls == []


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"T": 0.0}, StepSizeError, "T is (invalid|not a number)"),
        ({"T": -1.0}, StepSizeError, "T is (invalid|not a number)"),
        ({"T": float("nan")}, StepSizeError, "T is (invalid|not a number)"),
        ({"T": float("inf")}, StepSizeError, "T is (invalid|not a number)"),
        ({"T": "1"}, StepSizeError, "T is (invalid|not a number)"),
        ({"steps": 0}, ConfigError, "steps must be an integer ≥ 1"),
        ({"steps": -3}, ConfigError, "steps must be an integer ≥ 1"),
        ({"steps": 2.5}, ConfigError, "steps must be an integer ≥ 1"),
        ({"steps": True}, ConfigError, "steps must be an integer ≥ 1"),
        ({"steps": None}, ConfigError, "steps is required with a single shared field"),
        ({"step_rule": "shrink"}, ConfigError, "unknown step_rule 'shrink'"),
        ({"embed": "fourier"}, ConfigError, "unknown embed 'fourier'"),
        ({"embed": "phase"}, ConfigError, "needs partitioned fields"),
        ({"readout": "p"}, ConfigError, "unknown readout 'p'"),
        ({"learn_steps": 1}, ConfigError, "learn_steps must be True or False"),
        ({"head": lambda x: x}, ConfigError, "head must be an nn.Module"),
    ],
)
def test_bad_options_raise_typed_errors(kwargs: dict, error: type, match: str) -> None:
    options = {"steps": 3, **kwargs}
    with pytest.raises(error, match=match):
        ODENet(GradientFlow(2), Euler(), **options)


def test_bad_fields_and_integrators() -> None:
    with pytest.raises(IncompatibleSchemeError, match="an instance, not the class"):
        ODENet(GradientFlow(2), Euler, steps=2)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="non-empty sequence"):
        ODENet([], Euler())
    with pytest.raises(ConfigError, match="same state"):
        ODENet([GradientFlow(2), GradientFlow(3)], Euler())
    with pytest.raises(ConfigError, match="steps=4 but 2 per-layer fields"):
        ODENet([GradientFlow(2), GradientFlow(2)], Euler(), steps=4)
    with pytest.raises(ConfigError, match="unknown activation 'swish'"):
        ODENet(GradientFlow(2, activation="swish"), Euler(), steps=2)


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (torch.zeros(4, 3), r"wrong shape — expected \(batch, 2\)"),
        (torch.zeros(4, 2, dtype=torch.int32), "floating dtype"),
        (torch.tensor([[float("nan"), 0.0]]), "NaN or infinite"),
        (torch.zeros(4, 2, dtype=F64), "wrong dtype — expected the parameters"),
        ((torch.zeros(4, 2), torch.zeros(4, 2)), "expected a single tensor"),
    ],
)
def test_bad_inputs_raise_shape_errors(x, match: str) -> None:
    net = ODENet(GradientFlow(2), Euler(), steps=2)
    with pytest.raises((ShapeError, NonFiniteError), match=match):
        net(x)


def test_bad_embedded_inputs_raise_shape_errors() -> None:
    net = ODENet(SeparableHamiltonian(2), StormerVerlet(), steps=2, embed="phase")
    with pytest.raises(ShapeError, match=r"wrong shape — expected \(batch, 2\)"):
        net(torch.zeros(3, 4))
    with pytest.raises(ConfigError, match=r"expected the concatenated output \(batch, 4\)"):
        ODENet(SeparableHamiltonian(2), SymplecticEuler(), steps=2, embed="phase").inverse(
            torch.zeros(3, 2)
        )


def test_assert_preserves_runs_the_checks_of_the_network_guarantees() -> None:
    lie = ODENet(LieAlgebraField(6), LieEuler(), steps=5, T=2.0).double()
    y = torch.nn.functional.normalize(torch.randn(10, 3, dtype=F64), dim=1)
    assert set(assert_preserves(lie, y)) == {repr(OnManifold("sphere"))}
    flow = ODENet(GradientFlow(2, width=6), Euler(), steps=4, T=8.0, step_rule="clip").double()
    results = assert_preserves(flow, torch.randn(16, 2, dtype=F64))
    assert results[repr(NonExpansive(1.0))].worst <= 1.0 + 1e-6
