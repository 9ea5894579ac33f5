"""Volume-preserving networks: stacks of RevNet blocks (pairs of additive shears).

Its own module because it builds on both :mod:`.revnet` (the blocks) and :mod:`.reversible`
(the memory-efficient container), which itself knows RevNet blocks.
"""

from __future__ import annotations

from torch import nn

from .._errors import ConfigError
from .base import Bijection, Compose
from .reversible import ReversibleSequential
from .revnet import RevNetBlock

__all__ = ["volume_preserving_network"]


def _mlp(width_in: int, width_out: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(width_in, hidden), nn.Tanh(), nn.Linear(hidden, width_out))


def volume_preserving_network(
    features: int, depth: int, hidden: int = 64, *, memory_efficient: bool = True
) -> Bijection:
    """A volume-preserving network: ``depth`` RevNet blocks (pairs of shears) with MLP shifts.

    Every block is a composition of two shears, so the network has ``log|det| = 0`` and an
    explicit inverse (NICE-style measure-preserving model). With ``memory_efficient=True`` it
    is a :class:`~structdl.invertible.ReversibleSequential` (activations not stored), otherwise
    a :class:`~structdl.invertible.Compose`.

    Example:
        >>> import torch
        >>> net = volume_preserving_network(4, depth=3, hidden=8).double()
        >>> x = torch.randn(2, 4, dtype=torch.float64)
        >>> float(net.forward_and_logdet(x)[1].detach().abs().max())
        0.0
    """
    for name, value, low in (("features", features, 2), ("depth", depth, 1), ("hidden", hidden, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(
                f"volume_preserving_network: {name} must be an int ≥ {low} — received {value!r}"
            )
    first = features // 2
    second = features - first
    blocks = [
        RevNetBlock(_mlp(second, first, hidden), _mlp(first, second, hidden)) for _ in range(depth)
    ]
    return ReversibleSequential(*blocks) if memory_efficient else Compose(blocks)
