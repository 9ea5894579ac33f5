"""Kinetic energies ``T(p)`` of the conformal Hamiltonian optimisers.

A kinetic energy acts on momenta of shape ``(batch, …)`` and reduces over every axis but the
first (one energy per batch row; an optimiser passes its whole parameter vector as one row).
Every one here is convex with its minimum at ``p = 0``, which is what makes the conformal
Hamiltonian flow dissipate ``H = T(p) + f(q)``: ``dH/dt = −γ ⟨p, ∇T(p)⟩ ≤ 0``. A kinetic
energy whose parameters would make it non-convex is rejected at construction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, final

import torch
from torch import Tensor

from .._errors import ConfigError
from ._validate import positive

__all__ = ["KineticEnergy", "PowerKinetic", "QuadraticKinetic", "RelativisticKinetic"]


def _sq_norm(p: Tensor) -> Tensor:
    """``‖p‖²`` per batch row, shaped to broadcast against ``p``."""
    return (p * p).reshape(p.shape[0], -1).sum(dim=1).reshape((-1,) + (1,) * (p.dim() - 1))


class KineticEnergy(ABC):
    """A convex kinetic energy ``T(p)`` with its minimum at 0 and its gradient ``∇T(p)``."""

    #: Declared convexity; the optimisers refuse a kinetic energy that does not declare it.
    convex: ClassVar[bool] = True

    @abstractmethod
    def energy(self, p: Tensor) -> Tensor:
        """``T(p)`` per batch row, shape ``(batch,)``."""

    @abstractmethod
    def grad(self, p: Tensor) -> Tensor:
        """``∇T(p)``, shape of ``p``."""


@final
class QuadraticKinetic(KineticEnergy):
    """``T(p) = ‖p‖²/(2m)``, ``∇T = p/m``: classical momentum (heavy ball).

    Args:
        mass: m > 0.

    Example:
        >>> import torch
        >>> QuadraticKinetic(2.0).grad(torch.ones(1, 3)).tolist()
        [[0.5, 0.5, 0.5]]
    """

    def __init__(self, mass: float = 1.0) -> None:
        self.mass = positive(mass, "mass", "QuadraticKinetic")

    def energy(self, p: Tensor) -> Tensor:
        """``‖p‖²/(2m)``."""
        return _sq_norm(p).reshape(-1) / (2.0 * self.mass)

    def grad(self, p: Tensor) -> Tensor:
        """``p/m``."""
        return p / self.mass


@final
class RelativisticKinetic(KineticEnergy):
    """``T(p) = c √(‖p‖² + m²c²)``, ``∇T = c p / √(‖p‖² + m²c²)``: speed capped at ``c``.

    The kinetic energy of relativistic gradient descent (França, Sulam, Robinson & Vidal
    2020): ``‖∇T‖ < c`` whatever the momentum, which stabilises large steps; ``c → ∞`` recovers
    the quadratic energy (heavy ball), ``m → 0`` a normalised-gradient method.

    Args:
        speed: c > 0. mass: m > 0.
    """

    def __init__(self, speed: float = 1.0, mass: float = 1.0) -> None:
        self.speed = positive(speed, "speed", "RelativisticKinetic")
        self.mass = positive(mass, "mass", "RelativisticKinetic")

    def _root(self, p: Tensor) -> Tensor:
        return torch.sqrt(_sq_norm(p) + (self.mass * self.speed) ** 2)

    def energy(self, p: Tensor) -> Tensor:
        """``c √(‖p‖² + m²c²)``."""
        return (self.speed * self._root(p)).reshape(-1)

    def grad(self, p: Tensor) -> Tensor:
        """``c p / √(‖p‖² + m²c²)``."""
        return self.speed * p / self._root(p)


@final
class PowerKinetic(KineticEnergy):
    """``T(p) = ((‖p‖^a + 1)^{A/a} − 1)/A``: the power kinetic energies of Hamiltonian descent.

    Maddison, Paulin, Teh, O'Donoghue & Doucet (2018): when ``f`` grows like ``‖x‖^b`` near its
    minimum, the kinetic energy matched to its convex conjugate has power ``A = b/(b − 1)``
    (``A = 4/3`` for ``‖x‖⁴``), and conformal Hamiltonian descent then converges linearly
    although ``f`` is not strongly convex. ``a`` smooths the energy at 0 (``a = A`` gives the
    pure power ``‖p‖^A / A``). Convex exactly when ``A ≥ 1`` and ``a ≥ 1``; other values raise.

    Args:
        power: A ≥ 1.
        smoothing: a ≥ 1 (default ``A``: the pure power).

    Raises:
        ConfigError: ``A < 1`` or ``a < 1`` (a non-convex kinetic energy).

    Example:
        >>> import torch
        >>> T = PowerKinetic(4 / 3)
        >>> round(float(T.energy(torch.tensor([[8.0]]))), 6)  # |p|^{4/3} / (4/3) = 16 · 3/4
        12.0
    """

    def __init__(self, power: float, smoothing: float | None = None) -> None:
        who = "PowerKinetic"
        self.power = positive(power, "power", who)
        self.smoothing = self.power if smoothing is None else positive(smoothing, "smoothing", who)
        if self.power < 1.0 or self.smoothing < 1.0:
            raise ConfigError(
                f"{who}: the kinetic energy is not convex — expected power ≥ 1 and smoothing ≥ 1 "
                f"(T(p) = ((‖p‖^a + 1)^(A/a) − 1)/A is convex only then) — received power="
                f"{self.power:g}, smoothing={self.smoothing:g} — use e.g. power=4/3 for f ~ ‖x‖⁴"
            )

    def energy(self, p: Tensor) -> Tensor:
        """``((‖p‖^a + 1)^{A/a} − 1)/A``."""
        a, big_a = self.smoothing, self.power
        norm = _sq_norm(p).sqrt().reshape(-1)
        return ((norm**a + 1.0) ** (big_a / a) - 1.0) / big_a

    def grad(self, p: Tensor) -> Tensor:
        """``(‖p‖^a + 1)^{A/a − 1} ‖p‖^{a − 2} p``, continuous at 0 for ``a > 1``."""
        a, big_a = self.smoothing, self.power
        sq = _sq_norm(p)
        norm = sq.sqrt()
        safe = torch.where(norm > 0, norm, torch.ones_like(norm))
        scale = (norm**a + 1.0) ** (big_a / a - 1.0) * safe ** (a - 2.0)
        return torch.where(norm > 0, scale, torch.zeros_like(scale)) * p
