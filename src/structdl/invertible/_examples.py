"""Example factories of every public bijection, for the contract test and ``structdl check``.

``tests/contracts/test_bijections_contract.py`` runs one contract over every entry: the
reported log-determinant against the autograd Jacobian, the round trip, deep stacks,
gradients, save/load and the declared claims. A public :class:`~structdl.invertible.Bijection`
class without an example here fails that test, so a new bijection is covered the day it is
exported. To add one, append an :class:`Example` with :func:`register_example`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

from .base import Bijection

__all__ = ["EXAMPLES", "Example", "perturbed", "register_example"]


@dataclass(frozen=True)
class Example:
    """A small instance of a bijection and the inputs it is tested on.

    Attributes:
        name: unique name (test id).
        build: returns a fresh instance in the default dtype, drawing its random parameters
            from torch's global generator (the test seeds it); the test converts the dtype.
        event_shape: shape of one input event.
        context_features: size of the context (0: unconditional).
        input_scale: standard deviation of the Gaussian test inputs.
        logdet_atol: ``None`` when the log-determinant and inverse are exact up to round-off
            (the contract's 1e-10 / 1e-4 bars); else ``{"float64": a, "float32": b}``, the
            documented discretisation error allowed (continuous flows on a fixed grid).
        warm_up: call the forward map once on a batch before testing (data-dependent
            initialisation, e.g. ActNorm).
        stack_build: the instance the depth-64 stack is made of (default ``build``). The
            stack bar is about layers as a user stacks them (constructed, or lightly trained):
            64 generic random layers multiply their condition numbers, and no float32 inverse
            can then reconstruct to 1e-5.
        slow_stack: run the depth-64 stack only in the slow suite (costly layers).
    """

    name: str
    build: Callable[[], Bijection]
    event_shape: tuple[int, ...]
    context_features: int = 0
    input_scale: float = 1.0
    logdet_atol: dict[str, float] | None = None
    warm_up: bool = False
    stack_build: Callable[[], Bijection] | None = None
    slow_stack: bool = False


#: Every registered example, in registration order.
EXAMPLES: list[Example] = []


def register_example(example: Example) -> Example:
    """Append ``example``; names are unique."""
    if any(e.name == example.name for e in EXAMPLES):
        raise ValueError(f"bijection example {example.name!r} is registered twice")
    EXAMPLES.append(example)
    return example


def perturbed(module: nn.Module, scale: float = 0.1, seed: int = 0) -> nn.Module:
    """Add seeded Gaussian noise of std ``scale`` to every floating parameter (in place).

    Conditioners start near the identity; the contract tests a generic map, not that one.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            if param.is_floating_point():
                param.add_(scale * torch.randn(param.shape, generator=gen, dtype=param.dtype))
    return module


def _seeded(build: Callable[[], Bijection], scale: float = 0.1) -> Callable[[], Bijection]:
    """``build`` then perturb its parameters, both from torch's global generator (seed it)."""

    def factory() -> Bijection:
        model = build()
        seed = int(torch.randint(0, 2**31 - 1, ()))
        return perturbed(model, scale, seed)  # type: ignore[return-value]

    factory.raw = build  # type: ignore[attr-defined]
    return factory


def _register_builtin() -> None:
    from . import (
        ActNorm,
        AdditiveCoupling,
        AffineCoupling,
        CayleyLinear,
        Compose,
        ContinuousFlow,
        HaarDownsample,
        HouseholderLinear,
        InvertibleConv1x1,
        LULinear,
        MaskedAutoregressive,
        MultiscaleFlow,
        QRLinear,
        Reverse,
        SplineCoupling,
        Squeeze,
    )

    def add(example: Example) -> None:
        # The stack uses the same layers, perturbed 5x less (a lightly trained layer).
        if example.stack_build is None and getattr(example.build, "raw", None) is not None:
            raw = example.build.raw  # type: ignore[attr-defined]
            example = replace(example, stack_build=_seeded(raw, scale=0.02))
        register_example(example)

    add(Example("AdditiveCoupling", _seeded(lambda: AdditiveCoupling(4, hidden=16)), (4,)))
    add(Example("AffineCoupling", _seeded(lambda: AffineCoupling(5, hidden=16, parity=1)), (5,)))
    add(
        Example(
            "AffineCoupling/context",
            _seeded(lambda: AffineCoupling(4, hidden=16, context_features=3)),
            (4,),
            context_features=3,
        )
    )
    # Scale 2 with B = 2: many inputs fall outside the spline interval (identity tails).
    add(
        Example(
            "SplineCoupling",
            _seeded(lambda: SplineCoupling(4, bins=6, bound=2.0, hidden=16)),
            (4,),
            input_scale=2.0,
        )
    )
    add(
        Example(
            "MaskedAutoregressive/affine",
            _seeded(lambda: MaskedAutoregressive(4, hidden=16)),
            (4,),
        )
    )
    add(
        Example(
            "MaskedAutoregressive/spline-context",
            _seeded(
                lambda: MaskedAutoregressive(
                    3, transform="spline", hidden=16, context_features=2, bound=2.0
                )
            ),
            (3,),
            context_features=2,
            input_scale=2.0,
        )
    )
    add(Example("LULinear", _seeded(lambda: LULinear(4)), (4,)))
    add(Example("QRLinear", _seeded(lambda: QRLinear(4)), (4,)))
    add(Example("HouseholderLinear", _seeded(lambda: HouseholderLinear(4, reflections=3)), (4,)))
    add(Example("CayleyLinear", _seeded(lambda: CayleyLinear(4)), (4,)))
    add(Example("InvertibleConv1x1", _seeded(lambda: InvertibleConv1x1(2)), (2, 2, 2)))
    add(
        Example(
            "InvertibleConv1x1/plain",
            _seeded(lambda: InvertibleConv1x1(2, parametrisation="plain")),
            (2, 2, 2),
        )
    )
    add(Example("ActNorm", _seeded(lambda: ActNorm(4)), (4,), warm_up=True))
    add(Example("ActNorm/image", _seeded(lambda: ActNorm(2)), (2, 2, 2), warm_up=True))
    add(Example("Reverse", lambda: Reverse(), (5,)))
    add(Example("Squeeze", lambda: Squeeze(), (2, 2, 2)))
    add(Example("HaarDownsample", lambda: HaarDownsample(), (2, 2, 2)))
    add(
        Example(
            "MultiscaleFlow",
            _seeded(lambda: MultiscaleFlow((1, 4, 4), levels=2, steps=1, hidden=4), scale=0.05),
            (1, 4, 4),
            warm_up=True,
            slow_stack=True,
        )
    )
    add(
        Example(
            "MultiscaleFlow/context-haar",
            _seeded(
                lambda: MultiscaleFlow(
                    (1, 4, 4), levels=2, steps=1, hidden=4, context_features=2, downsample="haar"
                ),
                scale=0.05,
            ),
            (1, 4, 4),
            context_features=2,
            warm_up=True,
            slow_stack=True,
        )
    )
    add(
        Example(
            "MultiscaleFlow/fixed-prior",
            _seeded(
                lambda: MultiscaleFlow((1, 4, 4), levels=2, steps=1, hidden=4, learned_prior=False),
                scale=0.05,
            ),
            (1, 4, 4),
            warm_up=True,
            slow_stack=True,
        )
    )
    add(
        Example(
            "ContinuousFlow",
            _seeded(lambda: ContinuousFlow(2, hidden=8, steps=24), scale=0.3),
            (2,),
            logdet_atol={"float64": 1e-7, "float32": 1e-4},
            slow_stack=True,
        )
    )
    add(
        Example(
            "Compose",
            _seeded(lambda: Compose([AffineCoupling(3, hidden=8), Reverse(), LULinear(3)])),
            (3,),
        )
    )
    add(Example("Inverse", _seeded(lambda: AffineCoupling(3, hidden=8).inv), (3,)))
    # The inverse of a bi-Lipschitz map claims the swapped constants.
    add(Example("Inverse/LULinear", _seeded(lambda: LULinear(3).inv), (3,)))


_register_builtin()


def _register_memory_and_residual() -> None:
    """i-ResNet blocks, RevNet blocks, reversible containers and ODE bijections."""
    from . import IResNetBlock, ODEBijection, ReversibleSequential, RevNetBlock

    def iresnet() -> Bijection:
        # Newton to the rounding floor: the depth-64 float32 stack needs round-off-level
        # inverses; the power iteration is re-converged after the perturbation.
        block = IResNetBlock(
            3, hidden=8, coefficient=0.5, inverse_method="newton", inverse_tol=1e-13
        )
        seed = int(torch.randint(0, 2**31 - 1, ()))
        perturbed(block, 0.1, seed)
        block.update_normalisation(50)
        return block

    def revnet(scale: float = 1.0) -> Bijection:
        f, g = nn.Linear(2, 2), nn.Linear(2, 2)
        with torch.no_grad():
            f.weight.mul_(scale)
            g.weight.mul_(scale)
        return RevNetBlock(f, nn.Sequential(g, nn.Tanh()))

    def reversible(scale: float = 1.0) -> Bijection:
        return ReversibleSequential(revnet(scale), revnet(scale), revnet(scale))

    def ode() -> Bijection:
        from ..dynamics import ODENet, SeparableHamiltonian, StormerVerlet

        net = ODENet(SeparableHamiltonian(2, width=4), StormerVerlet(), steps=4, T=0.5)
        return ODEBijection(net)

    register_example(Example("IResNetBlock", iresnet, (3,)))
    # The stacks use blocks with 10x smaller weights (lightly trained shears): 64 (or 192)
    # generic random shears multiply their condition numbers beyond float32's reach.
    register_example(
        Example("RevNetBlock", _seeded(revnet), (4,), stack_build=_seeded(lambda: revnet(0.1)))
    )
    register_example(
        Example(
            "ReversibleSequential",
            _seeded(reversible),
            (4,),
            stack_build=_seeded(lambda: reversible(0.1)),
        )
    )
    register_example(Example("ODEBijection", _seeded(ode), (4,)))


_register_memory_and_residual()
