"""Structure checks of default flow layers, run by ``structdl check``.

Each builds a small seeded float64 layer (parameters perturbed away from the near-identity
initialisation), confirms that :func:`structdl.structure.guarantees` claims the property, and
verifies it with the executable check.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..structure.check_registry import register_check
from ..structure.checks import check_inverse, check_lipschitz, check_volume_preserving
from ..structure.guarantees import guarantees
from ..structure.properties import BiLipschitz, Invertible, Property, VolumePreserving
from ..structure.result import CheckResult
from .actnorm import ActNorm
from .base import Bijection
from .conv import InvertibleConv1x1
from .coupling import SplineCoupling
from .linear import HouseholderLinear
from .multiscale import MultiscaleFlow

__all__: list[str] = []


def _build(make: Callable[[], Bijection], seed: int = 0) -> Bijection:
    """A float64 layer with every parameter moved by seeded noise of std 0.2."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = make().double()
        with torch.no_grad():
            for param in layer.parameters():
                param.add_(0.2 * torch.randn_like(param))
    return layer


def _claimed(layer: Bijection, tag: Property, run: Callable[[], CheckResult]) -> CheckResult:
    claims = guarantees(layer)
    if tag not in claims:
        return CheckResult(
            False, float("inf"), f"guarantees no longer claims {tag} for {type(layer).__name__}"
        )
    return run()


def _points(*shape: int, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(
        *shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )


@register_check("invertible.spline_coupling_inverse_outside_interval")
def _spline_inverse() -> CheckResult:
    layer = _build(lambda: SplineCoupling(4, bins=6, bound=1.0, hidden=16))
    # Scale 2 with B = 1: about a third of the inputs lie outside the spline interval.
    x = _points(64, 4, scale=2.0)
    return _claimed(layer, Invertible(), lambda: check_inverse(layer, layer.inverse, x))


@register_check("invertible.spline_coupling_logdet")
def _spline_logdet() -> CheckResult:
    layer = _build(lambda: SplineCoupling(4, bins=6, bound=1.0, hidden=16))
    x = _points(16, 4, scale=2.0)
    return check_volume_preserving(layer, x, logdet=lambda v: layer.forward_and_logdet(v)[1])


@register_check("invertible.lu_conv1x1_inverse")
def _conv_inverse() -> CheckResult:
    layer = _build(lambda: InvertibleConv1x1(4))
    x = _points(8, 4, 3, 3)
    return _claimed(layer, Invertible(), lambda: check_inverse(layer, layer.inverse, x))


@register_check("invertible.householder_volume_preserving")
def _householder_volume() -> CheckResult:
    layer = _build(lambda: HouseholderLinear(5))
    x = _points(16, 5)
    return _claimed(layer, VolumePreserving(), lambda: check_volume_preserving(layer, x))


@register_check("invertible.actnorm_inverse_lipschitz")
def _actnorm_bilipschitz() -> CheckResult:
    layer = _build(lambda: ActNorm(3)).eval()  # eval: keep the perturbed scales (no init)
    (tag,) = [t for t in guarantees(layer) if isinstance(t, BiLipschitz)]
    x = _points(32, 3)
    return check_lipschitz(layer.inverse, layer(x), bound=tag.inverse)


@register_check("invertible.multiscale_logdet")
def _multiscale_logdet() -> CheckResult:
    layer = _build(lambda: MultiscaleFlow((1, 4, 4), levels=2, steps=1, hidden=4))
    x = _points(4, 1, 4, 4)
    return check_volume_preserving(
        lambda v: layer(v), x, logdet=lambda v: layer.forward_and_logdet(v)[1]
    )
