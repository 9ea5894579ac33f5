"""Structure checks of default dynamics objects, run by ``structdl check``.

Each check builds a small seeded float64 object, confirms that
:func:`structdl.structure.guarantees` claims the property, and verifies the claim with the
executable check of that property — so a rule that stops claiming it, or an implementation that
breaks it, fails here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from ..structure.check_registry import register_check
from ..structure.checks import (
    check_inverse,
    check_lipschitz,
    check_on_manifold,
    check_symplectic,
    check_volume_preserving,
)
from ..structure.guarantees import guarantees
from ..structure.properties import (
    Invertible,
    NonExpansive,
    OnManifold,
    Property,
    Symplectic,
    VolumePreserving,
)
from ..structure.result import CheckResult

__all__: list[str] = []


@contextmanager
def seeded(seed: int) -> Iterator[torch.Generator]:
    """Seed parameter initialisation without disturbing the caller's global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield torch.Generator().manual_seed(seed)


def _claimed(
    claims: frozenset[Property], tag: Property, run: Callable[[], CheckResult]
) -> CheckResult:
    """Run the check only if ``guarantees`` claims ``tag``; a missing claim is a failure too."""
    if tag not in claims:
        return CheckResult(
            False,
            float("inf"),
            f"structure.guarantees no longer claims {tag} for this object (claims: "
            f"{sorted(map(str, claims))})",
        )
    return run()


@register_check("dynamics.gradient_flow_euler_nonexpansive")
def _gradient_flow_euler() -> CheckResult:
    """Euler on GradientFlow with the clip rule is 1-Lipschitz."""
    from .fields import GradientFlow
    from .integrators import Euler
    from .network import ODENet

    with seeded(0) as gen:
        net = ODENet(GradientFlow(3, width=8), Euler(), steps=4, T=8.0, step_rule="clip").double()
        x = torch.randn(32, 3, generator=gen, dtype=torch.float64)
        return _claimed(
            net.guarantees(),
            NonExpansive(1.0),
            lambda: check_lipschitz(net.features, x, bound=net.lipschitz_bound(), ascent_steps=30),
        )


@register_check("dynamics.separable_hamiltonian_verlet_symplectic")
def _hamiltonian_verlet() -> CheckResult:
    """Störmer–Verlet layers on SeparableHamiltonian fields are symplectic."""
    from .fields import SeparableHamiltonian
    from .integrators import StormerVerlet
    from .network import ODENet

    with seeded(1) as gen:
        net = ODENet([SeparableHamiltonian(2, width=4) for _ in range(3)], StormerVerlet()).double()
        z = torch.randn(8, 4, generator=gen, dtype=torch.float64)

        def layers(v: torch.Tensor) -> torch.Tensor:
            return torch.cat(net.trajectory((v[:, :2], v[:, 2:]))[-1], dim=1)

        return _claimed(net.guarantees(), Symplectic(), lambda: check_symplectic(layers, z))


@register_check("dynamics.ridge_shear_strang_volume")
def _ridge_shear_volume() -> CheckResult:
    """Strang splitting of RidgeShearSum's exact shears preserves volume."""
    from .fields import RidgeShearSum
    from .integrators import Strang

    with seeded(2) as gen:
        field = RidgeShearSum(3, n_ridges=4).double()
        x = torch.randn(8, 3, generator=gen, dtype=torch.float64)
        return _claimed(
            guarantees(field, Strang(), 0.7),
            VolumePreserving(),
            lambda: check_volume_preserving(lambda y: Strang().step(field, 0.0, y, 0.7), x),
        )


@register_check("dynamics.symplectic_euler_network_inverse")
def _network_inverse() -> CheckResult:
    """ODENet with symplectic Euler and phase embedding is exactly invertible."""
    from .fields import SeparableHamiltonian
    from .integrators import SymplecticEuler
    from .network import ODENet

    with seeded(3) as gen:
        net = ODENet(
            [SeparableHamiltonian(2, width=4) for _ in range(4)], SymplecticEuler(), embed="phase"
        ).double()
        x = torch.randn(16, 2, generator=gen, dtype=torch.float64)
        return _claimed(
            net.guarantees(), Invertible(), lambda: check_inverse(net.features, net.inverse, x)
        )


@register_check("dynamics.lie_euler_sphere")
def _lie_euler_sphere() -> CheckResult:
    """Lie–Euler layers on a LieAlgebraField keep features on S²."""
    from .fields import LieAlgebraField
    from .integrators import LieEuler
    from .network import ODENet

    with seeded(4) as gen:
        net = ODENet(LieAlgebraField(8), LieEuler(), steps=20, T=4.0).double()
        y = torch.nn.functional.normalize(
            torch.randn(32, 3, generator=gen, dtype=torch.float64), dim=1
        )
        states = torch.cat(net.trajectory(y))
        return _claimed(
            net.guarantees(),
            OnManifold("sphere"),
            lambda: check_on_manifold(lambda v: (v.norm(dim=1) - 1.0).abs(), states),
        )
