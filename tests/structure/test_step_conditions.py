"""The conditions that read a step's context ``{"field", "h"}``, on plain objects (no dynamics)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from structdl import ConfigError
from structdl.structure import (
    ALWAYS,
    AllOf,
    AnyOf,
    CircleContractiveStep,
    Claim,
    EveryPartFlow,
    FieldAtMost,
    FromContext,
    HasKinds,
    Invertible,
    NonExpansive,
    OfAttribute,
    OfField,
    OnManifold,
    StepPositive,
    Symplectic,
    derive,
    explain,
)


@dataclass
class Field:
    kinds: frozenset = frozenset()
    nu: float = 4.0
    degree: int | None = None
    manifold: str = "sphere"
    parts: tuple = ()

    def lipschitz_bound(self) -> float:
        return self.nu


@dataclass
class Method:
    claims: tuple
    contractivity_radius: float = 1.0
    exact_degree: int = 3
    accepts: tuple = (frozenset(),)
    sub_integrator: object = None
    hamiltonian: object = field(default_factory=Field)


def test_kinds_field_and_any_of() -> None:
    on_hamiltonian = OfField(HasKinds(frozenset({"hamiltonian"})))
    method = Method(
        (
            Claim(Symplectic(), on_hamiltonian),
            Claim(Invertible(), AnyOf((on_hamiltonian, StepPositive()))),
        )
    )
    assert derive(method, {"field": Field(frozenset({"hamiltonian"})), "h": -0.1}) == {
        Symplectic(),
        Invertible(),
    }
    assert derive(method, {"field": Field(), "h": -0.1}) == frozenset()
    assert derive(method, {"field": Field(), "h": 0.1}) == {Invertible()}
    kick = Method(
        (Claim(Symplectic(), OfAttribute("hamiltonian", HasKinds(frozenset({"hamiltonian"})))),)
    )
    assert derive(kick) == frozenset()
    kick.hamiltonian = Field(frozenset({"hamiltonian"}))
    assert derive(kick) == {Symplectic()}


def test_circle_contractive_step() -> None:
    method = Method((Claim(NonExpansive(1.0), CircleContractiveStep()),))
    assert NonExpansive(1.0) in derive(method, {"field": Field(nu=4.0), "h": 0.5})  # h = 2r/ν
    assert derive(method, {"field": Field(nu=4.0), "h": 0.5001}) == frozenset()
    assert derive(method, {"field": Field(nu=4.0), "h": -0.1}) == frozenset()
    assert derive(method, {"field": Field(nu=float("inf")), "h": 0.1}) == frozenset()
    method.contractivity_radius = 0.0  # classical RK4
    assert derive(method, {"field": Field(nu=4.0), "h": 1e-6}) == frozenset()


def test_field_at_most_and_from_context() -> None:
    method = Method(
        (Claim(OnManifold(FromContext("field.manifold")), FieldAtMost("degree", "exact_degree")),)
    )
    assert derive(method, {"field": Field(degree=3), "h": 1.0}) == {OnManifold("sphere")}
    assert derive(method, {"field": Field(degree=4), "h": 1.0}) == frozenset()
    assert derive(method, {"field": Field(degree=None), "h": 1.0}) == frozenset()


def test_every_part_flow_uses_exact_flow_claims_or_the_sub_integrator() -> None:
    exact = Method((Claim(Invertible(), ALWAYS),))  # a part declaring its exact flow's claims
    plain = Field(frozenset({"general"}))
    splitting = Method((Claim(Invertible(), EveryPartFlow(Invertible())),))
    assert derive(splitting, {"field": Field(parts=(exact, exact)), "h": 0.1}) == {Invertible()}
    assert derive(splitting, {"field": Field(parts=(exact, plain)), "h": 0.1}) == frozenset()
    splitting.sub_integrator = Method((Claim(Invertible(), StepPositive()),))
    assert derive(splitting, {"field": Field(parts=(exact, plain)), "h": 0.1}) == {Invertible()}
    assert derive(splitting, {"field": Field(parts=(exact, plain)), "h": -0.1}) == frozenset()
    assert derive(splitting, {"field": Field(parts=()), "h": 0.1}) == frozenset()


def test_missing_context_is_a_config_error_and_explain_names_conditions() -> None:
    method = Method((Claim(NonExpansive(1.0), AllOf((StepPositive(), CircleContractiveStep()))),))
    with pytest.raises(ConfigError, match="step size"):
        derive(method, {"field": Field()})
    with pytest.raises(ConfigError, match="vector field"):
        derive(method, {"h": 0.1})
    (line,) = explain(method, {"field": Field(), "h": 0.1})
    assert line.holds and "h > 0" in str(line)
