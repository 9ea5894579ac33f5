"""Every guarantee is true, and the inputs that used to escape get typed errors.

One test per case measured in issue 7 (§2, §3): a claim that its check refutes, a check that
passes a false claim or fails a true one, a silent NaN, a raw RuntimeError, a misleading message.
"""

from __future__ import annotations

import math

import pytest
import torch

from structdl import (
    ConfigError,
    NonFiniteError,
    ShapeError,
    StepSizeError,
)
from structdl.dynamics import (
    AVF,
    Euler,
    GradientFlow,
    HarmonicOscillator,
    Kepler,
    ODENet,
    Pendulum,
    Residual,
    RungeKutta,
    SeparableHamiltonian,
    StormerVerlet,
    Yoshida4,
)
from structdl.dynamics.physics import GradientSystem
from structdl.structure import (
    EnergyConserving,
    NonExpansive,
    Symplectic,
    check_energy,
    check_lipschitz,
    check_symplectic,
    guarantees,
    tolerance,
)

F64 = torch.float64


def _pair_map(integrator, field, h):
    def step(z: torch.Tensor) -> torch.Tensor:
        d = z.shape[1] // 2
        return torch.cat(integrator.step(field, 0.0, (z[:, :d], z[:, d:]), h), dim=1)

    return step


# -- §2: claims that their checks confirm -----------------------------------------------------


def test_avf_energy_claim_follows_the_quadrature_and_holds_where_claimed() -> None:
    # Pendulum (∇V = sin q): no claim; harmonic oscillator with one node (exact for degree 1):
    # claimed, and conserved to round-off over 50 steps.
    assert EnergyConserving() not in guarantees(Pendulum(), AVF(nodes=3), 0.5)
    assert EnergyConserving() not in guarantees(Kepler(), AVF(), 0.1)
    exp_energy = GradientSystem(lambda y: y.exp().sum(-1), [[0.0, 1.0], [-1.0, 0.0]])
    assert EnergyConserving() not in guarantees(exp_energy, AVF(), 0.1)
    field = HarmonicOscillator()
    assert EnergyConserving() in guarantees(field, AVF(nodes=1), 0.5)
    y = (torch.full((4, 1), 0.7, dtype=F64), torch.linspace(-1, 1, 4, dtype=F64)[:, None])
    states = AVF(nodes=1).integrate(field, y, [0.5 * k for k in range(51)])
    flat = [torch.cat(s, dim=1) for s in states]
    assert check_energy(lambda z: field.energy(z[:, :1], z[:, 1:]), flat).ok


@pytest.mark.parametrize("h", [10.0, 50.0])
def test_yoshida_symplectic_claim_is_confirmed_at_huge_steps(h: float) -> None:
    # The Jacobian's entries reach 1e10 at h = 50: the bar scales with them.
    assert Symplectic() in guarantees(Pendulum(), Yoshida4(), h)
    z = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    result = check_symplectic(_pair_map(Yoshida4(), Pendulum(), h), z)
    assert result.ok, result.reason
    if h == 10.0:
        # Negative control at the same size (entries 1e5): a 1 % stretch is not symplectic. At
        # h = 50 round-off (ε·1e19) exceeds any defect of order one: nothing can be resolved.
        stretched = _pair_map(Yoshida4(), Pendulum(), h)
        assert not check_symplectic(lambda v: 1.01 * stretched(v), z).ok


def test_check_lipschitz_counts_a_non_finite_ratio_as_a_violation() -> None:
    gen = torch.Generator().manual_seed(1)
    first = 0.02 + 0.05 * torch.rand(16, 1, generator=gen, dtype=F64)
    x = torch.cat([first, torch.randn(16, 1, generator=gen, dtype=F64)], dim=1)

    def blows_up_off_the_samples(v: torch.Tensor) -> torch.Tensor:
        # log of a negative first coordinate: NaN just off the samples (all have v₀ > 0)
        return 0.5 * v + 0.0 * torch.log(v[:, :1])

    result = check_lipschitz(blows_up_off_the_samples, x, ascent_steps=20)
    assert not result.ok and result.worst == math.inf
    assert check_lipschitz(lambda v: 0.5 * v, x, ascent_steps=5).ok  # negative control


def test_check_lipschitz_finds_the_worst_ratio_of_a_tanh_gradient_flow() -> None:
    torch.manual_seed(0)
    net = ODENet(
        GradientFlow(16, width=32, activation="tanh"), Euler(), steps=4, T=2.0, step_rule="clip"
    ).double()
    x = 3 * torch.randn(32, 16, dtype=F64)
    result = check_lipschitz(net, x, bound=1.0)
    assert result.ok
    assert result.worst > 0.999  # measured 0.99983; a plain Adam ascent finds 0.99942


