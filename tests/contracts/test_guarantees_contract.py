"""The guarantees contract: every property ``guarantees()`` claims is confirmed by its check.

For every registered field kind × integrator × step size (from well inside to 50× the field's
stability limit) × dtype (float64, float32), each property that
:func:`structdl.structure.guarantees` returns is checked on random inputs by the executable
check of that property. A step that refuses to run (a non-converged implicit solve, a
non-finite result) is not a false claim: the step says so with a typed error, and the
combination is counted as refused. For every property, the combinations where it is *not*
claimed must include one where the check fails (the negative control): a check that accepts
everything would make the contract meaningless.

Fields and integrators are enumerated from the package's exports and the integrator registry,
so a new one is covered the day it is registered; one without a factory here fails
:func:`test_every_field_and_integrator_has_a_factory`.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

import structdl.dynamics as dynamics
import structdl.dynamics.integrators as integrators
import structdl.dynamics.physics as physics
from structdl import ConvergenceError, NonFiniteError
from structdl.dynamics import Integrator, VectorField
from structdl.dynamics.integrators import INTEGRATORS
from structdl.dynamics.tableau import TABLEAUX, symplectic_euler_prk
from structdl.structure import (
    Dissipative,
    EnergyConserving,
    Invertible,
    NonExpansive,
    OnManifold,
    Property,
    Reversible,
    Symplectic,
    VolumePreserving,
    check_energy,
    check_inverse,
    check_lipschitz,
    check_on_manifold,
    check_reversible,
    check_symplectic,
    check_volume_preserving,
    guarantees,
    tolerance,
)
from structdl.structure.result import CheckResult

# -- fields: a factory and a stability limit (the step at which h·Lip(f) ≈ 1) --------------------

_SKEW = [[0.0, 1.0, 0.0], [-1.0, 0.0, 0.5], [0.0, -0.5, 0.0]]
_DISSIPATIVE = [[-1.0, 1.0, 0.0], [-1.0, -0.5, 0.0], [0.0, 0.0, -0.2]]


def _quartic(y: torch.Tensor) -> torch.Tensor:
    return 0.25 * (y**4).sum(-1) + 0.5 * (y**2).sum(-1)


FIELDS: dict[str, tuple[Callable[[], VectorField], float]] = {
    "Residual": (lambda: dynamics.Residual(3, width=5), 1.0),
    "GradientFlow": (lambda: dynamics.GradientFlow(3, width=4, activation="tanh"), 1.0),
    "Antisymmetric": (lambda: dynamics.Antisymmetric(3, gamma=0.1), 1.0),
    "SeparableHamiltonian": (lambda: dynamics.SeparableHamiltonian(2, width=4), 1.0),
    "SecondOrder": (lambda: dynamics.SecondOrder(2, width=4), 1.0),
    "HamiltonianTwoStream": (lambda: dynamics.HamiltonianTwoStream(2), 1.0),
    "HamiltonianShear": (lambda: dynamics.HamiltonianShear(2), 1.0),
    "HamiltonianRidge": (lambda: dynamics.HamiltonianRidge(2, n_ridges=3), 1.0),
    "SingleRidgeShear": (lambda: dynamics.SingleRidgeShear(3), 1.0),
    "RidgeShearSum": (lambda: dynamics.RidgeShearSum(3, n_ridges=3), 1.0),
    "LieAlgebraField": (lambda: dynamics.LieAlgebraField(6), 1.0),
    "SplitField": (lambda: dynamics.separable_split(dynamics.Pendulum(2)), 1.0),
    "Kick": (lambda: integrators.Kick(dynamics.Pendulum(2)), 1.0),
    "Drift": (lambda: integrators.Drift(dynamics.Pendulum(2)), 1.0),
    "HarmonicOscillator": (lambda: dynamics.HarmonicOscillator(2), 1.0),
    "Pendulum": (lambda: dynamics.Pendulum(2), 1.0),
    "Kepler": (lambda: dynamics.Kepler(0.5), 0.1),
    "HenonHeiles": (lambda: dynamics.HenonHeiles(), 1.0),
    "GradientSystem": (
        lambda: physics.GradientSystem(_quartic, _SKEW, gradient_degree=3),
        0.3,
    ),
    "LinearSystem": (lambda: physics.LinearSystem(_DISSIPATIVE, torch.eye(3).tolist()), 1.0),
    "SphereRotation": (lambda: physics.SphereRotation([0.3, -0.5, 0.8]), 1.0),
    "FreeRigidBody": (lambda: physics.FreeRigidBody((1.0, 2.0, 3.0)), 1.0),
}

# -- integrators: every registered class, plus the variants whose data differ ---------------------

INTEGRATOR_VARIANTS: dict[str, Callable[[], Integrator]] = {
    **{f"RungeKutta({name})": (lambda n=name: dynamics.RungeKutta(n)) for name in TABLEAUX},
    "PartitionedRungeKutta(symplectic_euler)": lambda: integrators.PartitionedRungeKutta(
        symplectic_euler_prk
    ),
    "SymplecticEuler(drift-kick)": lambda: dynamics.SymplecticEuler("drift-kick"),
    "AVF(nodes=1)": lambda: dynamics.AVF(nodes=1),
    "RKMK(2)": lambda: dynamics.RKMK(2),
    "Strang(rk4)": lambda: dynamics.Strang(dynamics.RungeKutta("rk4")),
    "Strang(ImplicitMidpoint)": lambda: dynamics.Strang(dynamics.ImplicitMidpoint()),
    "LieTrotter(Euler)": lambda: dynamics.LieTrotter(dynamics.Euler()),
}

#: Multiples of the stability limit: well inside, at it, beyond it, and 50× beyond it.
STEP_FACTORS = (0.05, 0.5, 1.0, 5.0, 50.0)
DTYPES = (torch.float64, torch.float32)
PROPERTIES = (
    Symplectic(),
    VolumePreserving(),
    NonExpansive(1.0),
    Invertible(),
    Reversible(),
    EnergyConserving(),
    Dissipative(),
)


def _exported(cls: type, *modules: Any) -> set[str]:
    names = set()
    for module in modules:
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isclass(obj) and issubclass(obj, cls) and not inspect.isabstract(obj):
                names.add(name)
    return names - {"StructuredField", "VectorField", "Integrator"}


def all_integrators() -> dict[str, Callable[[], Integrator]]:
    return {**{name: cls for name, cls in INTEGRATORS.items()}, **INTEGRATOR_VARIANTS}


def test_every_field_and_integrator_has_a_factory() -> None:
    fields = _exported(VectorField, dynamics, physics, integrators)
    missing = sorted(fields - set(FIELDS))
    assert not missing, f"vector fields without a factory in the guarantees contract: {missing}"
    classes = _exported(Integrator, dynamics, integrators)
    unregistered = sorted(classes - set(INTEGRATORS))
    assert not unregistered, f"integrators missing from the INTEGRATORS registry: {unregistered}"


# -- running one check ---------------------------------------------------------------------------


def _sample(field: VectorField, dtype: torch.dtype, seed: int) -> Any:
    gen = torch.Generator().manual_seed(seed)
    if "partitioned" in field.kinds:
        dim = getattr(field, "dim", 2)
        q = torch.randn(4, dim, generator=gen, dtype=dtype)
        p = torch.randn(4, dim, generator=gen, dtype=dtype)
        if isinstance(field, physics.Kepler):
            q = q + 2.0 * torch.sign(q)  # away from the singularity at q = 0
        return q, p
    dim = getattr(field, "dim", 3)
    y = torch.randn(4, dim, generator=gen, dtype=dtype)
    if "lie" in field.kinds:
        y = torch.nn.functional.normalize(y, dim=1)
    return y


def _flat(y: Any) -> torch.Tensor:
    return torch.cat(y, dim=1) if isinstance(y, tuple) else y


def _unflat(z: torch.Tensor, like: Any) -> Any:
    if isinstance(like, tuple):
        d = like[0].shape[1]
        return z[:, :d], z[:, d:]
    return z


def _energy(field: VectorField, like: Any) -> Callable[[torch.Tensor], torch.Tensor] | None:
    energy = getattr(field, "energy", None)
    if energy is None:
        return None
    if isinstance(like, tuple):
        d = like[0].shape[1]
        return lambda z: energy(z[:, :d], z[:, d:])
    return energy


def run_check(
    prop: Property, field: VectorField, integrator: Integrator, h: float, y: Any
) -> CheckResult | None:
    """The check of ``prop`` on one step; ``None`` when the check does not apply."""

    def step(z: torch.Tensor) -> torch.Tensor:
        return _flat(integrator.step(field, 0.0, _unflat(z, y), h))

    x = _flat(y)
    # Implicit steps hold their structure to the solve's residual: ten times the "solve" row
    # (a solve stopped at a few ulp of states that grow with the step leaves a residual above it
    # in float32: measured up to 2.3e-4 for Gauss methods on Kepler at h = 5, 1.1e-4 for
    # Itoh–Abe at h = 50).
    row = tolerance(x.dtype)
    atol = 10 * row.solve if integrator.is_implicit else row.exact
    if isinstance(prop, Symplectic):
        return check_symplectic(step, x, atol=atol) if isinstance(y, tuple) else None
    if isinstance(prop, VolumePreserving):
        return check_volume_preserving(step, x, atol=atol)
    if isinstance(prop, NonExpansive):
        return check_lipschitz(step, x, bound=prop.lipschitz, n_pairs=32, ascent_steps=5)
    if isinstance(prop, Invertible):
        if integrator.has_inverse():
            back = lambda z: _flat(integrator.inverse_step(field, 0.0, _unflat(z, y), h))  # noqa: E731
        else:  # the candidate inverse of a method without one: the step with −h
            back = lambda z: _flat(integrator.step(field, h, _unflat(z, y), -h))  # noqa: E731
        return check_inverse(step, back, x, atol=atol)
    if isinstance(prop, Reversible):
        return check_reversible(lambda z, s: integrator.step(field, 0.0, z, s), y, h, atol=atol)
    if isinstance(prop, (EnergyConserving, Dissipative)):
        energy = _energy(field, y)
        if energy is None:
            return None
        states = [x]
        for _ in range(4):
            states.append(step(states[-1]))
        mode = "conserved" if isinstance(prop, EnergyConserving) else "non_increasing"
        return check_energy(energy, states, mode=mode, atol=atol)
    if isinstance(prop, OnManifold):
        states = [x]
        for _ in range(3):
            states.append(step(states[-1]))
        return check_on_manifold(lambda v: (v.norm(dim=1) - 1.0).abs(), torch.cat(states))
    return None


# -- the contract --------------------------------------------------------------------------------


@dataclass
class Tally:
    combinations: int = 0
    refused: int = 0
    confirmed: int = 0
    false_claims: list[str] = field(default_factory=list)
    negatives: dict[str, list[bool]] = field(default_factory=dict)


def _combinations(rng: random.Random) -> list[tuple[str, str, float, torch.dtype]]:
    """Every compatible (field, integrator) pair, once, at a step size and dtype that cycle
    through :data:`STEP_FACTORS` × :data:`DTYPES` (shuffled): every step size and dtype is
    covered across the pairs, and the whole grid over repeated seeds."""
    grid = [(factor, dtype) for factor in STEP_FACTORS for dtype in DTYPES]
    out = []
    makers = all_integrators()
    for field_name, (make_field, limit) in FIELDS.items():
        probe = make_field()
        for integrator_name, make in makers.items():
            if make().accepts_field(probe):
                factor, dtype = rng.choice(grid)
                out.append((field_name, integrator_name, factor * limit, dtype))
    return out


def run_contract(seed: int = 0) -> Tally:
    rng = random.Random(seed)
    tally = Tally()
    makers = all_integrators()
    for k, (field_name, integrator_name, h, dtype) in enumerate(_combinations(rng)):
        torch.manual_seed(k)
        field_obj = FIELDS[field_name][0]().to(dtype)
        integrator = makers[integrator_name]()
        y = _sample(field_obj, dtype, seed=k)
        tally.combinations += 1
        claimed = guarantees(field_obj, integrator, h)
        label = f"{integrator.name} on {field_name}, h={h:g}, {dtype}"
        try:
            integrator.step(field_obj, 0.0, y, h)
        except (ConvergenceError, NonFiniteError):
            tally.refused += 1
            continue
        for prop in PROPERTIES + ((OnManifold("sphere"),) if "lie" in field_obj.kinds else ()):
            is_claimed = any(type(c) is type(prop) for c in claimed)
            if not is_claimed and rng.random() > 0.2:
                continue  # negative controls are sampled: a fifth of the unclaimed ones
            try:
                result = run_check(prop, field_obj, integrator, h, y)
            except (ConvergenceError, NonFiniteError) as err:
                if is_claimed:
                    tally.refused += 1
                    continue
                result = CheckResult(False, float("inf"), f"refused: {err}")
            if result is None:
                continue
            if is_claimed:
                tally.confirmed += 1
                if not result.ok:
                    tally.false_claims.append(f"{prop} claimed for {label}: {result.reason}")
            else:
                tally.negatives.setdefault(str(type(prop).__name__), []).append(result.ok)
    return tally


@pytest.fixture(scope="module")
def tally() -> Tally:
    result = run_contract()
    print(
        f"\nguarantees contract: {result.combinations} combinations "
        f"(field × integrator × h × dtype), {result.confirmed} claims confirmed, "
        f"{result.refused} steps refused with a typed error, negative controls "
        f"{ {k: len(v) for k, v in result.negatives.items()} }"
    )
    return result


def test_every_claimed_property_is_confirmed_by_its_check(tally: Tally) -> None:
    assert tally.combinations > 250
    assert not tally.false_claims, "\n".join(tally.false_claims[:20])


@pytest.mark.parametrize("prop", [type(p).__name__ for p in PROPERTIES] + ["OnManifold"])
def test_every_property_has_a_failing_negative_control(tally: Tally, prop: str) -> None:
    outcomes = tally.negatives.get(prop, [])
    assert outcomes, f"no unclaimed combination was checked for {prop}"
    assert not all(outcomes), f"{prop}: the check passed every combination where it is not claimed"
