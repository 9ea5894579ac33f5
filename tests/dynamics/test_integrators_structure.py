"""Structure of the integrators, each with a negative control: symplecticity, energy behaviour,
inverse steps and reversibility, staying on the sphere."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from structdl._errors import IncompatibleSchemeError
from structdl.dynamics._base import Integrator, State, VectorField
from structdl.dynamics.fields import SeparableHamiltonian
from structdl.dynamics.integrators import (
    AVF,
    RKMK,
    Euler,
    ImplicitMidpoint,
    ItohAbe,
    LieEuler,
    LieTrotter,
    PartitionedRungeKutta,
    RungeKutta,
    SplitField,
    StormerVerlet,
    Strang,
    SymplecticEuler,
    Yoshida4,
    separable_split,
)
from structdl.dynamics.physics import (
    FreeRigidBody,
    GradientSystem,
    HarmonicOscillator,
    HenonHeiles,
    Pendulum,
    SphereRotation,
)
from structdl.dynamics.tableau import (
    ButcherTableau,
    PartitionedTableau,
    lobatto_3a_3b_3stage,
    symplectic_euler_prk,
)
from structdl.structure import check_symplectic
from structdl.structure.result import tolerance

F64 = torch.float64
EXACT = 1e-12  # the brief's bar for explicit maps and converged solves in float64

SYMPLECTIC = [
    SymplecticEuler,
    lambda: SymplecticEuler("drift-kick"),
    StormerVerlet,
    lambda: StormerVerlet("drift-kick-drift"),
    Yoshida4,
    ImplicitMidpoint,
    lambda: RungeKutta("gauss4"),
    PartitionedRungeKutta,
    lambda: PartitionedRungeKutta(lobatto_3a_3b_3stage),
]


def step_map(integrator: Integrator, field: VectorField, h: float) -> Callable[[Tensor], Tensor]:
    """The step as a map on phase-space rows ``z = (q, p)`` of shape ``(n, 2d)``."""

    def phi(z: Tensor) -> Tensor:
        d = z.shape[-1] // 2
        q, p = integrator.step(field, 0.0, (z[:, :d], z[:, d:]), h)
        return torch.cat((q, p), dim=-1)

    return phi


def sample_points(dim: int, n: int = 4, seed: int = 0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.4 * torch.randn(n, 2 * dim, generator=g, dtype=F64)


@pytest.mark.parametrize("make", SYMPLECTIC)
@pytest.mark.parametrize("field", [Pendulum(), HenonHeiles()], ids=["pendulum", "henon_heiles"])
def test_symplectic_methods_are_symplectic(
    make: Callable[[], Integrator], field: VectorField
) -> None:
    integrator = make()
    result = check_symplectic(
        step_map(integrator, field, 0.5), sample_points(field.dim), atol=EXACT
    )
    assert result.ok, result.reason


@pytest.mark.parametrize("make", [Euler, RungeKutta, lambda: RungeKutta("ssp_rk3"), AVF])
@pytest.mark.parametrize("field", [Pendulum(), HenonHeiles()], ids=["pendulum", "henon_heiles"])
def test_non_symplectic_methods_fail_the_check(
    make: Callable[[], Integrator], field: VectorField
) -> None:
    # negative control: the same check must reject Euler, RK4, SSP-RK3 and AVF (energy-, not
    # symplecticity-preserving)
    result = check_symplectic(step_map(make(), field, 0.5), sample_points(field.dim))
    assert not result.ok
    assert result.worst > 1e-6


def test_symplectic_check_matches_an_inline_jacrev_reference() -> None:
    # a 10-line oracle (reverse-mode Jacobian), independent of structdl.structure
    field, h = Pendulum(), 0.5
    z = sample_points(1, n=1)
    J = torch.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=F64)
    for make, bounded in ((StormerVerlet, True), (RungeKutta, False)):
        phi = step_map(make(), field, h)
        defects = []
        for zi in z:
            jac = torch.autograd.functional.jacobian(lambda x, phi=phi: phi(x[None])[0], zi)
            defects.append(float((jac.T @ J @ jac - J).norm()))
        assert (max(defects) <= EXACT) == bounded, defects


def _energies(field: Pendulum, trajectory: list[State]) -> Tensor:
    return torch.stack([field.energy(*y) for y in trajectory]).squeeze(-1)


def _trajectory(integrator: Integrator, field: VectorField, y0: State, h: float, n: int):
    ys = [y0]
    for k in range(n):
        ys.append(integrator.step(field, k * h, ys[-1], h))
    return ys


def test_verlet_has_no_secular_energy_drift_while_euler_drifts() -> None:
    field, h, n = Pendulum(), 0.1, 10_000
    y0 = (torch.tensor([[1.5]], dtype=F64), torch.tensor([[0.0]], dtype=F64))
    e0 = float(field.energy(*y0))
    verlet = (_energies(field, _trajectory(StormerVerlet(), field, y0, h, n)) - e0).abs()
    first, second = float(verlet[: n // 2].max()), float(verlet[n // 2 :].max())
    assert second <= 1.5 * first  # bounded oscillation, no growth
    assert first <= h**2  # O(h²) energy error
    # negative control: explicit Euler gains energy steadily (spirals outwards)
    euler = _energies(field, _trajectory(Euler(), field, y0, h, 400)) - e0
    assert float(euler[200:].mean()) > 1.5 * float(euler[:200].mean()) > 0.0
    assert float(euler[-1]) > 100 * first


def _quartic_system(structure: str) -> GradientSystem:
    g = torch.Generator().manual_seed(7)
    m = torch.randn(4, 4, generator=g, dtype=F64)
    s = m - m.T
    if structure == "dissipative":
        b = torch.randn(4, 4, generator=g, dtype=F64)
        s = s - b @ b.T / 4

    # E = ¼Σy⁴ + ½‖y‖² + y₀y₁: ∇E is cubic, integrated exactly by 3-node Gauss–Legendre
    def grad(y: Tensor) -> Tensor:
        cross = torch.zeros_like(y)
        cross[..., 0], cross[..., 1] = y[..., 1], y[..., 0]
        return y**3 + y + cross

    return GradientSystem(
        lambda y: 0.25 * (y**4).sum(-1) + 0.5 * (y**2).sum(-1) + y[..., 0] * y[..., 1],
        s / 2,
        grad_fn=grad,
        gradient_degree=3,
    )


def test_quartic_system_gradient_matches_autograd() -> None:
    field = _quartic_system("skew")
    autograd_field = GradientSystem(field.energy_fn, field.structure_matrix)
    y = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=F64)
    assert torch.allclose(field.grad_energy(y), autograd_field.grad_energy(y), atol=1e-14)
    assert not autograd_field(0.0, y).requires_grad  # no graph leaks out of a plain step


def _energy_series(integrator: Integrator, field: GradientSystem, n: int, h: float) -> Tensor:
    y0 = torch.tensor([[0.9, -0.5, 0.3, 1.1], [0.1, 0.2, -0.7, 0.4]], dtype=F64)
    return torch.stack([field.energy(y) for y in _trajectory(integrator, field, y0, h, n)])


@pytest.mark.parametrize(("make", "bar"), [(AVF, 1e-12), (ItohAbe, 1e-9)])
def test_discrete_gradients_conserve_energy_for_skew_s(
    make: Callable[[], Integrator], bar: float
) -> None:
    field = _quartic_system("skew")
    energies = _energy_series(make(), field, 100, 0.1)
    drift = float((energies - energies[0]).abs().max() / energies[0].abs().max())
    assert drift <= bar, drift
    # negative control: RK4 on the same system does not conserve E to that level
    rk4 = _energy_series(RungeKutta("rk4"), field, 100, 0.1)
    assert float((rk4 - rk4[0]).abs().max()) > 1e3 * bar


@pytest.mark.parametrize("make", [AVF, ItohAbe])
def test_discrete_gradients_dissipate_energy_for_negative_semidefinite_s(
    make: Callable[[], Integrator],
) -> None:
    field = _quartic_system("dissipative")
    energies = _energy_series(make(), field, 60, 0.5)  # large steps: the guarantee has no h bound
    increments = energies[1:] - energies[:-1]
    assert float(increments.max()) <= tolerance(F64).solve
    assert float(energies[-1].max()) < float(energies[0].min())  # it does dissipate
    # negative control: explicit Euler with the same step increases the energy somewhere
    euler = _energy_series(Euler(), field, 5, 0.5)
    assert float((euler[1:] - euler[:-1]).max()) > 0.0


def test_avf_conserves_hamiltonian_of_partitioned_field() -> None:
    field = HenonHeiles()  # H is cubic in q: ∇H is quadratic, exact for 3 nodes
    y0 = field.initial_state(1)
    energies = torch.cat([field.energy(*y) for y in _trajectory(AVF(), field, y0, 0.2, 200)])
    assert float((energies - energies[0]).abs().max()) <= EXACT
    verlet = torch.cat(
        [field.energy(*y) for y in _trajectory(StormerVerlet(), field, y0, 0.2, 200)]
    )
    assert float((verlet - verlet[0]).abs().max()) > 1e-6  # Verlet only nearly conserves H


class NonSeparable(VectorField):
    """``H = ½(q² + p²) + ¼ q²p²``: Hamiltonian but not separable (no grad_q(t, q) form)."""

    kinds = frozenset({"partitioned", "hamiltonian"})

    def energy(self, q: Tensor, p: Tensor) -> Tensor:
        return (0.5 * (q**2 + p**2) + 0.25 * q**2 * p**2).sum(-1)

    def forward(self, t: float | Tensor, y: State) -> State:
        q, p = y
        return p + 0.5 * q**2 * p, -(q + 0.5 * q * p**2)


def test_non_separable_hamiltonian_avf_and_midpoint() -> None:
    field = NonSeparable()
    y0 = (torch.tensor([[0.8], [0.1]], dtype=F64), torch.tensor([[-0.3], [1.0]], dtype=F64))
    energies = torch.stack([field.energy(*y) for y in _trajectory(AVF(), field, y0, 0.2, 100)])
    assert float((energies - energies[0]).abs().max()) <= EXACT  # ∇H cubic: quadrature exact
    result = check_symplectic(step_map(ImplicitMidpoint(), field, 0.3), sample_points(1))
    assert result.ok, result.reason
    # Lobatto IIIA–IIIB and the symplectic-Euler pair have b = b̂: symplectic for any H
    for pair in (PartitionedRungeKutta(), PartitionedRungeKutta(symplectic_euler_prk)):
        result = check_symplectic(step_map(pair, field, 0.3), sample_points(1))
        assert result.ok, (pair.name, result.reason)
    for integrator in (StormerVerlet(), SymplecticEuler()):  # explicit methods need separability
        with pytest.raises(IncompatibleSchemeError, match="separable"):
            integrator.step(field, 0.0, y0, 0.1)


def test_discrete_gradient_claims_are_derived_from_s_and_the_quadrature_degree() -> None:
    from structdl.structure import guarantees
    from structdl.structure.properties import Dissipative, EnergyConserving

    assert EnergyConserving() in guarantees(_quartic_system("skew"), AVF(), 0.1)
    # ∇E is cubic: one node (degree 1) is not exact, and AVF then claims nothing
    assert guarantees(_quartic_system("skew"), AVF(nodes=1), 0.1) == frozenset()
    assert guarantees(_quartic_system("dissipative"), AVF(), 0.1) == frozenset({Dissipative()})
    assert guarantees(_quartic_system("dissipative"), AVF(), -0.1) == frozenset()
    indefinite = GradientSystem(
        lambda y: (y**2).sum(-1), torch.eye(2, dtype=F64), gradient_degree=1
    )
    assert guarantees(indefinite, AVF(), 0.1) == frozenset()


INVERTIBLE = [
    (SymplecticEuler, "ho"),
    (lambda: SymplecticEuler("drift-kick"), "ho"),
    (StormerVerlet, "pendulum"),
    (lambda: StormerVerlet("drift-kick-drift"), "pendulum"),
    (Yoshida4, "henon"),
    (ImplicitMidpoint, "henon"),
    (lambda: RungeKutta("gauss4"), "pendulum"),
    (LieTrotter, "split"),
    (Strang, "split"),
    (lambda: Strang(StormerVerlet()), "split"),
    (lambda: PartitionedRungeKutta(lobatto_3a_3b_3stage), "henon"),
]


def _field(name: str) -> VectorField:
    return {
        "ho": HarmonicOscillator(dim=3),
        "pendulum": Pendulum(dim=3),
        "henon": HenonHeiles(),
        "split": separable_split(Pendulum(dim=3)),
    }[name]


@pytest.mark.parametrize(("make", "field_name"), INVERTIBLE)
def test_inverse_step_round_trips(make: Callable[[], Integrator], field_name: str) -> None:
    integrator, field = make(), _field(field_name)
    dim = 2 if field_name == "henon" else 3
    g = torch.Generator().manual_seed(1)
    y = (
        0.5 * torch.randn(5, dim, generator=g, dtype=F64),
        torch.randn(5, dim, generator=g, dtype=F64),
    )
    assert integrator.has_inverse()
    y_next = integrator.step(field, 0.3, y, 0.2)
    back = integrator.inverse_step(field, 0.3, y_next, 0.2)
    error = max(float((a - b).abs().max()) for a, b in zip(back, y, strict=True))
    assert error <= EXACT, (integrator.name, error)
    moved = max(float((a - b).abs().max()) for a, b in zip(y_next, y, strict=True))
    assert moved > 1e-2  # the step did something


@pytest.mark.parametrize("make", [StormerVerlet, Yoshida4, ImplicitMidpoint, Strang])
def test_symmetric_methods_are_reversible(make: Callable[[], Integrator]) -> None:
    field = Pendulum(dim=2) if make is not Strang else separable_split(Pendulum(dim=2))
    y = (torch.tensor([[0.4, -1.0]], dtype=F64), torch.tensor([[0.3, 0.8]], dtype=F64))
    integrator = make()
    back = integrator.step(field, 0.1, integrator.step(field, 0.0, y, 0.1), -0.1)
    assert max(float((a - b).abs().max()) for a, b in zip(back, y, strict=True)) <= EXACT


def test_non_symmetric_methods_are_not_reversible() -> None:
    # negative control for the reversibility test above
    field = Pendulum(dim=2)
    y = (torch.tensor([[0.4, -1.0]], dtype=F64), torch.tensor([[0.3, 0.8]], dtype=F64))
    for integrator in (SymplecticEuler(), Euler(), RungeKutta("rk4")):
        back = integrator.step(field, 0.1, integrator.step(field, 0.0, y, 0.1), -0.1)
        assert max(float((a - b).abs().max()) for a, b in zip(back, y, strict=True)) > 1e-8


class _Plain(VectorField):
    def forward(self, t: float | torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -y


def test_methods_without_exact_inverse_say_so() -> None:
    assert not Euler().has_inverse()
    assert not RungeKutta("rk4").has_inverse()
    # A splitting attempts the inverse; a part without an exact flow (and a sub-integrator
    # without an inverse) is named in the error.
    plain = SplitField([_Plain(), _Plain()])
    with pytest.raises(IncompatibleSchemeError, match="no exact inverse"):
        LieTrotter(Euler()).inverse_step(plain, 0.0, torch.ones(1, 2, dtype=F64), 0.1)
    field, y = Pendulum(), (torch.ones(1, 1, dtype=F64), torch.zeros(1, 1, dtype=F64))
    with pytest.raises(IncompatibleSchemeError, match="no exact inverse"):
        RungeKutta("rk4").inverse_step(field, 0.0, y, 0.1)


@pytest.mark.parametrize("make", [LieEuler, lambda: RKMK(2), lambda: RKMK(4)])
def test_lie_methods_stay_on_the_sphere(make: Callable[[], Integrator]) -> None:
    field = FreeRigidBody((1.0, 2.0, 3.0))
    g = torch.Generator().manual_seed(2)
    y = torch.randn(8, 3, generator=g, dtype=F64)
    y = y / y.norm(dim=-1, keepdim=True)
    integrator, worst = make(), 0.0
    for k in range(1000):
        y = integrator.step(field, 0.05 * k, y, 0.05)
        worst = max(worst, float((y.norm(dim=-1) - 1.0).abs().max()))
    assert worst <= tolerance(F64).manifold, worst


def test_ambient_methods_leave_the_sphere() -> None:
    # negative control: Euler and RK4 in R³ drift off the sphere on the same problem
    field = FreeRigidBody((1.0, 2.0, 3.0))
    for integrator, bar in ((Euler(), 1e-2), (RungeKutta("rk4"), 1e-11)):
        y = field.initial_state(1)
        for k in range(1000):
            y = integrator.step(field, 0.05 * k, y, 0.05)
        assert float((y.norm(dim=-1) - 1.0).abs().max()) > bar


def test_lie_methods_are_exact_for_constant_rotation() -> None:
    field = SphereRotation([0.3, -0.5, 1.2])
    y0 = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.6, 0.8]], dtype=F64)
    for integrator in (LieEuler(), RKMK(2), RKMK(4)):
        y = y0
        for k in range(50):
            y = integrator.step(field, 0.1 * k, y, 0.1)
        assert float((y - field.exact_solution(5.0, y0)).abs().max()) <= 1e-13


def test_rodrigues_matches_matrix_exp_and_is_smooth_at_zero() -> None:
    from structdl.dynamics.integrators import hat, so3_exp

    g = torch.Generator().manual_seed(4)
    for scale in (1e-8, 1e-4, 1e-2, 1.0, 3.0):
        w = scale * torch.randn(6, 3, generator=g, dtype=F64)
        assert torch.allclose(so3_exp(w), torch.linalg.matrix_exp(hat(w)), atol=1e-14, rtol=0)
    zero = torch.zeros(1, 3, dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(so3_exp(zero).sum(), zero)
    assert torch.isfinite(grad).all()


def test_implicit_step_is_differentiable_with_respect_to_parameters() -> None:
    # gradients reach a field parameter through the fixed-point solve, and agree with a
    # central finite difference of the loss
    class Scaled(VectorField):
        def __init__(self) -> None:
            super().__init__()
            self.k = torch.nn.Parameter(torch.tensor(1.3, dtype=F64))

        def forward(self, t: float | Tensor, y: State) -> State:
            return -self.k * torch.sin(y)

    field = Scaled()
    y0 = torch.tensor([[0.5, -1.0]], dtype=F64)

    def loss() -> Tensor:
        return ImplicitMidpoint().step(field, 0.0, y0, 0.4).pow(2).sum()

    loss().backward()
    analytic = float(field.k.grad)
    with torch.no_grad():
        field.k += 1e-6
        up = float(loss())
        field.k -= 2e-6
        down = float(loss())
    assert abs(analytic - (up - down) / 2e-6) <= 1e-7


def test_separable_only_pair_is_symplectic_exactly_where_the_theory_says() -> None:
    # b ≠ b̂ with b_i â_ij + b̂_j a_ji = b_i b̂_j: symplectic on separable H, not on general H
    first = ButcherTableau([[0.0, 0.0], [1.0, 0.0]], [1.0, 0.0], [0.0, 1.0])
    second = ButcherTableau([[0.0, 0.0], [0.0, 0.0]], [0.0, 1.0], [0.0, 0.0])
    integrator = PartitionedRungeKutta(PartitionedTableau(first, second, name="drift_kick"))
    from structdl.structure import guarantees
    from structdl.structure.properties import Symplectic

    assert Symplectic() in guarantees(Pendulum(), integrator, 0.5)
    assert Symplectic() not in guarantees(NonSeparable(), integrator, 0.5)
    on_separable = check_symplectic(step_map(integrator, Pendulum(), 0.5), sample_points(1))
    assert on_separable.ok, on_separable.reason
    on_general = check_symplectic(step_map(integrator, NonSeparable(), 0.5), sample_points(1))
    assert not on_general.ok and on_general.worst > 1e-6


def test_lobatto_pair_reproduces_velocity_verlet() -> None:
    field = Pendulum(dim=3)
    y = field.initial_state(2)
    a = PartitionedRungeKutta().step(field, 0.0, y, 0.1)
    b = StormerVerlet().step(field, 0.0, y, 0.1)
    assert max(float((x - z).abs().max()) for x, z in zip(a, b, strict=True)) <= 1e-15


@pytest.mark.parametrize(
    "make", [SymplecticEuler, StormerVerlet, ImplicitMidpoint], ids=["sympeuler", "verlet", "mid"]
)
def test_symplectic_methods_on_a_neural_separable_hamiltonian(
    make: Callable[[], Integrator],
) -> None:
    # The bar: on a *neural* H = 1ᵀγ(Ap+a) + 1ᵀγ(Bq+b), not only on textbook systems.
    torch.manual_seed(7)
    field = SeparableHamiltonian(3, width=16, activation="tanh").to(F64)
    result = check_symplectic(step_map(make(), field, 0.3), sample_points(3, n=8), atol=EXACT)
    assert result.ok, result.reason


@pytest.mark.parametrize("make", [Euler, RungeKutta], ids=["euler", "rk4"])
def test_euler_and_rk4_fail_on_a_neural_separable_hamiltonian(
    make: Callable[[], Integrator],
) -> None:
    torch.manual_seed(7)
    field = SeparableHamiltonian(3, width=16, activation="tanh").to(F64)
    result = check_symplectic(step_map(make(), field, 0.3), sample_points(3, n=8), atol=EXACT)
    assert not result.ok
