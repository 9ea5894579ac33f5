"""Structure declared as data: claims, conditions and the derivation in ``guarantees(obj)``."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError
from structdl.structure import (
    ALWAYS,
    AllOf,
    AttributeAtMost,
    AttributeBelow,
    AttributeEquals,
    BiLipschitz,
    Claim,
    EveryPart,
    Invertible,
    NonExpansive,
    VolumePreserving,
    assert_preserves,
    explain,
    guarantees,
)
from structdl.structure.testing import declared_properties


class _Shear:
    """x ↦ (x₁, x₂ + c·tanh(x₁)): invertible always, volume preserving always."""

    claims = (Claim(Invertible()), Claim(VolumePreserving(), reason="a shear"))

    def __init__(self, c: float) -> None:
        self.c = c

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[:, 0], x[:, 1] + self.c * torch.tanh(x[:, 0])], dim=1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return torch.stack([y[:, 0], y[:, 1] - self.c * torch.tanh(y[:, 0])], dim=1)


class _Contraction:
    """x ↦ c·x: non-expansive when c ≤ 1, bi-Lipschitz (c, 1/c)."""

    def __init__(self, c: float) -> None:
        self.c = c

    @property
    def claims(self) -> tuple[Claim, ...]:
        return (
            Claim(NonExpansive(1.0), when=AttributeAtMost("c", 1.0)),
            Claim(BiLipschitz(self.c, 1.0 / self.c), when=AttributeBelow("c", 10.0)),
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.c * x

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y / self.c


class _Chain:
    claims = (Claim(VolumePreserving(), when=EveryPart("parts", VolumePreserving())),)

    def __init__(self, parts: list) -> None:
        self.parts = parts


def test_conditions_decide_what_is_derived() -> None:
    assert guarantees(_Contraction(0.5)) == {NonExpansive(1.0), BiLipschitz(0.5, 2.0)}
    assert guarantees(_Contraction(2.0)) == {BiLipschitz(2.0, 0.5)}
    assert guarantees(_Contraction(20.0)) == frozenset()


def test_nan_attribute_never_satisfies_a_bound() -> None:
    assert NonExpansive(1.0) not in guarantees(_Contraction(float("nan")))


def test_composition_needs_every_part() -> None:
    assert VolumePreserving() in guarantees(_Chain([_Shear(1.0), _Shear(2.0)]))
    assert VolumePreserving() not in guarantees(_Chain([_Shear(1.0), _Contraction(0.5)]))
    assert VolumePreserving() not in guarantees(_Chain([]))


def test_all_of_and_equals() -> None:
    cond = AllOf((AttributeEquals("c", 1.0), ALWAYS))
    assert cond.holds(_Shear(1.0), {}) and not cond.holds(_Shear(2.0), {})
    assert "c == 1.0" in str(cond)


def test_explain_lists_every_claim() -> None:
    lines = [str(e) for e in explain(_Contraction(2.0))]
    assert any("NonExpansive" in line and "does NOT hold" in line for line in lines)


def test_derived_claims_are_checked_with_a_negative_control() -> None:
    x = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert_preserves(_Shear(1.5), x)
    assert_preserves(_Contraction(0.5), x)

    class _Liar(_Contraction):  # claims non-expansive but doubles distances
        def __call__(self, x: torch.Tensor) -> torch.Tensor:
            return 2.0 * self.c * x

    with pytest.raises(AssertionError, match="NonExpansive"):
        assert_preserves(_Liar(0.9), x)


def test_bad_declarations_raise_typed_errors() -> None:
    with pytest.raises(ConfigError, match="property tag"):
        Claim("Invertible")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Condition"):
        Claim(Invertible(), when=True)  # type: ignore[arg-type]

    class _Bad:
        claims = (Invertible(),)

    with pytest.raises(ConfigError, match="Claim"):
        declared_properties(_Bad())

    class _Missing:
        claims = (Claim(Invertible(), when=AttributeBelow("lipschitz", 1.0)),)

    with pytest.raises(ConfigError, match="lipschitz"):
        guarantees(_Missing())
