"""Empirical order of every integrator: the fitted slope of log(error) against log(h) must lie
within ±0.2 of the declared order, on problems with a closed-form (or very fine) reference."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import Tensor

from structdl.dynamics._base import Integrator, State, VectorField
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
from structdl.dynamics.physics import FreeRigidBody, HarmonicOscillator, LinearSystem
from structdl.dynamics.tableau import (
    TABLEAUX,
    lobatto_3a_3b,
    lobatto_3a_3b_3stage,
    symplectic_euler_prk,
)
from structdl.structure.result import tolerance

F64 = torch.float64
ORDER_TOL = tolerance(F64).order


def fitted_order(steps: list[int], errors: list[float], horizon: float) -> float:
    """Least-squares slope of log(error) against log(h)."""
    h = np.log([horizon / n for n in steps])
    return float(np.polyfit(h, np.log(errors), 1)[0])


def run(integrator: Integrator, field: VectorField, y0: State, horizon: float, n: int) -> State:
    h, y = horizon / n, y0
    for k in range(n):
        y = integrator.step(field, k * h, y, h)
    return y


def max_error(a: State, b: State) -> float:
    pa = a if isinstance(a, tuple) else (a,)
    pb = b if isinstance(b, tuple) else (b,)
    return max(float((x - z).abs().max()) for x, z in zip(pa, pb, strict=True))


def measure(
    integrator: Integrator,
    field: VectorField,
    y0: State,
    reference: State,
    horizon: float,
    steps: list[int],
) -> tuple[float, list[float]]:
    errors = [max_error(run(integrator, field, y0, horizon, n), reference) for n in steps]
    return fitted_order(steps, errors, horizon), errors


# -- Hamiltonian integrators on the harmonic oscillator (exact solution) ------------------------

HO_CASES: list[tuple[Callable[[], Integrator], list[int]]] = [
    (Euler, [40, 80, 160]),
    (lambda: SymplecticEuler("kick-drift"), [40, 80, 160]),
    (lambda: SymplecticEuler("drift-kick"), [40, 80, 160]),
    (StormerVerlet, [20, 40, 80]),
    (lambda: StormerVerlet("drift-kick-drift"), [20, 40, 80]),
    (Yoshida4, [10, 20, 40]),
    (ImplicitMidpoint, [20, 40, 80]),
    (AVF, [20, 40, 80]),
    (lambda: PartitionedRungeKutta(lobatto_3a_3b), [20, 40, 80]),
    (lambda: PartitionedRungeKutta(lobatto_3a_3b_3stage), [10, 20, 40]),
    (lambda: PartitionedRungeKutta(symplectic_euler_prk), [40, 80, 160]),
    # low-order tableaux need smaller steps to be in the asymptotic regime
    *[
        (lambda t=t: RungeKutta(t), [10, 20, 40] if TABLEAUX[t].order >= 3 else [40, 80, 160])
        for t in TABLEAUX
    ],
]


@pytest.mark.parametrize(("make", "steps"), HO_CASES)
def test_order_on_harmonic_oscillator(make: Callable[[], Integrator], steps: list[int]) -> None:
    integrator = make()
    ho = HarmonicOscillator(dim=2, frequency=1.3)
    q0 = torch.tensor([[1.0, -0.4]], dtype=F64)
    p0 = torch.tensor([[0.2, 0.7]], dtype=F64)
    reference = ho.exact_solution(2.0, q0, p0)
    slope, errors = measure(integrator, ho, (q0, p0), reference, 2.0, steps)
    assert abs(slope - integrator.order) <= ORDER_TOL, (integrator.name, slope, errors)


class TimeDependentLinear(VectorField):
    """``y' = cos(t) · y`` with the exact solution ``y(t) = y₀ e^{sin t}``."""

    def forward(self, t: float | Tensor, y: State) -> State:
        return math.cos(float(t)) * y


@pytest.mark.parametrize("name", sorted(TABLEAUX))
def test_runge_kutta_order_on_non_autonomous_field(name: str) -> None:
    # exercises the nodes c_i: a wrong c would drop the order on a time-dependent field
    integrator = RungeKutta(name)
    y0 = torch.tensor([[1.0, -2.0]], dtype=F64)
    reference = y0 * math.exp(math.sin(2.0))
    slope, errors = measure(integrator, TimeDependentLinear(), y0, reference, 2.0, [20, 40, 80])
    assert abs(slope - integrator.order) <= ORDER_TOL, (name, slope, errors)


# -- discrete gradients on a linear energy system (exact solution by expm) ----------------------


def _linear_system(structure: str) -> LinearSystem:
    g = torch.Generator().manual_seed(3)
    m = torch.randn(4, 4, generator=g, dtype=F64)
    s = m - m.T
    if structure == "dissipative":
        b = torch.randn(4, 4, generator=g, dtype=F64)
        s = s - 0.3 * b @ b.T
    q = torch.randn(4, 4, generator=g, dtype=F64)
    q = q @ q.T / 4 + torch.eye(4, dtype=F64)  # symmetric positive definite, non-diagonal
    return LinearSystem(s / 2, q)


