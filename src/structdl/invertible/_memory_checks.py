"""Structure checks of i-ResNet blocks, reversible chains and ODE bijections (`structdl check`).

Each builds a small seeded float64 object, confirms that :func:`structdl.structure.guarantees`
claims the property, and verifies it with the executable check.
"""

from __future__ import annotations

import torch
from torch import nn

from ..structure.check_registry import register_check
from ..structure.checks import check_inverse, check_lipschitz, check_volume_preserving
from ..structure.guarantees import guarantees
from ..structure.properties import BiLipschitz, Invertible, VolumePreserving
from ..structure.result import CheckResult
from .iresnet import IResNetBlock
from .ode_bijection import ODEBijection
from .reversible import ReversibleSequential
from .revnet import RevNetBlock

__all__: list[str] = []


def _points(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def _missing(obj: object, tag: object) -> CheckResult:
    return CheckResult(
        False, float("inf"), f"guarantees no longer claims {tag} for {type(obj).__name__}"
    )


@register_check("invertible.iresnet_inverse_bilipschitz")
def _iresnet_inverse() -> CheckResult:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        block = IResNetBlock(3, hidden=16, coefficient=0.9, inverse_method="newton").double()
    bounds = [t for t in guarantees(block) if isinstance(t, BiLipschitz)]
    if Invertible() not in guarantees(block) or not bounds:
        return _missing(block, "Invertible and BiLipschitz")
    x = _points(16, 3)
    found = check_inverse(block, block.inverse, x)
    if not found.ok:
        return found
    return check_lipschitz(block.inverse, block(x), bound=bounds[0].inverse, ascent_steps=10)


@register_check("invertible.reversible_revnet_chain_inverse")
def _reversible_chain() -> CheckResult:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        chain = ReversibleSequential(
            *[
                RevNetBlock(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2), nn.Tanh()))
                for _ in range(8)
            ]
        ).double()
    if VolumePreserving() not in guarantees(chain):
        return _missing(chain, VolumePreserving())
    return check_inverse(chain, chain.inverse, _points(16, 4))


@register_check("invertible.ode_bijection_verlet_volume")
def _ode_volume() -> CheckResult:
    from ..dynamics import ODENet, SeparableHamiltonian, StormerVerlet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = ODENet(SeparableHamiltonian(2, width=4), StormerVerlet(), steps=8).double()
    flow = ODEBijection(net)
    if VolumePreserving() not in guarantees(flow):
        return _missing(flow, VolumePreserving())
    return check_volume_preserving(flow, _points(8, 4))
