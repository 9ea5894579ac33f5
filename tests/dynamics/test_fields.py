"""Neural vector fields and activations: derivatives, declared structure, validation."""

from __future__ import annotations

import pytest
import torch
from torch.func import jacrev

from structdl import ConfigError, NonFiniteError, ShapeError
from structdl.dynamics import (
    ACTIVATIONS,
    Antisymmetric,
    Euler,
    GradientFlow,
    HamiltonianRidge,
    HamiltonianShear,
    HamiltonianTwoStream,
    LieAlgebraField,
    LieEuler,
    Residual,
    RidgeShearSum,
    RungeKutta,
    SecondOrder,
    SeparableHamiltonian,
    SingleRidgeShear,
    get_activation,
    leaky_relu,
)
from structdl.structure import tolerance

F64 = torch.float64
EXACT = tolerance(F64).exact
MANIFOLD = tolerance(F64).manifold


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _rand(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=F64)


def _max_diff(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> float:
    return max(float((x - y).detach().abs().max()) for x, y in zip(a, b, strict=True))


# -- activations ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_antiderivative_differentiates_to_activation(name: str) -> None:
    act = ACTIVATIONS[name]
    s = torch.linspace(-25.0, 25.0, 1001, dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(act.antiderivative(s).sum(), s)
    assert torch.allclose(grad, act(s.detach()), atol=1e-13, rtol=0)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_is_monotone_with_declared_slope_bound(name: str) -> None:
    act = ACTIVATIONS[name]
    s = torch.linspace(-8.0, 8.0, 4001, dtype=F64)
    slopes = torch.diff(act(s)) / torch.diff(s)
    assert slopes.min() >= -1e-12
    assert slopes.max() <= act.slope_bound * (1 + 1e-9)
    # the bound is tight (within the sampled range): halving it would be wrong
    assert slopes.max() > 0.5 * act.slope_bound


def test_sigmoid_slope_bound_is_a_quarter() -> None:
    assert ACTIVATIONS["sigmoid"].slope_bound == 0.25


def test_unknown_activation_lists_known_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown activation 'swish'.*relu"):
        get_activation("swish")
    with pytest.raises(ConfigError, match="unknown activation"):
        GradientFlow(2, activation="gelu")


@pytest.mark.parametrize("slope", [-0.1, 1.5, float("nan"), "x"])
def test_leaky_relu_rejects_non_monotone_slopes(slope: object) -> None:
    with pytest.raises(ConfigError, match=r"slope must be a number in \[0, 1\]"):
        leaky_relu(slope)  # type: ignore[arg-type]


# -- gradient flow ------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "softplus", "identity"])
def test_gradient_flow_is_minus_gradient_of_potential(activation: str) -> None:
    field = GradientFlow(3, width=5, activation=activation).double()
    y = _rand(7, 3).requires_grad_(True)
    (grad,) = torch.autograd.grad(field.potential(0.0, y).sum(), y)
    assert torch.allclose(field(0.0, y), -grad, atol=EXACT, rtol=0)
    assert torch.allclose(field.grad_energy(y), grad, atol=EXACT, rtol=0)


def test_gradient_flow_potential_is_convex_along_segments() -> None:
    field = GradientFlow(3, width=6).double()
    a, b = _rand(50, 3), _rand(50, 3)
    mid = field.potential(0.0, 0.5 * (a + b))
    chord = 0.5 * (field.potential(0.0, a) + field.potential(0.0, b))
    assert (mid <= chord + EXACT).all()


def test_gradient_flow_is_cocoercive_with_lipschitz_bound() -> None:
    field = GradientFlow(4, width=6, activation="tanh").double()
    nu = field.lipschitz_bound()
    x, y = 3 * _rand(500, 4), 3 * _rand(500, 4)
    df = field(0.0, x) - field(0.0, y)
    lhs = (df * (x - y)).sum(-1)
    assert (lhs <= -(df * df).sum(-1) / nu + EXACT).all()


def test_spectral_norm_power_iteration_matches_exact_and_persists() -> None:
    field = GradientFlow(5, width=7).double()
    exact = torch.linalg.matrix_norm(field.weight.detach(), 2)
    before = field._power_vector.clone()
    estimate = field.spectral_norm()
    assert abs(float(estimate.detach()) - float(exact)) <= 1e-9 * float(exact)
    assert not torch.equal(before, field._power_vector)  # the buffer carries the iteration
    # gradient of the estimate is the gradient of σ_max (u vᵀ)
    (grad,) = torch.autograd.grad(estimate, field.weight)
    u, s, vh = torch.linalg.svd(field.weight.detach())
    assert torch.allclose(grad.abs(), torch.outer(u[:, 0], vh[0]).abs(), atol=1e-6)
    expected = field.activation.slope_bound * float(exact) ** 2
    assert field.lipschitz_bound() == pytest.approx(expected, rel=1e-12)


def test_spectral_norm_falls_back_to_exact_when_not_converged() -> None:
    field = GradientFlow(4, width=4).double()
    exact = float(torch.linalg.matrix_norm(field.weight.detach(), 2))
    estimate = float(field.spectral_norm(max_iterations=1).detach())
    assert estimate == pytest.approx(exact, rel=1e-14)


def test_gradient_flow_declares_a_dissipative_energy_structure() -> None:
    field = GradientFlow(3).double()
    s = field.structure_matrix
    assert torch.equal(s, -torch.eye(3, dtype=F64))
    assert {"gradient", "energy"} <= field.kinds


# -- antisymmetric ------------------------------------------------------------------------------


def test_antisymmetric_matrix_has_real_parts_minus_gamma() -> None:
    field = Antisymmetric(6, gamma=0.2).double()
    eig = torch.linalg.eigvals(field.matrix().detach())
    assert torch.allclose(eig.real, torch.full((6,), -0.2, dtype=F64), atol=1e-12)
    y = _rand(4, 6)
    expected = torch.tanh(y @ field.matrix().T + field.bias)
    assert torch.allclose(field(0.0, y), expected)


@pytest.mark.parametrize("gamma", [-0.1, float("inf"), float("nan"), True])
def test_antisymmetric_rejects_bad_gamma(gamma: object) -> None:
    with pytest.raises(ConfigError, match="gamma must be"):
        Antisymmetric(3, gamma=gamma)  # type: ignore[arg-type]


# -- Hamiltonian fields -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "factory", [lambda: SeparableHamiltonian(3, width=5), lambda: SecondOrder(3, width=4)]
)
def test_partial_gradients_match_autograd_of_energy(factory) -> None:
    field = factory().double()
    q, p = _rand(6, 3).requires_grad_(True), _rand(6, 3).requires_grad_(True)
    gq, gp = torch.autograd.grad(field.energy(q, p).sum(), (q, p))
    assert torch.allclose(field.grad_q(0.0, q), gq, atol=EXACT, rtol=0)
    assert torch.allclose(field.grad_p(0.0, p), gp, atol=EXACT, rtol=0)
    dq, dp = field(0.0, (q, p))
    assert torch.allclose(dq, gp, atol=EXACT, rtol=0)
    assert torch.allclose(dp, -gq, atol=EXACT, rtol=0)


def test_second_order_kinetic_energy_is_half_square() -> None:
    field = SecondOrder(2).double()
    p = _rand(5, 2)
    assert torch.allclose(field.kinetic_energy(p), 0.5 * (p * p).sum(-1))
    assert torch.equal(field.grad_p(0.0, p), p)


def _flat_jacobian(field, dim: int) -> torch.Tensor:
    z = _rand(2 * dim)

    def flat(v: torch.Tensor) -> torch.Tensor:
        dq, dp = field(0.0, (v[None, :dim], v[None, dim:]))
        return torch.cat((dq[0], dp[0]))

    return jacrev(flat)(z).detach()


def test_hamiltonian_field_has_symmetric_j_inverse_jacobian_and_two_stream_does_not() -> None:
    # f = J∇H  ⟺  J⁻¹Df = Hess H is symmetric (locally). The two-stream variant is the control.
    dim = 3
    j = torch.cat(
        (
            torch.cat((torch.zeros(dim, dim), torch.eye(dim)), 1),
            torch.cat((-torch.eye(dim), torch.zeros(dim, dim)), 1),
        )
    ).double()
    hamiltonian = _flat_jacobian(SeparableHamiltonian(dim, width=4).double(), dim)
    two_stream = _flat_jacobian(HamiltonianTwoStream(dim).double(), dim)
    sym = j.T @ hamiltonian
    assert (sym - sym.T).abs().max() < EXACT
    sym_control = j.T @ two_stream
    assert (sym_control - sym_control.T).abs().max() > 1e-3
    assert "hamiltonian" not in HamiltonianTwoStream.kinds
    # but the two-stream field is divergence-free, as declared
    assert abs(float(two_stream.trace())) < EXACT


def test_energy_is_conserved_by_an_accurate_solve() -> None:
    field = SeparableHamiltonian(2, width=3).double()
    y = (_rand(4, 2), _rand(4, 2))
    e0 = field.energy(*y)
    states = RungeKutta("rk4").integrate(field, y, torch.linspace(0, 1, 201, dtype=F64).tolist())
    assert (field.energy(*states[-1]) - e0).abs().max() < 1e-9


# -- ridge shears -------------------------------------------------------------------------------


def _divergence(field, y: torch.Tensor) -> torch.Tensor:
    return torch.stack([jacrev(lambda v: field(0.0, v[None])[0])(p).trace() for p in y]).detach()


def test_ridge_shear_is_divergence_free_and_residual_is_not() -> None:
    y = _rand(10, 4)
    ridge = RidgeShearSum(4, n_ridges=5).double()
    assert _divergence(ridge, y).abs().max() < EXACT
    assert _divergence(Residual(4).double(), y).abs().max() > 1e-2  # negative control
    for part in ridge.parts:
        assert abs(float((part.direction() @ part.normal).detach())) < EXACT


def test_ridge_exact_flow_is_the_flow_and_inverts_exactly() -> None:
    part = SingleRidgeShear(3).double()
    y = _rand(6, 3)
    exact = part.exact_flow(0.0, y, 0.8)
    fine = RungeKutta("rk4").integrate(part, y, torch.linspace(0.0, 0.8, 81, dtype=F64).tolist())[
        -1
    ]
    assert (exact - fine).abs().max() < 1e-12  # the flow is linear in t: RK4 is exact
    assert (part.inverse_exact_flow(0.0, exact, 0.8) - y).abs().max() <= 1e-12


def test_ridge_split_flow_inverse_round_trip() -> None:
    field = RidgeShearSum(5, n_ridges=6).double()
    y = 3 * _rand(20, 5)
    z = field.split_flow(0.0, y, 1.3)
    assert (field.inverse_split_flow(0.0, z, 1.3) - y).abs().max() <= 1e-12
    assert (z - y).abs().max() > 1e-2  # it does move the points
    assert "shear" not in field.kinds and {"split", "divergence_free"} <= field.kinds


# -- Lie algebra field --------------------------------------------------------------------------


def _sphere(n: int) -> torch.Tensor:
    return torch.nn.functional.normalize(_rand(n, 3), dim=1)


@pytest.mark.parametrize("mode", ["cross", "free"])
def test_lie_field_is_tangent_and_matches_xi(mode: str) -> None:
    field = LieAlgebraField(8, mode=mode).double()
    y = _sphere(12)
    omega = field.xi(0.0, y)
    assert omega.shape == (12, 3)
    assert torch.allclose(field(0.0, y), torch.linalg.cross(omega, y))
    assert ((field(0.0, y) * y).sum(-1)).abs().max() < EXACT
    if mode == "cross":
        assert ((omega * y).sum(-1)).abs().max() < EXACT


def test_lie_euler_keeps_sphere_and_euler_does_not() -> None:
    field = LieAlgebraField(8).double()
    y0 = _sphere(16)
    grid = torch.linspace(0.0, 5.0, 51, dtype=F64).tolist()
    lie = torch.stack(LieEuler().integrate(field, y0, grid))
    plain = torch.stack(Euler().integrate(field, y0, grid))
    assert (lie.norm(dim=-1) - 1).abs().max() < MANIFOLD
    assert (plain.norm(dim=-1) - 1).abs().max() > 1e-4  # negative control


def test_lie_field_act_rejects_non_matrices() -> None:
    with pytest.raises(ShapeError, match=r"rotation matrices of shape"):
        LieAlgebraField.act(torch.eye(2, dtype=F64), _sphere(2))
    with pytest.raises(ConfigError, match="unknown LieAlgebraField mode"):
        LieAlgebraField(4, mode="diagonal")


# -- validation (written once in StructuredField) ---------------------------------------------


@pytest.mark.parametrize(
    ("field", "state", "match"),
    [
        (Residual(3), torch.zeros(4, 2), r"wrong shape — expected \(batch, 3\)"),
        (GradientFlow(3), torch.zeros(4, 3, dtype=torch.int64), "floating dtype"),
        (Antisymmetric(3), torch.full((2, 3), float("nan")), "NaN or infinite"),
        (GradientFlow(3), torch.zeros(2, 3, dtype=F64), "wrong dtype — expected the parameters"),
        (RidgeShearSum(3), (torch.zeros(2, 3), torch.zeros(2, 3)), "expected a single tensor"),
        (SeparableHamiltonian(3), torch.zeros(2, 3), r"expected a pair \(q, p\)"),
        (SecondOrder(3), (torch.zeros(2, 3), torch.zeros(3, 3)), "same shape"),
        (LieAlgebraField(4), torch.zeros(2, 4), r"expected \(batch, 3\)"),
        (Residual(3), torch.tensor(1.0), "wrong shape"),
    ],
)
def test_fields_reject_bad_states(field, state, match: str) -> None:
    with pytest.raises((ShapeError, NonFiniteError), match=match):
        field(0.0, state)


@pytest.mark.parametrize("dim", [0, -2, 2.5, True, "3"])
def test_fields_reject_bad_dimensions(dim: object) -> None:
    with pytest.raises(ConfigError, match="dim must be an integer ≥ 1"):
        GradientFlow(dim)  # type: ignore[arg-type]


def test_potential_validates_its_input() -> None:
    with pytest.raises(ShapeError, match="wrong shape"):
        GradientFlow(3).potential(0.0, torch.zeros(2, 4))


# -- Hamiltonian ridges ------------------------------------------------------------------------


def test_hamiltonian_shear_exact_flow_conserves_energy_and_inverts() -> None:
    shear = HamiltonianShear(3).double()
    y = (_rand(8, 3), _rand(8, 3))
    z = shear.exact_flow(0.0, y, 1.7)
    assert (shear.energy(*z) - shear.energy(*y)).abs().max() < EXACT
    back = shear.inverse_exact_flow(0.0, z, 1.7)
    assert _max_diff(back, y) <= 1e-12
    grid = torch.linspace(0.0, 1.7, 18, dtype=F64).tolist()
    fine = RungeKutta("rk4").integrate(shear, y, grid)[-1]  # s is constant: RK4 is exact
    assert _max_diff(fine, z) < 1e-12


def test_hamiltonian_ridge_is_j_grad_h_and_not_separable() -> None:
    field = HamiltonianRidge(2, n_ridges=3).double()
    q, p = _rand(5, 2).requires_grad_(True), _rand(5, 2).requires_grad_(True)
    gq, gp = torch.autograd.grad(field.energy(q, p).sum(), (q, p))
    dq, dp = field(0.0, (q, p))
    assert torch.allclose(dq, gp, atol=EXACT) and torch.allclose(dp, -gq, atol=EXACT)
    assert "separable" not in field.kinds and len(field.parts) == 3


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_power_iteration_is_accurate_with_a_small_spectral_gap(dtype):
    # Top singular values 2.0 and 1.99: a stopping test in float32 arithmetic once stopped ~5e-5
    # low, more than the margin the "clip" step rule leaves below 2/(L‖A‖²).
    generator = torch.Generator().manual_seed(3)
    field = GradientFlow(32, width=32).to(dtype)
    left, _ = torch.linalg.qr(torch.randn(32, 32, generator=generator, dtype=torch.float64))
    right, _ = torch.linalg.qr(torch.randn(32, 32, generator=generator, dtype=torch.float64))
    singular = torch.linspace(0.1, 1.9, 32, dtype=torch.float64)
    singular[-1], singular[-2] = 2.0, 1.99
    with torch.no_grad():
        field.weight.copy_((left @ torch.diag(singular) @ right.T).to(dtype))
    estimate = float(field.spectral_norm().detach())
    exact = float(field.spectral_norm(exact=True).detach())
    assert abs(estimate - exact) <= 4 * torch.finfo(dtype).eps * exact
