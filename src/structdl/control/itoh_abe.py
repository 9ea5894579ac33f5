"""Derivative-free descent by the Itoh–Abe discrete gradient.

The gradient flow ``x' = −∇V(x)`` discretised with the Itoh–Abe discrete gradient updates one
coordinate at a time: coordinate ``i`` moves by ``α`` solving the scalar equation

    (V(x + α e_i) − V(x)) / α = −α / τ,   i.e.   ψ(α) = V(x + α e_i) − V(x) + α²/τ = 0,  α ≠ 0

so that ``V(x + α e_i) = V(x) − α²/τ``: the objective decreases for EVERY step size ``τ > 0``,
using values of ``V`` only (Riis, Ehrhardt, Quispel & Schönlieb, Found. Comput. Math. 2022).
The root is bracketed (a small probe in both directions, doubled until ``ψ`` turns
non-negative) and refined by bisection, always keeping the end with ``ψ ≤ 0``; that end is the
accepted step, so ``V`` decreases by at least ``α²/τ`` even when the root is only approximate.
Where no probe finds ``ψ < 0`` (a coordinate-wise minimum at the probe's resolution), ``α = 0``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .._errors import ConfigError, ShapeError
from ..structure.declarations import ALWAYS, Claim
from ..structure.properties import Dissipative

__all__ = ["ItohAbeDescent"]


def _positive(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{what} must be a positive number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{what} must be finite, got {value!r}")
    return float(value)


class ItohAbeDescent:
    """One call = one sweep of Itoh–Abe coordinate updates on a batch of points.

    Args:
        objective: ``V``, batched: ``(n, dim) -> (n,)``; only its values are used.
        tau: the step size ``τ > 0`` (any value: the decrease holds for all).
        probe: the first trial step of each coordinate.
        bisections: bisection steps per coordinate.

    Example:
        >>> V = lambda x: ((x - 1.0) ** 2).sum(-1)
        >>> descent = ItohAbeDescent(V, tau=0.5)
        >>> x = torch.zeros(1, 3, dtype=torch.float64)
        >>> for _ in range(20):
        ...     x = descent(x)
        >>> float(V(x)) < 1e-6
        True
    """

    claims = (
        Claim(
            Dissipative("energy"),
            when=ALWAYS,
            reason="each accepted coordinate step has ψ(α) = V(x+αe_i) − V(x) + α²/τ ≤ 0, so V "
            "decreases by at least α²/τ ≥ 0 for every step size τ > 0",
        ),
    )

    def __init__(
        self,
        objective: Callable[[Tensor], Tensor],
        tau: float,
        *,
        probe: float = 1e-3,
        bisections: int = 40,
        max_doublings: int = 60,
    ) -> None:
        if not callable(objective):
            raise ConfigError(f"objective must be callable, got {type(objective).__name__}")
        self.objective = objective
        self.tau = _positive(tau, "tau")
        self.probe = _positive(probe, "probe")
        if isinstance(bisections, bool) or not isinstance(bisections, int) or bisections < 1:
            raise ConfigError(f"bisections must be a positive int, got {bisections!r}")
        self.bisections = bisections
        self.max_doublings = max_doublings
        self.evaluations = 0

    def energy(self, x: Tensor) -> Tensor:
        """``V(x)``, shape ``(n,)`` (the dissipated energy)."""
        return self._value(x)

    def _value(self, x: Tensor) -> Tensor:
        self.evaluations += 1
        with torch.no_grad():
            value = self.objective(x)
        if not isinstance(value, Tensor) or value.shape != x.shape[:1]:
            raise ShapeError(
                f"objective must map (n, dim) to (n,) — received shape "
                f"{getattr(value, 'shape', type(value).__name__)} for input {tuple(x.shape)}"
            )
        return value

    def __call__(self, x: Tensor) -> Tensor:
        """One sweep over all coordinates; returns the new points ``(n, dim)``."""
        if not isinstance(x, Tensor) or x.dim() != 2 or not x.is_floating_point():
            raise ShapeError(
                f"ItohAbeDescent expects floating points (n, dim), got "
                f"{getattr(x, 'shape', type(x).__name__)}"
            )
        x = x.detach().clone()
        value = self._value(x)
        for i in range(x.shape[1]):
            alpha, new_value = self._coordinate(x, value, i)
            x[:, i] += alpha
            value = torch.where(alpha != 0, new_value, value)
        return x

    def step(self, x: Tensor) -> Tensor:
        """Alias of calling the object (one sweep)."""
        return self(x)

    def _psi(self, x: Tensor, value: Tensor, i: int, alpha: Tensor) -> tuple[Tensor, Tensor]:
        trial = x.clone()
        trial[:, i] += alpha
        new = self._value(trial)
        psi = new - value + alpha**2 / self.tau
        return torch.where(torch.isfinite(psi), psi, torch.full_like(psi, math.inf)), new

    def _coordinate(self, x: Tensor, value: Tensor, i: int) -> tuple[Tensor, Tensor]:
        n = x.shape[0]
        zero = torch.zeros(n, dtype=x.dtype)
        # Direction and a step with ψ < 0, shrinking the probe when both directions fail.
        lo = torch.full((n,), self.probe, dtype=x.dtype)
        direction = zero.clone()
        found = torch.zeros(n, dtype=torch.bool)
        lo_value = value.clone()
        for _ in range(30):
            for sign in (1.0, -1.0):
                psi, new = self._psi(x, value, i, sign * lo)
                take = (~found) & (psi < 0)
                direction = torch.where(take, torch.full_like(direction, sign), direction)
                lo_value = torch.where(take, new, lo_value)
                found = found | take
            if bool(found.all()):
                break
            lo = torch.where(found, lo, 0.5 * lo)
        if not bool(found.any()):
            return zero, value
        # Double until ψ ≥ 0: the root lies in (lo, hi].
        hi = torch.full_like(lo, math.inf)
        for _ in range(self.max_doublings):
            open_ = found & torch.isinf(hi)
            if not bool(open_.any()):
                break
            trial = torch.where(open_, 2.0 * lo, lo)
            psi, new = self._psi(x, value, i, direction * trial)
            up = open_ & (psi < 0)
            lo_value = torch.where(up, new, lo_value)
            hi = torch.where(open_ & (psi >= 0), trial, hi)
            lo = torch.where(up, trial, lo)
        # Bisection, keeping the end with ψ < 0 (the accepted step).
        bounded = found & torch.isfinite(hi)
        for _ in range(self.bisections):
            if not bool(bounded.any()):
                break
            mid = torch.where(bounded, 0.5 * (lo + hi), lo)
            psi, new = self._psi(x, value, i, direction * mid)
            down = bounded & (psi < 0)
            lo = torch.where(down, mid, lo)
            lo_value = torch.where(down, new, lo_value)
            hi = torch.where(bounded & (psi >= 0), mid, hi)
        alpha = torch.where(found, direction * lo, zero)
        return alpha, torch.where(found, lo_value, value)
