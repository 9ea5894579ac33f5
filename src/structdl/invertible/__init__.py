"""Invertible networks, normalising flows and memory-efficient backpropagation.

Every map here is a :class:`Bijection`: ``forward_and_logdet``, ``inverse_and_logdet`` and the
inverse as an object, ``.inv``. A flow maps data to the base distribution, ``z = f(x)``.
"""

from . import (
    _flow_checks,  # noqa: F401  (registers the flow checks for `structdl check`)
    _memory_checks,  # noqa: F401  (i-ResNet, reversible and ODE-bijection checks)
)
from .actnorm import ActNorm
from .autoregressive import MADE, MaskedAutoregressive
from .base import Bijection, Compose, Inverse
from .cnf import ContinuousFlow
from .conv import InvertibleConv1x1
from .coupling import AdditiveCoupling, AffineCoupling, SplineCoupling
from .fixed_point import FixedPoint
from .flow import Flow, StandardNormal
from .iresnet import IResNetBlock
from .linear import CayleyLinear, HouseholderLinear, LULinear, QRLinear
from .multiscale import MultiscaleFlow
from .ode_bijection import ODEBijection
from .reshape import HaarDownsample, Reverse, Squeeze
from .reversible import DriftReport, ReversibleSequential
from .revnet import RevNetBlock
from .volume_preserving import volume_preserving_network

__all__ = [
    "MADE",
    "ActNorm",
    "AdditiveCoupling",
    "AffineCoupling",
    "CayleyLinear",
    "ContinuousFlow",
    "Flow",
    "HaarDownsample",
    "HouseholderLinear",
    "InvertibleConv1x1",
    "LULinear",
    "MaskedAutoregressive",
    "MultiscaleFlow",
    "QRLinear",
    "Reverse",
    "SplineCoupling",
    "Squeeze",
    "StandardNormal",
    "Bijection",
    "Compose",
    "DriftReport",
    "FixedPoint",
    "IResNetBlock",
    "Inverse",
    "ODEBijection",
    "RevNetBlock",
    "ReversibleSequential",
    "volume_preserving_network",
]
