"""Invertible networks, normalising flows and memory-efficient backpropagation.

Every map here is a :class:`Bijection`: ``forward_and_logdet``, ``inverse_and_logdet`` and the
inverse as an object, ``.inv``. A flow maps data to the base distribution, ``z = f(x)``.
"""

from .base import Bijection, Compose, Inverse
from .iresnet import IResNetBlock
from .ode_bijection import ODEBijection
from .reversible import DriftReport, ReversibleSequential
from .revnet import RevNetBlock, volume_preserving_network

__all__ = [
    "Bijection",
    "Compose",
    "DriftReport",
    "IResNetBlock",
    "Inverse",
    "ODEBijection",
    "RevNetBlock",
    "ReversibleSequential",
    "volume_preserving_network",
]