@pytest.mark.parametrize(
    ("integrator", "field", "y", "h"),
    [
        (
            Euler(),
            HarmonicOscillator(),
            (torch.full((1, 1), 1e10, dtype=F64), torch.zeros(1, 1, dtype=F64)),
            1e300,
        ),
        (
            StormerVerlet(),
            Kepler(),
            (torch.zeros(1, 2, dtype=F64), torch.ones(1, 2, dtype=F64)),
            0.1,
        ),
    ],
    ids=["euler-h1e300", "verlet-kepler-q0"],
)
def test_step_refuses_a_non_finite_result(integrator, field, y, h) -> None:
    with pytest.raises(NonFiniteError, match="NaN or infinite"):
        integrator.step(field, 0.0, y, h)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_networks_get_guarantees_and_the_clip_rule(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    net = ODENet(GradientFlow(3, width=4), Euler(), steps=4, T=8.0, step_rule="clip").to(dtype)
    assert NonExpansive(1.0) in net.guarantees()
    assert net(torch.randn(5, 3, dtype=dtype)).dtype == dtype


def test_clip_does_not_depend_on_the_power_iteration_start() -> None:
    torch.manual_seed(0)
    field = GradientFlow(3, width=3).double()
    with torch.no_grad():
        field.weight.copy_(torch.diag(torch.tensor([3.0, 1.0, 0.5], dtype=F64)))
        field._power_vector.copy_(torch.tensor([0.0, 1.0, 0.0]))  # orthogonal to the top one
    net = ODENet(field, Euler(), steps=2, T=4.0, step_rule="clip").double()
    exact = 2.0 / (field.activation.slope_bound * 9.0)
    assert float(net.step_sizes().detach().max()) <= exact
    assert NonExpansive(1.0) in net.guarantees()


def test_network_steps_follow_the_network_dtype_exactly() -> None:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        field = SeparableHamiltonian(2)
        net = ODENet(field, RungeKutta("rk4"), steps=20, T=1.0).double()
    finally:
        torch.set_default_dtype(previous)
    assert net.step_sizes().dtype == F64
    assert float(net.step_sizes()[0]) == 0.05
    y = (torch.randn(3, 2, dtype=F64), torch.randn(3, 2, dtype=F64))
    z = y
    for _ in range(20):
        z = RungeKutta("rk4").step(field, 0.0, z, 0.05)
    out = net(y)
    assert all(torch.equal(a, b) for a, b in zip(out, z, strict=True))


# -- §3: typed errors and honest messages ---------------------------------------------------


@pytest.mark.parametrize("bad", [torch.int64, "float32", None])
def test_tolerance_of_a_non_floating_dtype_is_a_config_error(bad: object) -> None:
    with pytest.raises(ConfigError, match="no tolerance"):
        tolerance(bad)  # type: ignore[arg-type]


def test_meta_device_inputs_and_parameters_are_refused() -> None:
    net = ODENet(Residual(2), Euler(), steps=2)
    with pytest.raises(ShapeError, match="meta"):
        net(torch.ones(3, 2, device="meta"))
    meta_net = ODENet(Residual(2, width=3).to("meta"), Euler(), steps=2)
    with pytest.raises(ShapeError, match="another device"):
        meta_net(torch.ones(3, 2))


@pytest.mark.parametrize("shape", [(2,), (2, 3, 2)])
def test_odenet_accepts_only_batch_by_dim(shape: tuple[int, ...]) -> None:
    net = ODENet(Residual(2), Euler(), steps=2)
    with pytest.raises(ShapeError, match=r"expected a tensor of shape \(batch, dim\)"):
        net(torch.ones(shape))
    assert net(torch.ones(3, 2)).shape == (3, 2)


def test_an_underflowed_learned_step_is_named_as_such() -> None:
    net = ODENet(Residual(2), Euler(), steps=2, T=1e-300, learn_steps=True).double()
    with torch.no_grad():
        net.step_logits.copy_(torch.tensor([1000.0, -1000.0]))
    with pytest.raises(StepSizeError, match="underflowed") as info:
        net(torch.ones(3, 2, dtype=F64))
    assert "repeated" not in str(info.value)


def test_divergence_advice_does_not_suggest_clip_when_it_is_on() -> None:
    field = GradientFlow(1, width=1).double()
    with torch.no_grad():
        field.weight.fill_(10.0)  # A·1e308 overflows: the state becomes NaN whatever the step
    net = ODENet(field, Euler(), steps=1, T=1.0, step_rule="clip").double()
    with pytest.raises(NonFiniteError) as info:
        net(torch.full((2, 1), 1e308, dtype=F64))
    assert "step_rule='clip'" not in str(info.value)
    plain = ODENet(field, Euler(), steps=1, T=1.0).double()
    with pytest.raises(NonFiniteError, match="step_rule='clip'"):
        plain(torch.full((2, 1), 1e308, dtype=F64))
