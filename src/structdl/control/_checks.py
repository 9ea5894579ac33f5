"""Structure checks of default control objects, run by ``structdl check``.

Each check builds a small seeded float64 object, confirms that
:func:`structdl.structure.guarantees` derives the claimed property, and verifies it with the
executable check: the adjoint state–costate map of an RK4 layer is symplectic; Itoh–Abe
descent dissipates its objective at a large step size.
"""

from __future__ import annotations

import torch

from ..structure.check_registry import register_check
from ..structure.checks import check_energy, check_symplectic
from ..structure.guarantees import guarantees
from ..structure.properties import Dissipative, Symplectic
from ..structure.result import CheckResult

__all__: list[str] = []


def _missing(tag: object) -> CheckResult:
    return CheckResult(False, float("inf"), f"structure.guarantees no longer claims {tag}")


@register_check("control.rk4_state_costate_map_symplectic")
def _state_costate_symplectic() -> CheckResult:
    """The adjoint RK4 state–costate map of one layer passes check_symplectic at 1e-12."""
    from ..dynamics import ODENet, Residual, RungeKutta
    from .symplectic import StateCostateStep

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = ODENet([Residual(3, width=5) for _ in range(2)], RungeKutta("rk4")).double()
        z = torch.randn(6, 6, dtype=torch.float64)
    step = StateCostateStep(net, 1)
    if Symplectic() not in guarantees(step):
        return _missing(Symplectic())
    return check_symplectic(step, z, atol=1e-12)


@register_check("control.itoh_abe_dissipative")
def _itoh_abe_dissipative() -> CheckResult:
    """Itoh–Abe descent never increases the Rosenbrock function, at τ = 1e4."""
    from .itoh_abe import ItohAbeDescent

    def rosenbrock(x: torch.Tensor) -> torch.Tensor:
        return ((1 - x[:, :-1]) ** 2 + 10 * (x[:, 1:] - x[:, :-1] ** 2) ** 2).sum(-1)

    descent = ItohAbeDescent(rosenbrock, tau=1e4)
    if Dissipative("energy") not in guarantees(descent):
        return _missing(Dissipative("energy"))
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    trajectory = [x]
    for _ in range(4):
        trajectory.append(descent(trajectory[-1]))
    return check_energy(descent.energy, trajectory, mode="non_increasing", atol=0.0)
