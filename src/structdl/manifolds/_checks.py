"""Structure checks of the manifolds, run by ``structdl check``.

For every manifold and retraction: a seeded float32 point trained by 50 Riemannian Adam
steps must still be on the manifold (``check_on_manifold``); the negative control — the
same steps with plain Adam on the raw tensor — must leave it.
"""

from __future__ import annotations

import torch

from ..structure.check_registry import register_check
from ..structure.checks import check_on_manifold
from ..structure.result import CheckResult
from .base import Manifold
from .spd import SPD
from .sphere import Oblique, Sphere
from .stiefel import Grassmann, SpecialOrthogonal, Stiefel

__all__: list[str] = []

_CASES: dict[str, tuple[type[Manifold], tuple[int, ...]]] = {
    "sphere": (Sphere, (3, 6)),
    "oblique": (Oblique, (6, 3)),
    "stiefel": (Stiefel, (8, 3)),
    "grassmann": (Grassmann, (8, 3)),
    "so": (SpecialOrthogonal, (4, 4)),
    "spd": (SPD, (3, 3)),
}


def _train(manifold: Manifold, shape: tuple[int, ...], *, riemannian: bool) -> torch.Tensor:
    from ..optim.riemannian import RiemannianAdam  # local: optim imports manifolds' users
    from .constrain import ManifoldParameter

    gen = torch.Generator().manual_seed(0)
    start = manifold.random_point(*shape, generator=gen)
    target = start + torch.randn(shape, generator=gen)
    if riemannian:
        w = ManifoldParameter(start.clone(), manifold)
        opt: torch.optim.Optimizer = RiemannianAdam([w], lr=0.05)
    else:
        w = torch.nn.Parameter(start.clone())
        opt = torch.optim.Adam([w], lr=0.05)
    for _ in range(50):
        opt.zero_grad()
        ((w - target) ** 2).sum().backward()
        opt.step()
    return w.detach()


def _register(key: str, cls: type[Manifold], shape: tuple[int, ...], method: str) -> None:
    def run() -> CheckResult:
        manifold = cls(method)
        positive = check_on_manifold(manifold, _train(manifold, shape, riemannian=True)[None])
        negative = check_on_manifold(manifold, _train(manifold, shape, riemannian=False)[None])
        ok = positive.ok and not negative.ok
        return CheckResult(
            ok,
            positive.worst,
            f"{positive.reason} | {negative.as_negative_control('plain Adam').reason}",
        )

    register_check(f"manifolds.{key}_{method}_after_riemannian_adam")(run)


def _register_all() -> None:
    for key, (cls, shape) in _CASES.items():
        for method in cls.retractions:
            _register(key, cls, shape, method)


_register_all()
