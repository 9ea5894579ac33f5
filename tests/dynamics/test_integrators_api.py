"""Integrator API: compatibility errors naming both sides, the registry, step-size and option
validation, declared attributes, dtypes."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from structdl._errors import (
    ConfigError,
    ConvergenceError,
    IncompatibleSchemeError,
    NonFiniteError,
    ShapeError,
    StepSizeError,
)
from structdl.dynamics._base import FIELD_KINDS, Integrator, VectorField
from structdl.dynamics.integrators import (
    AVF,
    INTEGRATORS,
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
    compatible_integrators,
    separable_split,
)
from structdl.dynamics.physics import (
    FreeRigidBody,
    GradientSystem,
    HarmonicOscillator,
    Kepler,
    LinearSystem,
    Pendulum,
    SphereRotation,
)
from structdl.structure.declarations import Claim

F64 = torch.float64


def _pair(dim: int = 1, dtype: torch.dtype = F64) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((2, dim), 0.5, dtype=dtype), torch.full((2, dim), -0.2, dtype=dtype)


class PlainField(VectorField):
    """A general field with no extra structure."""

    def forward(self, t: float | torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -y


@pytest.mark.parametrize("name", sorted(INTEGRATORS))
def test_every_registered_integrator_declares_its_structure(name: str) -> None:
    integrator = INTEGRATORS[name]()
    assert isinstance(integrator, Integrator)
    assert isinstance(integrator.order, int) and integrator.order >= 1
    assert integrator.accepts and all(
        frozenset(kinds) <= FIELD_KINDS for kinds in integrator.accepts
    )
    assert integrator.claims and all(isinstance(c, Claim) for c in integrator.claims)


@pytest.mark.parametrize(
    ("integrator", "field", "suggested"),
    [
        (
            SymplecticEuler(),
            GradientSystem(lambda y: (y**2).sum(-1), [[0.0, 1.0], [-1.0, 0.0]]),
            "AVF",
        ),
        (StormerVerlet(), PlainField(), "RungeKutta"),
        (LieEuler(), Pendulum(), "StormerVerlet"),
        (RKMK(4), HarmonicOscillator(), "Yoshida4"),
        (AVF(), SphereRotation([0.0, 0.0, 1.0]), "LieEuler"),
        (ItohAbe(), PlainField(), "Euler"),
        (Strang(), Pendulum(), "ImplicitMidpoint"),
        (Yoshida4(), FreeRigidBody(), "RKMK"),
    ],
)
def test_incompatible_pairs_raise_naming_both_and_suggesting(
    integrator: Integrator, field: VectorField, suggested: str
) -> None:
    y = (
        _pair()
        if "partitioned" in field.kinds
        else torch.tensor([[1.0, 0.0, 0.0]], dtype=F64)[:, : (2 if "energy" in field.kinds else 3)]
    )
    with pytest.raises(IncompatibleSchemeError) as info:
        integrator.step(field, 0.0, y, 0.1)
    message = str(info.value)
    assert type(integrator).__name__ in message
    assert type(field).__name__ in message
    assert "compatible_integrators(field)" in message
    assert suggested in compatible_integrators(field)


def test_compatible_integrators_by_field() -> None:
    assert compatible_integrators(Pendulum()) == [
        "Euler",
        "RungeKutta",
        "PartitionedRungeKutta",
        "SymplecticEuler",
        "StormerVerlet",
        "Yoshida4",
        "ImplicitMidpoint",
        "AVF",
        "ItohAbe",
    ]
    energy = LinearSystem([[0.0, 1.0], [-1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]])
    assert compatible_integrators(energy) == [
        "Euler",
        "RungeKutta",
        "ImplicitMidpoint",
        "AVF",
        "ItohAbe",
    ]
    assert compatible_integrators(FreeRigidBody()) == [
        "Euler",
        "RungeKutta",
        "ImplicitMidpoint",
        "LieEuler",
        "RKMK",
    ]
    split = separable_split(Pendulum())
    assert {"LieTrotter", "Strang"} <= set(compatible_integrators(split))
    assert "StormerVerlet" not in compatible_integrators(split)


def test_is_compatible_agrees_with_check_compatible() -> None:
    fields = [Pendulum(), PlainField(), FreeRigidBody(), separable_split(Pendulum())]
    for cls in INTEGRATORS.values():
        integrator = cls()
        for field in fields:
            try:
                integrator.check_compatible(field)
                raised = False
            except IncompatibleSchemeError:
                raised = True
            assert raised != integrator.accepts_field(field), (integrator.name, field.name)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 0.0, 0])
@pytest.mark.parametrize("make", [Euler, StormerVerlet, ImplicitMidpoint, AVF, LieEuler])
def test_bad_step_sizes_raise(make: type[Integrator], bad: float) -> None:
    integrator = make()
    if isinstance(integrator, LieEuler):
        field, y = SphereRotation([0.0, 0.0, 1.0]), torch.tensor([[1.0, 0.0, 0.0]], dtype=F64)
    else:
        field, y = Pendulum(), _pair()
    with pytest.raises(StepSizeError, match="the step size h is"):
        integrator.step(field, 0.0, y, bad)
    with pytest.raises(StepSizeError):
        integrator.step(field, 0.0, y, torch.tensor(bad, dtype=F64))


def test_negative_steps_integrate_backwards() -> None:
    ho, y0 = HarmonicOscillator(), _pair()
    back = RungeKutta("rk4").step(ho, 0.0, y0, -0.1)
    exact = ho.exact_solution(-0.1, *y0)
    assert max(float((a - b).abs().max()) for a, b in zip(back, exact, strict=True)) < 1e-7


def test_step_size_of_wrong_type_and_bad_states() -> None:
    with pytest.raises(StepSizeError, match="not a number"):
        Euler().step(PlainField(), 0.0, torch.ones(1, 2), "0.1")  # type: ignore[arg-type]
    with pytest.raises(StepSizeError, match="not one number"):
        Euler().step(PlainField(), 0.0, torch.ones(1, 2), torch.tensor([0.1, 0.2]))
    with pytest.raises(NonFiniteError, match="NaN or infinite"):
        Euler().step(PlainField(), 0.0, torch.tensor([[1.0, float("nan")]]), 0.1)
    with pytest.raises(ShapeError, match="non-floating dtype"):
        Euler().step(PlainField(), 0.0, torch.ones(1, 2, dtype=torch.int64), 0.1)
    with pytest.raises(ShapeError, match="meta device"):
        Euler().step(PlainField(), 0.0, torch.ones(1, 2, device="meta"), 0.1)
    with pytest.raises(ShapeError, match="partitioned state"):
        Pendulum()(0.0, torch.ones(1, 1))


def test_implicit_solve_that_cannot_converge_raises_convergence_error() -> None:
    stiff = LinearSystem([[-1.0, 0.0], [0.0, -1.0]], [[100.0, 0.0], [0.0, 100.0]])
    y = torch.tensor([[1.0, -1.0]], dtype=F64)
    for integrator in (ImplicitMidpoint(max_iter=30), RungeKutta("gauss4", max_iter=30), AVF()):
        with pytest.raises(
            ConvergenceError, match="did not converge.*reduce the step size"
        ) as info:
            integrator.step(stiff, 0.0, y, 0.5)
        assert info.value.residual is not None and info.value.residual > 0
    # a small enough step converges
    assert torch.isfinite(ImplicitMidpoint().step(stiff, 0.0, y, 0.005)).all()


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: SymplecticEuler("leapfrog"), "unknown SymplecticEuler variant"),
        (lambda: StormerVerlet("kick-kick"), "unknown StormerVerlet variant"),
        (lambda: RKMK(3), "expected 2 or 4"),
        (lambda: RungeKutta("rk45"), "unknown Butcher tableau"),
        (lambda: RungeKutta(42), "ButcherTableau or a tableau name"),
        (lambda: PartitionedRungeKutta("lobatto"), "PartitionedTableau"),
        (lambda: RungeKutta("gauss4", max_iter=0), "max_iter"),
        (lambda: ImplicitMidpoint(tol=2.0), "tol"),
        (lambda: AVF(nodes=0), "nodes"),
        (lambda: AVF(nodes=10**6), r"10\d*×10\d* eigenproblem \(7.28 TiB"),
        (lambda: LieTrotter(sub_integrator="rk4"), "sub_integrator"),
        (lambda: SplitField([Pendulum()]), "at least two"),
    ],
)
def test_bad_options_raise_config_error(build, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build()


def test_splitting_without_exact_flow_needs_a_sub_integrator() -> None:
    field = SplitField([PlainField(), PlainField()])
    with pytest.raises(IncompatibleSchemeError, match="no exact_flow"):
        Strang().step(field, 0.0, torch.ones(1, 2, dtype=F64), 0.1)
    out = Strang(RungeKutta("rk4")).step(field, 0.0, torch.ones(1, 2, dtype=F64), 0.1)
    assert torch.allclose(out, torch.full((1, 2), math.exp(-0.2), dtype=F64), atol=1e-8)


def test_strang_of_kick_drift_split_is_stormer_verlet() -> None:
    field = Kepler(0.3)
    y = field.initial_state(1)
    a = Strang().step(separable_split(field), 0.0, y, 0.05)
    b = StormerVerlet().step(field, 0.0, y, 0.05)
    assert all(torch.equal(x, z) for x, z in zip(a, b, strict=True))


def test_runge_kutta_structure_is_derived_from_the_tableau() -> None:
    from structdl.dynamics import SeparableHamiltonian
    from structdl.structure import guarantees

    assert PartitionedRungeKutta().has_inverse()  # the Lobatto IIIA–IIIB pair is symmetric
    field = SeparableHamiltonian(2)
    names = {
        n: {str(p) for p in guarantees(field, RungeKutta(n), 0.1)}
        for n in ("rk4", "gauss2", "gauss4")
    }
    assert names == {
        "rk4": set(),
        "gauss2": {"Reversible", "Symplectic", "VolumePreserving", "Invertible"},
        "gauss4": {"Reversible", "Symplectic", "VolumePreserving", "Invertible"},
    }
    assert RungeKutta("gauss4").order == 4 and RungeKutta("ssp_rk3").order == 3
    assert RungeKutta("gauss4").name == "RungeKutta(gauss4)"


@pytest.mark.parametrize(
    "make", [Euler, SymplecticEuler, StormerVerlet, Yoshida4, ImplicitMidpoint, AVF, ItohAbe]
)
def test_float32_states_stay_float32(make: type[Integrator]) -> None:
    q, p = make().step(Pendulum(), 0.0, _pair(dtype=torch.float32), 0.1)
    assert q.dtype == p.dtype == torch.float32
    assert torch.isfinite(q).all() and torch.isfinite(p).all()


def test_integrate_over_a_grid_returns_every_state() -> None:
    ho = HarmonicOscillator()
    states = StormerVerlet().integrate(ho, ho.initial_state(), torch.linspace(0, 1, 11))
    assert len(states) == 11
    with pytest.raises(StepSizeError):
        StormerVerlet().integrate(ho, ho.initial_state(), [0.0, 0.5, 0.5, 1.0])


@settings(max_examples=15, deadline=None)
@given(
    batch=st.integers(min_value=1, max_value=5),
    dim=st.integers(min_value=1, max_value=4),
    h=st.floats(min_value=-0.3, max_value=0.3).filter(lambda v: abs(v) > 1e-3),
    index=st.integers(min_value=0, max_value=5),
)
def test_rows_of_a_batch_are_stepped_independently(
    batch: int, dim: int, h: float, index: int
) -> None:
    # any batch size, any number of degrees of freedom, forward or backward steps: row i of a
    # batched step equals the step of row i alone (implicit solves agree to solver tolerance)
    integrator = [Euler, RungeKutta, SymplecticEuler, StormerVerlet, ImplicitMidpoint, AVF][index]()
    field = Pendulum(dim=dim)
    g = torch.Generator().manual_seed(batch * 10 + dim)
    y = (
        torch.randn(batch, dim, generator=g, dtype=F64),
        torch.randn(batch, dim, generator=g, dtype=F64),
    )
    whole = integrator.step(field, 0.0, y, h)
    for i in range(batch):
        row = integrator.step(field, 0.0, (y[0][i : i + 1], y[1][i : i + 1]), h)
        for a, b in zip(row, whole, strict=True):
            assert a.shape == (1, dim)
            assert float((a - b[i : i + 1]).abs().max()) <= 1e-12