@pytest.mark.parametrize("make", [AVF, ItohAbe, ImplicitMidpoint, lambda: AVF(nodes=1)])
@pytest.mark.parametrize("structure", ["skew", "dissipative"])
def test_order_of_discrete_gradients(make: Callable[[], Integrator], structure: str) -> None:
    integrator = make()
    field = _linear_system(structure)
    y0 = torch.tensor([[1.0, 0.5, -0.3, 0.2]], dtype=F64)
    reference = field.exact_solution(1.0, y0)
    slope, errors = measure(integrator, field, y0, reference, 1.0, [20, 40, 80])
    assert abs(slope - integrator.order) <= ORDER_TOL, (integrator.name, slope, errors)


# -- splitting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "steps"),
    [
        (LieTrotter, [40, 80, 160]),
        (Strang, [20, 40, 80]),
        (lambda: LieTrotter(RungeKutta("rk4")), [40, 80, 160]),
        (lambda: Strang(RungeKutta("rk4")), [20, 40, 80]),
    ],
)
def test_order_of_splitting_on_kick_drift_split(
    make: Callable[[], Integrator], steps: list[int]
) -> None:
    integrator = make()
    ho = HarmonicOscillator(dim=1, frequency=1.0)
    y0 = (torch.tensor([[1.0]], dtype=F64), torch.tensor([[0.5]], dtype=F64))
    reference = ho.exact_solution(2.0, *y0)
    slope, errors = measure(integrator, separable_split(ho), y0, reference, 2.0, steps)
    assert abs(slope - integrator.order) <= ORDER_TOL, (integrator.name, slope, errors)


class _Linear(VectorField):
    """``y' = y Mᵀ`` on tensor states, used as a non-shear part of a split field."""

    def __init__(self, m: Tensor) -> None:
        super().__init__()
        self.m = m

    def forward(self, t: float | Tensor, y: State) -> State:
        return y @ self.m.T


@pytest.mark.parametrize(("make", "order"), [(LieTrotter, 1), (Strang, 2)])
def test_splitting_of_non_commuting_linear_parts(
    make: Callable[..., Integrator], order: int
) -> None:
    # parts without exact flows, advanced by RK4: the splitting error dominates
    a = torch.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=F64)
    b = torch.tensor([[-0.5, 0.0], [0.3, -0.2]], dtype=F64)
    field = SplitField([_Linear(a), _Linear(b)])
    y0 = torch.tensor([[1.0, 0.0]], dtype=F64)
    reference = y0 @ torch.linalg.matrix_exp(1.0 * (a + b)).T
    integrator = make(RungeKutta("rk4"))
    slope, errors = measure(integrator, field, y0, reference, 1.0, [10, 20, 40])
    assert integrator.order == order
    assert abs(slope - order) <= ORDER_TOL, (integrator.name, slope, errors)


# -- Lie-group methods: free rigid body (y-dependent ξ) against a fine RK4 reference -------------


@functools.cache
def _reference(problem: str) -> tuple[VectorField, Tensor, Tensor]:
    """(field, y0, y(T)), y(T) from 2000 RK4 steps (error ~1e-12, far below the fitted errors)."""
    if problem == "rigid_body":
        field: VectorField = FreeRigidBody((1.0, 2.0, 3.0))
        y0 = field.initial_state(2)
        y0[1] = torch.tensor([0.6, 0.0, 0.8], dtype=F64)
    else:
        field = SkewSphereField(torch.tensor([0.3, -1.0, 0.5, 0.8, 0.1], dtype=F64))
        y0 = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0]], dtype=F64)
    return field, y0, run(RungeKutta("rk4"), field, y0, LIE_HORIZON, 2000)


LIE_HORIZON = 1.5


@pytest.mark.parametrize(
    ("make", "steps"),
    [(LieEuler, [40, 80, 160]), (lambda: RKMK(2), [20, 40, 80]), (lambda: RKMK(4), [10, 20, 40])],
)
def test_order_of_lie_group_methods(make: Callable[[], Integrator], steps: list[int]) -> None:
    integrator = make()
    field, y0, reference = _reference("rigid_body")
    slope, errors = measure(integrator, field, y0, reference, LIE_HORIZON, steps)
    assert abs(slope - integrator.order) <= ORDER_TOL, (integrator.name, slope, errors)


class SkewSphereField(VectorField):
    """``y' = ξ(y) y`` on S^{n−1} with the so(n) matrix ``ξ(y) = a yᵀ − y aᵀ`` (y-dependent)."""

    kinds = frozenset({"general", "lie"})

    def __init__(self, a: Tensor) -> None:
        super().__init__()
        self.a = a

    def xi(self, t: float | Tensor, y: Tensor) -> Tensor:
        a = self.a.expand_as(y)
        return a.unsqueeze(-1) * y.unsqueeze(-2) - y.unsqueeze(-1) * a.unsqueeze(-2)

    def act(self, g: Tensor, y: Tensor) -> Tensor:
        return (g @ y.unsqueeze(-1)).squeeze(-1)

    def forward(self, t: float | Tensor, y: State) -> State:
        return (self.xi(t, y) @ y.unsqueeze(-1)).squeeze(-1)


@pytest.mark.parametrize(
    ("make", "steps"),
    [(LieEuler, [40, 80, 160]), (lambda: RKMK(2), [20, 40, 80]), (lambda: RKMK(4), [10, 20, 40])],
)
def test_order_of_lie_group_methods_in_so_n(
    make: Callable[[], Integrator], steps: list[int]
) -> None:
    integrator = make()
    field, y0, reference = _reference("so_n")
    slope, errors = measure(integrator, field, y0, reference, LIE_HORIZON, steps)
    assert abs(slope - integrator.order) <= ORDER_TOL, (integrator.name, slope, errors)
