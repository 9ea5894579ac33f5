"""Structure checks of default learned models, run by ``structdl check``.

Each builds a small seeded float64 model, confirms that :func:`structdl.structure.guarantees`
derives the property from the model's declared ``claims``, and verifies it with the executable
check — a declaration that stops holding, or an implementation that breaks it, fails here.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ...structure.check_registry import register_check
from ...structure.checks import check_energy, check_inverse, check_symplectic
from ...structure.guarantees import guarantees
from ...structure.properties import Dissipative, Invertible, Property, Symplectic
from ...structure.result import CheckResult
from .._selfchecks import seeded

__all__: list[str] = []


def _claimed(obj: object, tag: Property, run: Callable[[], CheckResult]) -> CheckResult:
    claims = guarantees(obj)
    if tag not in claims:
        return CheckResult(
            False,
            float("inf"),
            f"{type(obj).__name__} no longer claims {tag} (claims: {sorted(map(str, claims))})",
        )
    return run()


@register_check("learning.gsympnet_symplectic")
def _gsympnet() -> CheckResult:
    """A G-SympNet with non-trivial weights is symplectic to round-off."""
    from .sympnets import GSympNet

    with seeded(0) as gen:
        net = GSympNet(2, layers=4, width=8, init_scale=0.7).double()
        z = torch.randn(8, 4, generator=gen, dtype=torch.float64)
        return _claimed(net, Symplectic(), lambda: check_symplectic(net, z))


@register_check("learning.separable_hnn_yoshida_symplectic")
def _separable_hnn() -> CheckResult:
    """Yoshida-4 steps of a separable Hamiltonian network are symplectic."""
    from ..integrators.symplectic import Yoshida4
    from .flow_map import FlowMap
    from .hnn import SeparableHamiltonianNN

    with seeded(1) as gen:
        step = FlowMap(SeparableHamiltonianNN(2, width=8), Yoshida4(), 0.1, steps=2).double()
        z = torch.randn(8, 4, generator=gen, dtype=torch.float64)
        return _claimed(step, Symplectic(), lambda: check_symplectic(step, z))


@register_check("learning.henon_net_inverse")
def _henon_inverse() -> CheckResult:
    """A Hénon network inverts exactly."""
    from .sympnets import HenonNet

    with seeded(2) as gen:
        net = HenonNet(1, layers=2, width=8).double()
        z = torch.randn(8, 2, generator=gen, dtype=torch.float64)
        return _claimed(net, Invertible(), lambda: check_inverse(net, net.inverse, z))


@register_check("learning.port_hamiltonian_itoh_abe_dissipative")
def _port_hamiltonian() -> CheckResult:
    """Itoh–Abe steps of a port-Hamiltonian network never increase its energy."""
    from ..integrators.discrete_gradient import ItohAbe
    from .flow_map import FlowMap
    from .hnn import DissipativeHamiltonianNN

    with seeded(3) as gen:
        step = FlowMap(DissipativeHamiltonianNN(1, width=8), ItohAbe(), 0.2).double()
        states = [torch.randn(6, 2, generator=gen, dtype=torch.float64)]
        for _ in range(8):
            states.append(step(states[-1]))
        return _claimed(
            step,
            Dissipative(),
            lambda: check_energy(step.energy, states, mode="non_increasing"),
        )
