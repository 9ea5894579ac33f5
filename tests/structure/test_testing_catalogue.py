"""assert_preserves, the check catalogue and the package's public surface."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import pytest
import torch
from _structure_maps import (
    AdditiveCoupling,
    euler_step,
    oscillator_energy,
    rotation,
    scaling,
    shift_action,
    sphere_defect,
    verlet_step,
)

import structdl.structure as structure
from structdl import ConfigError, StructureViolation
from structdl.structure import (
    CheckResult,
    Claim,
    Dissipative,
    EnergyConserving,
    Equivariant,
    Invertible,
    NonExpansive,
    OnManifold,
    Property,
    Reversible,
    Symplectic,
    VolumePreserving,
    all_checks,
    assert_preserves,
    register_check,
)
from structdl.structure import check_registry as catalogue_module

DTYPES = [torch.float32, torch.float64]


def points(n: int, dim: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(0), dtype=dtype)


class RotationLayer:
    """A phase-space rotation: symplectic, volume preserving, 1-Lipschitz, invertible."""

    claims = (
        Claim(Symplectic()),
        Claim(VolumePreserving()),
        Claim(NonExpansive(1.0)),
        Claim(Invertible()),
    )

    def __init__(self, theta: float = 0.4) -> None:
        self.theta = theta

    def __call__(self, z):
        return rotation(self.theta)(z)

    def inverse(self, z):
        return rotation(-self.theta)(z)

    def energy(self, z):
        return oscillator_energy(z)


class Liar:
    """Declares symplecticity and volume preservation but scales by 1.1."""

    claims = (
        Claim(Symplectic()),
        Claim(VolumePreserving()),
    )

    def __call__(self, z):
        return scaling(1.1)(z)


@pytest.mark.parametrize("dtype", DTYPES)
def test_honest_object_passes_every_declared_check(dtype):
    results = assert_preserves(RotationLayer(), points(6, 4, dtype))
    assert set(results) == {repr(c.property) for c in RotationLayer.claims}
    assert all(isinstance(r, CheckResult) and r.ok for r in results.values())


@pytest.mark.parametrize("dtype", DTYPES)
def test_liar_is_caught_and_every_failure_listed(dtype):
    with pytest.raises(StructureViolation, match=r"Liar violates 2 of 2") as info:
        assert_preserves(Liar(), points(6, 4, dtype))
    assert "Symplectic()" in str(info.value) and "VolumePreserving()" in str(info.value)


def test_explicit_properties_override_the_declaration():
    z = points(4, 4, torch.float64)
    assert list(assert_preserves(Liar(), z, properties=[NonExpansive(2.0)])) == [
        "NonExpansive(lipschitz=2.0)"
    ]
    with pytest.raises(StructureViolation, match="Lipschitz bound 1"):
        assert_preserves(Liar(), z, properties=[NonExpansive(1.0)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_reversible_and_energy_tags(dtype):
    class Verlet:
        claims = (
            Claim(Reversible()),
            Claim(Symplectic()),
        )

        def __call__(self, z):
            return verlet_step(z, 0.1)

        def step(self, z, h):
            return verlet_step(z, h)

    class Euler(Verlet):
        def __call__(self, z):
            return euler_step(z, 0.1)

        def step(self, z, h):
            return euler_step(z, h)

    z = points(5, 2, dtype)
    assert assert_preserves(Verlet(), z, h=0.1)
    with pytest.raises(StructureViolation, match="Euler violates 2 of 2"):
        assert_preserves(Euler(), z, h=0.1)
    with pytest.raises(ConfigError, match="step"):
        assert_preserves(Verlet(), z)  # Reversible needs h

    layer = RotationLayer()
    assert assert_preserves(layer, z, properties=[EnergyConserving()], n_steps=5)
    with pytest.raises(StructureViolation, match="energy conservation VIOLATED"):
        assert_preserves(LiarWithEnergy(), z, n_steps=3)


class LiarWithEnergy(Liar):
    """Claims to conserve the oscillator energy while scaling it by 1.21 per step."""

    claims = (Claim(EnergyConserving()),)

    def energy(self, z):
        return oscillator_energy(z)


class DampedOscillator:
    """0.9 × rotation: dissipates the oscillator energy, exposed under the name ``hamiltonian``."""

    claims = (Claim(Dissipative(energy="hamiltonian")),)

    def __call__(self, z):
        return 0.9 * rotation(0.3)(z)

    def hamiltonian(self, z):
        return oscillator_energy(z)


def test_dissipative_tag_uses_named_energy_and_trajectory_method():
    z = points(4, 2, torch.float64)
    assert assert_preserves(DampedOscillator(), z)

    class Network:
        """Like ODENet: declares structure through guarantees() and gives a trajectory."""

        def guarantees(self):
            return frozenset({Dissipative()})

        def __call__(self, x):
            return self.trajectory(x)[-1]

        def trajectory(self, x):
            return [x, 1.2 * x, 1.5 * x]

        def energy(self, x):
            return oscillator_energy(x)

    with pytest.raises(StructureViolation, match="dissipation"):
        assert_preserves(Network(), z)


def test_equivariant_on_manifold_and_bijection_tags():
    conv = torch.nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular", dtype=torch.float64)
    conv.claims = (Claim(Equivariant(group=((0, 1), (2, 3)))),)
    images = torch.randn(2, 1, 5, 5, dtype=torch.float64)
    assert assert_preserves(conv, images, input_action=shift_action, output_action=shift_action)
    with pytest.raises(ConfigError, match="input_action"):
        assert_preserves(conv, images)

    class Normalise:
        claims = (Claim(OnManifold(sphere_defect)),)

        def __call__(self, x):
            return x / x.norm(dim=1, keepdim=True)

    x = points(5, 3, torch.float64)
    assert assert_preserves(Normalise(), x)
    with pytest.raises(StructureViolation, match="membership"):
        assert_preserves(lambda v: v, x, properties=[OnManifold(sphere_defect)])
    assert assert_preserves(Normalise(), x, properties=[OnManifold("sphere")])
    with pytest.raises(StructureViolation, match="membership"):
        assert_preserves(lambda v: 2 * v, x, properties=[OnManifold("sphere")])
    with pytest.raises(ConfigError, match="manifold"):
        assert_preserves(Normalise(), x, properties=[OnManifold("hyperboloid")])

    class Bijection:
        """A bijection in the invertible/ convention: fused value-and-logdet in each direction."""

        claims = (
            Claim(Invertible()),
            Claim(VolumePreserving()),
        )

        def __init__(self):
            self.coupling = AdditiveCoupling(4, torch.float64)

        def forward_and_logdet(self, v):
            return self.coupling(v), torch.zeros(v.shape[0])

        def inverse_and_logdet(self, v):
            return self.coupling.inverse(v), torch.zeros(v.shape[0])

    assert assert_preserves(Bijection(), points(5, 4, torch.float64))


def test_untestable_declarations_raise_config_error():
    z = points(3, 2, torch.float64)
    with pytest.raises(ConfigError, match="declares no structure"):
        assert_preserves(lambda v: v, z)
    with pytest.raises(ConfigError, match="nothing to check"):
        assert_preserves(lambda v: v, z, properties=[])

    @dataclass(frozen=True)
    class Novel(Property):
        """A tag no check knows."""

    with pytest.raises(ConfigError, match="no check is known"):
        assert_preserves(lambda v: v, z, properties=[Novel()])
    with pytest.raises(ConfigError, match="inverse"):
        assert_preserves(lambda v: v, z, properties=[Invertible()])
    with pytest.raises(ConfigError, match="assert_preserves: n_steps must be an integer ≥ 1"):
        assert_preserves(RotationLayer(), z, properties=[EnergyConserving()], n_steps=0)
    with pytest.raises(ConfigError, match="not callable"):
        assert_preserves(Uncallable(), z)


class Uncallable:
    """Declares structure but is not a map (like an Integrator, which needs a field)."""

    claims = (Claim(Symplectic()),)


@pytest.fixture
def empty_registry(monkeypatch):
    monkeypatch.setattr(catalogue_module, "_REGISTRY", {})


def test_register_and_list_checks(empty_registry):
    @register_check("structure.test_b")
    def second():
        return structure.check_symplectic(rotation(0.2), points(2, 2, torch.float64))

    @register_check("structure.test_a")
    def first():
        return structure.check_symplectic(scaling(1.1), points(2, 2, torch.float64))

    checks = all_checks()
    assert list(checks) == ["structure.test_a", "structure.test_b"]
    assert checks["structure.test_b"]().ok
    assert not checks["structure.test_a"]().ok
    checks.clear()  # a copy: the registry is unchanged
    assert len(all_checks()) == 2


def test_register_rejects_duplicates_and_bad_names(empty_registry):
    @register_check("structure.dup")
    def one():
        return CheckResult(True, 0.0, "fine")

    register_check("structure.dup")(one)  # the same function again is harmless
    with pytest.raises(ConfigError, match="already taken"):

        @register_check("structure.dup")
        def other():
            return CheckResult(True, 0.0, "fine")

    with pytest.raises(ConfigError, match="non-empty string"):
        register_check("")
    with pytest.raises(ConfigError, match="not callable"):
        register_check("structure.x")(42)


def test_public_surface():
    for name in structure.__all__:
        assert hasattr(structure, name), name
    checks = [n for n in structure.__all__ if n.startswith("check_")]
    # The nine original checks; other packages add theirs through new _check_<topic> modules.
    assert len(checks) >= 9
    for name in checks:
        assert hasattr(structure, name.replace("check_", "assert_")), name
    assert structure.tolerance(torch.float32).exact > structure.tolerance(torch.float64).exact
    assert list(inspect.signature(structure.guarantees).parameters) == [
        "field",
        "integrator",
        "h",
    ]
    # The assert forms keep the signature of their check.
    assert inspect.signature(structure.assert_lipschitz) == inspect.signature(
        structure.check_lipschitz
    )


def test_checker_self_tests_are_registered_and_pass():
    names = [n for n in all_checks() if n.startswith("structure.checker_")]
    assert len(names) == 6
    for name in names:
        result = all_checks()[name]()
        assert result.ok, result.reason
        assert "rejects the negative control" in result.reason


def test_guarantees_stays_the_function_after_its_module_is_imported():
    import importlib

    importlib.import_module("structdl.structure.guarantees")
    importlib.import_module("structdl.dynamics")
    assert callable(structure.guarantees)
    assert structure.guarantees.__module__ == "structdl.structure.guarantees"
