"""Monotone activations with a slope bound and a convex antiderivative.

A structured vector field needs more of its activation ``σ`` than its values: a gradient flow
``f = −Aᵀσ(Ax + b)`` is ``−∇V`` with ``V = 1ᵀγ(Ax + b)`` only when ``σ = γ'`` for a convex
``γ`` (so ``σ`` is non-decreasing), and its non-expansive step-size bound ``h ≤ 2/(L‖A‖²)``
needs the slope bound ``0 ≤ σ' ≤ L``. An :class:`Activation` carries all
three: ``σ``, ``γ`` and ``L``.

==============  ==================================  =====
name            antiderivative γ                     L
==============  ==================================  =====
``relu``        ½ max(s, 0)²                         1
``leaky_relu``  ½ s² (s ≥ 0), ½ α s² (s < 0)         1 (α ≤ 1)
``tanh``        log cosh s                           1
``sigmoid``     softplus(s) = log(1 + eˢ)            1/4
``softplus``    −Li₂(−eˢ)                            1
``identity``    ½ s²                                 1
==============  ==================================  =====
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional

from .._errors import ConfigError

__all__ = ["ACTIVATIONS", "Activation", "get_activation"]


@dataclass(frozen=True)
class Activation:
    """A non-decreasing, ``L``-Lipschitz scalar function with a convex antiderivative.

    Attributes:
        name: registry name (used in messages and ``repr``).
        function: ``σ(s)``, applied elementwise.
        antiderivative: ``γ(s)`` with ``γ' = σ``; convex because ``σ`` is non-decreasing.
        slope_bound: ``L`` with ``0 ≤ σ'(s) ≤ L`` for all ``s``.

    Example:
        >>> act = get_activation("tanh")
        >>> float(act(torch.tensor(0.0))), act.slope_bound
        (0.0, 1.0)
    """

    name: str
    function: Callable[[Tensor], Tensor]
    antiderivative: Callable[[Tensor], Tensor]
    slope_bound: float

    def __call__(self, s: Tensor) -> Tensor:
        """Apply ``σ`` elementwise."""
        return self.function(s)


def _relu_gamma(s: Tensor) -> Tensor:
    return 0.5 * torch.clamp(s, min=0.0) ** 2


def _log_cosh(s: Tensor) -> Tensor:
    # log cosh s = |s| + log(1 + e^{−2|s|}) − log 2, which never overflows.
    a = s.abs()
    return a + torch.log1p(torch.exp(-2.0 * a)) - math.log(2.0)


# 16-point Gauss–Legendre rule mapped to [0, 1], used for the short-interval branch of γ_softplus.
_LEG_X, _LEG_W = np.polynomial.legendre.leggauss(16)
_GL_NODES = torch.tensor((_LEG_X + 1.0) / 2.0, dtype=torch.float64)
_GL_WEIGHTS = torch.tensor(_LEG_W / 2.0, dtype=torch.float64)


def _softplus_gamma(s: Tensor) -> Tensor:
    r"""γ(s) = ∫_{−∞}^s softplus(u) du = −Li₂(−eˢ).

    Write softplus(u) = max(u, 0) + g(u) with g(u) = log(1 + e^{−|u|}) (even, smooth on each side
    of 0), so γ(s) = π²/12 + ½ max(s, 0)² + sign(s) G(|s|) with G(a) = ∫_0^a g. For a ≥ 1,
    G(a) = π²/12 + Li₂(−e^{−a}) and the dilogarithm series converges like e^{−ka}; for a < 1 a
    16-point Gauss–Legendre rule on [0, a] is exact to round-off (g is analytic there).
    """
    a = s.abs()
    nodes = _GL_NODES.to(s.dtype)
    weights = _GL_WEIGHTS.to(s.dtype)
    a_short = torch.clamp(a, max=1.0)
    u = a_short.unsqueeze(-1) * nodes
    g_short = a_short * (weights * torch.log1p(torch.exp(-u))).sum(-1)
    x = torch.exp(-torch.clamp(a, min=1.0))
    k = torch.arange(1, 40, dtype=s.dtype)
    li2 = ((-x.unsqueeze(-1)) ** k / k**2).sum(-1)
    g_long = math.pi**2 / 12.0 + li2
    g_int = torch.where(a < 1.0, g_short, g_long)
    return math.pi**2 / 12.0 + 0.5 * torch.clamp(s, min=0.0) ** 2 + torch.sign(s) * g_int


def _softplus(s: Tensor) -> Tensor:
    # log(1 + eˢ) without torch's linear cut-off at s > 20, so that γ' = σ holds to round-off.
    return torch.clamp(s, min=0.0) + torch.log1p(torch.exp(-s.abs()))


def _identity(s: Tensor) -> Tensor:
    return s


def _half_square(s: Tensor) -> Tensor:
    return 0.5 * s**2


def leaky_relu(slope: float = 0.01) -> Activation:
    """Leaky ReLU ``σ(s) = max(s, α s)`` with ``0 ≤ α ≤ 1``; ``γ(s) = ½ s²`` or ``½ α s²``; L = 1.

    Args:
        slope: the negative-side slope ``α``; it must lie in ``[0, 1]`` for ``σ`` to be monotone
            with slope bound 1.
    """
    if isinstance(slope, bool) or not isinstance(slope, (int, float)) or not 0.0 <= slope <= 1.0:
        raise ConfigError(
            f"leaky_relu slope must be a number in [0, 1] (monotone, slope bound 1), got "
            f"{slope!r}; pass e.g. slope=0.01"
        )
    alpha = float(slope)

    def gamma(s: Tensor) -> Tensor:
        return 0.5 * torch.where(s >= 0, s**2, alpha * s**2)

    return Activation(
        f"leaky_relu({alpha:g})",
        lambda s: functional.leaky_relu(s, alpha),
        gamma,
        1.0,
    )


#: The registry of named activations.
ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", torch.relu, _relu_gamma, 1.0),
    "leaky_relu": leaky_relu(0.01),
    "tanh": Activation("tanh", torch.tanh, _log_cosh, 1.0),
    "sigmoid": Activation("sigmoid", torch.sigmoid, _softplus, 0.25),
    "softplus": Activation("softplus", _softplus, _softplus_gamma, 1.0),
    "identity": Activation("identity", _identity, _half_square, 1.0),
}


def get_activation(activation: str | Activation) -> Activation:
    """Look up an activation by name (or pass an :class:`Activation` through).

    Raises:
        ConfigError: for an unknown name or a wrong type; the message lists the known names.
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str) and activation in ACTIVATIONS:
        return ACTIVATIONS[activation]
    raise ConfigError(
        f"unknown activation {activation!r} — expected one of {sorted(ACTIVATIONS)} or an "
        "Activation (e.g. leaky_relu(0.1)); pick a monotone activation from that list"
    )
