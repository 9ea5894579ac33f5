"""Physical test systems: exact energies and gradients, initial conditions, exact solutions."""

from __future__ import annotations

import math

import pytest
import torch

from structdl._errors import ConfigError, ShapeError
from structdl.dynamics.physics import (
    FreeRigidBody,
    GradientSystem,
    HarmonicOscillator,
    HenonHeiles,
    Kepler,
    LinearSystem,
    Pendulum,
    SphereRotation,
)

F64 = torch.float64
HAMILTONIANS = [
    HarmonicOscillator(dim=2, frequency=1.7),
    Pendulum(dim=2),
    Kepler(0.6),
    HenonHeiles(),
]


@pytest.mark.parametrize("field", HAMILTONIANS, ids=lambda f: type(f).__name__)
def test_gradients_match_autograd_of_the_energy(field) -> None:
    g = torch.Generator().manual_seed(0)
    q = torch.randn(5, field.dim, generator=g, dtype=F64) * 0.5 + 0.8  # away from Kepler's pole
    p = torch.randn(5, field.dim, generator=g, dtype=F64, requires_grad=True)
    q.requires_grad_(True)
    gq, gp = torch.autograd.grad(field.energy(q, p).sum(), (q, p))
    assert torch.allclose(field.grad_q(0.0, q), gq, atol=1e-13)
    assert torch.allclose(field.grad_p(0.0, p), gp, atol=1e-13)
    dq, dp = field(0.0, (q, p))
    assert torch.allclose(dq, gp) and torch.allclose(dp, -gq)  # q' = ∂H/∂p, p' = −∂H/∂q
    assert field.kinds == frozenset({"partitioned", "hamiltonian", "separable"})


def test_standard_initial_conditions_and_energies() -> None:
    kepler = Kepler(0.5)
    q, p = kepler.initial_state(3)
    assert q.shape == p.shape == (3, 2) and q.dtype == F64
    assert torch.allclose(q[0], torch.tensor([0.5, 0.0], dtype=F64))
    assert torch.allclose(p[0], torch.tensor([0.0, math.sqrt(3.0)], dtype=F64))
    assert torch.allclose(kepler.energy(q, p), torch.full((3,), -0.5, dtype=F64))  # a = 1
    hh = HenonHeiles()
    assert float(hh.energy(*hh.initial_state())) < 1 / 6  # bounded regime
    q32, _ = Pendulum().initial_state(2, torch.float32)
    assert q32.dtype == torch.float32


def test_harmonic_oscillator_exact_solution_solves_the_ode() -> None:
    ho = HarmonicOscillator(dim=1, frequency=2.0)
    q0, p0 = torch.tensor([[0.3]], dtype=F64), torch.tensor([[-0.4]], dtype=F64)
    t, eps = 0.7, 1e-6
    qa, pa = ho.exact_solution(t + eps, q0, p0)
    qb, pb = ho.exact_solution(t - eps, q0, p0)
    dq, dp = ho(t, ho.exact_solution(t, q0, p0))
    assert torch.allclose((qa - qb) / (2 * eps), dq, atol=1e-8)
    assert torch.allclose((pa - pb) / (2 * eps), dp, atol=1e-8)
    e = [float(ho.energy(*ho.exact_solution(s, q0, p0))) for s in (0.0, 1.0, 5.0)]
    assert max(e) - min(e) < 1e-14


def test_kepler_orbit_closes_after_one_period() -> None:
    from structdl.dynamics.integrators import Yoshida4

    kepler = Kepler(0.5)
    y0 = kepler.initial_state()
    y, n = y0, 2000
    h = kepler.period / n
    for k in range(n):
        y = Yoshida4().step(kepler, k * h, y, h)
    assert float((y[0] - y0[0]).abs().max()) < 1e-6


def test_linear_system_exact_solution_and_energy() -> None:
    s = [[0.0, 1.0], [-1.0, 0.0]]
    field = LinearSystem(s, [[2.0, 0.5], [0.5, 1.0]])
    y0 = torch.tensor([[1.0, 0.0]], dtype=F64)
    y1 = field.exact_solution(0.8, y0)
    assert abs(float(field.energy(y1) - field.energy(y0))) < 1e-14  # skew S: E conserved
    eps = 1e-6
    deriv = (field.exact_solution(0.8 + eps, y0) - field.exact_solution(0.8 - eps, y0)) / (2 * eps)
    assert torch.allclose(deriv, field(0.8, y1), atol=1e-8)


def test_gradient_system_field_is_s_grad_e() -> None:
    s = torch.tensor([[0.0, 2.0], [-2.0, -1.0]], dtype=F64)
    field = GradientSystem(lambda y: (y**4).sum(-1) / 4, s)
    y = torch.tensor([[1.0, -2.0]], dtype=F64)
    assert torch.allclose(field(0.0, y), (y**3) @ s.T)
    assert field.kinds == frozenset({"general", "energy"})


def test_lie_fields_are_tangent_to_the_sphere() -> None:
    g = torch.Generator().manual_seed(1)
    y = torch.randn(6, 3, generator=g, dtype=F64)
    y = y / y.norm(dim=-1, keepdim=True)
    for field in (SphereRotation([0.2, -0.1, 0.9]), FreeRigidBody((1.0, 2.0, 3.0))):
        assert float((field(0.0, y) * y).sum(-1).abs().max()) < 1e-15  # y · y' = 0
    body = FreeRigidBody((1.0, 2.0, 3.0))
    m = body.initial_state(1)
    assert abs(float(m.norm()) - 1.0) < 1e-15
    # energy is a first integral of Euler's equations: dE/dt = ∇E · m' = 0
    assert abs(float(((m / torch.tensor([1.0, 2.0, 3.0], dtype=F64)) * body(0.0, m)).sum())) < 1e-15


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: Kepler(1.0), ConfigError, "eccentricity"),
        (lambda: Kepler(-0.1), ConfigError, "eccentricity"),
        (lambda: Pendulum(gravity=0.0), ConfigError, "gravity"),
        (lambda: HarmonicOscillator(frequency=float("nan")), ConfigError, "frequency"),
        (lambda: HarmonicOscillator(dim=0), ConfigError, "dim"),
        (lambda: Pendulum().initial_state(0), ConfigError, "batch"),
        (lambda: FreeRigidBody((1.0, -2.0, 3.0)), ConfigError, "inertia"),
        (lambda: SphereRotation([1.0, 2.0]), ShapeError, "shape"),
        (
            lambda: LinearSystem([[0.0, 1.0], [-1.0, 0.0]], [[1.0, 2.0], [0.0, 1.0]]),
            ConfigError,
            "symmetric",
        ),
        (lambda: GradientSystem(lambda y: y.sum(-1), [[1.0, 0.0]]), ShapeError, "square"),
        (lambda: HenonHeiles()(0.0, (torch.ones(1, 3), torch.ones(1, 3))), ShapeError, "degrees"),
    ],
)
def test_bad_configuration_raises(build, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build()
