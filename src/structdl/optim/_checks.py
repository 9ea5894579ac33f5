"""Structure checks of the optimisers, run by ``structdl check``.

Conformal symplecticity of each conformal Hamiltonian optimiser's step on a random quadratic
(negative control: Nesterov's method), and passivity of the port-Hamiltonian optimiser on a
small network (negative control: the explicit method's energy record).
"""

from __future__ import annotations

import torch

from ..structure.check_registry import register_check
from ..structure.checks import check_conformal_step, check_passivity
from ..structure.result import CheckResult
from .conformal import (
    ConformalSymplecticEuler,
    ConformalSymplecticLeapfrog,
    HamiltonianDescent,
    RelativisticGradientDescent,
    nesterov_phase_step,
)
from .kinetic import PowerKinetic, RelativisticKinetic
from .port_hamiltonian import PortHamiltonian

__all__: list[str] = []


def _hessian() -> torch.Tensor:
    a = torch.randn(4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return a @ a.T / 4 + 0.1 * torch.eye(4, dtype=torch.float64)


def _nesterov(q: torch.Tensor, p: torch.Tensor, gradient) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    return nesterov_phase_step(q, p, gradient, lr=0.05, momentum=0.8)


_OPTIMISERS = {
    "cs_euler": lambda ps: ConformalSymplecticEuler(ps, h=0.3, gamma=0.7),
    "cs_euler_relativistic": lambda ps: ConformalSymplecticEuler(
        ps, h=0.3, gamma=0.7, kinetic=RelativisticKinetic(2.0)
    ),
    "cs_leapfrog": lambda ps: ConformalSymplecticLeapfrog(ps, h=0.3, gamma=0.7),
    "rgd": lambda ps: RelativisticGradientDescent(ps, lr=0.05, momentum=0.8),
    "hamiltonian_descent": lambda ps: HamiltonianDescent(
        ps, lr=0.1, gamma=1.0, kinetic=PowerKinetic(4 / 3, 2.0)
    ),
}


def _register_conformal(key: str) -> None:
    def run() -> CheckResult:
        opt = _OPTIMISERS[key]([torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))])
        positive = check_conformal_step(opt.phase_step, _hessian(), opt.rate)
        negative = check_conformal_step(_nesterov, _hessian(), 0.8)
        control = negative.as_negative_control("Nesterov's step")
        return CheckResult(
            positive.ok and control.ok, positive.worst, f"{positive.reason} | {control.reason}"
        )

    register_check(f"optim.{key}_conformal_symplectic")(run)


for _key in _OPTIMISERS:
    _register_conformal(_key)


@register_check("optim.port_hamiltonian_passive")
def _port_hamiltonian() -> CheckResult:
    gen = torch.Generator().manual_seed(0)
    w1 = torch.nn.Parameter(torch.randn(5, 3, generator=gen, dtype=torch.float64))
    w2 = torch.nn.Parameter(torch.randn(1, 5, generator=gen, dtype=torch.float64))
    x = torch.randn(32, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(32, 1, generator=gen, dtype=torch.float64)

    def loss() -> torch.Tensor:
        return ((torch.tanh(x @ w1.T) @ w2.T - y) ** 2).mean()

    h = 2.0
    opt = PortHamiltonian([w1, w2], lr=h, beta=0.5)
    energies, dissipation = [], []
    for _ in range(20):
        opt.step(loss)
        record = opt.last_step
        energies = energies or [record["energy_before"]]
        energies.append(record["energy_after"])
        dissipation.append(record["dissipation"])
    positive = check_passivity(energies, dissipation, h)
    # Negative control: gradient descent's energy changes booked against the same dissipation.
    with torch.no_grad():
        w1.copy_(torch.randn(5, 3, generator=gen, dtype=torch.float64))
    plain = [float(loss().detach())]
    for _ in range(20):
        w1.grad = w2.grad = None
        loss().backward()
        with torch.no_grad():
            w1 -= 0.5 * w1.grad
            w2 -= 0.5 * w2.grad
        plain.append(float(loss().detach()))
    control = check_passivity(plain, [0.0] * 20, h).as_negative_control("gradient descent")
    return CheckResult(
        positive.ok and control.ok, positive.worst, f"{positive.reason} | {control.reason}"
    )


def _natural_step(reparametrise: bool, damping: float) -> torch.Tensor:  # noqa: FBT001
    from .natural_gradient import NaturalGradient

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (64,), generator=gen)
    w1 = 0.5 * torch.randn(6, 4, generator=gen, dtype=torch.float64)
    w2 = 0.5 * torch.randn(3, 6, generator=gen, dtype=torch.float64)
    b = torch.randn(4, 4, generator=gen, dtype=torch.float64) + 2 * torch.eye(
        4, dtype=torch.float64
    )
    first = torch.nn.Parameter(w1 @ torch.linalg.inv(b) if reparametrise else w1.clone())
    second = torch.nn.Parameter(w2.clone())

    def outputs() -> tuple[torch.Tensor, torch.Tensor]:
        weight = first @ b if reparametrise else first
        return torch.tanh(x @ weight.T) @ second.T, y

    opt = NaturalGradient([first, second], damping=damping, cg_iters=500, cg_tol=1e-14)
    opt.step(outputs)
    d = opt.last_direction
    d1 = d[:24].view(6, 4)
    return torch.cat([(d1 @ b if reparametrise else d1).reshape(-1), d[24:]])


@register_check("optim.natural_gradient_reparametrisation_invariant")
def _natural_gradient() -> CheckResult:
    from ..structure.checks import check_reparametrisation_invariance

    positive = check_reparametrisation_invariance(
        _natural_step(False, 0.0), _natural_step(True, 0.0)
    )
    control = check_reparametrisation_invariance(
        _natural_step(False, 0.1), _natural_step(True, 0.1)
    ).as_negative_control("the damped natural-gradient step")
    return CheckResult(
        positive.ok and control.ok, positive.worst, f"{positive.reason} | {control.reason}"
    )
