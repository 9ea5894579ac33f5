"""Noisy trajectories of the pendulum and the mass–spring system, for learning dynamics.

- ``"pendulum"``: ``H = ½p² + (1 − cos q)``, integrated with classical RK4 on
  :class:`structdl.dynamics.Pendulum` with ``substeps`` steps per sample interval (global error
  ``O((dt/substeps)⁴)``, about 1e-10 for the defaults);
- ``"mass_spring"``: ``H = ½p² + ½q²`` (unit mass and stiffness), sampled from the closed-form
  solution of :class:`structdl.dynamics.HarmonicOscillator`.

Initial conditions lie on random orbits: an amplitude ``a ~ U[a_min, a_max]`` fixes the energy
``H = V(a)``, and the start is the point of that orbit with ``q₀ = a·cos φ``, ``φ ~ U[0, 2π)``,
and ``p₀ = ±√(2(H − V(q₀)))``. Gaussian noise of standard deviation ``noise`` is added to the
sampled ``q`` and ``p`` (the clean values are kept for evaluation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .._errors import ConfigError
from ..structure._validate import require_int
from ._validate import check_dtype, check_nonnegative, check_positive

__all__ = ["PHYSICS_SYSTEMS", "Trajectories", "make_trajectories", "true_energy"]

#: Systems accepted by :func:`make_trajectories`.
PHYSICS_SYSTEMS: tuple[str, ...] = ("pendulum", "mass_spring")


@dataclass(frozen=True)
class Trajectories:
    """Sampled trajectories of one system.

    Attributes:
        system: ``"pendulum"`` or ``"mass_spring"``.
        t: sample times ``k·dt``, shape ``(n_steps + 1,)``.
        q: clean positions, shape ``(n_trajectories, n_steps + 1, 1)``.
        p: clean momenta, same shape.
        q_noisy: ``q`` plus noise.
        p_noisy: ``p`` plus noise.
        dt: sample interval.
        noise: noise standard deviation.
    """

    system: str
    t: Tensor
    q: Tensor
    p: Tensor
    q_noisy: Tensor
    p_noisy: Tensor
    dt: float
    noise: float

    def energy(self, q: Tensor, p: Tensor) -> Tensor:
        """The true Hamiltonian of the system at ``(q, p)`` (any leading shape, last axis 1)."""
        return true_energy(self.system, q, p)


def true_energy(system: str, q: Tensor, p: Tensor) -> Tensor:
    """``H(q, p)`` of ``system``, summed over the last axis."""
    _check_system(system)
    kinetic = 0.5 * (p * p).sum(-1)
    if system == "pendulum":
        return kinetic + (1.0 - torch.cos(q)).sum(-1)
    return kinetic + 0.5 * (q * q).sum(-1)


def _check_system(system: str) -> None:
    if system not in PHYSICS_SYSTEMS:
        raise ConfigError(
            f"unknown system {system!r} — expected one of {', '.join(PHYSICS_SYSTEMS)} — got "
            f"{system!r} — pick one of structdl.data.physics.PHYSICS_SYSTEMS"
        )


def _potential(system: str, q: Tensor) -> Tensor:
    return 1.0 - torch.cos(q) if system == "pendulum" else 0.5 * q * q


def _initial_states(
    system: str, n: int, amplitude: tuple[float, float], generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    lo, hi = amplitude
    f64 = torch.float64
    a = lo + (hi - lo) * torch.rand(n, 1, generator=generator, dtype=f64)
    phase = 2.0 * math.pi * torch.rand(n, 1, generator=generator, dtype=f64)
    q0 = a * torch.cos(phase)
    energy = _potential(system, a)
    # clamp: round-off can make H − V(q₀) slightly negative at the turning points.
    p0 = torch.sqrt((2.0 * (energy - _potential(system, q0))).clamp_min(0.0))
    p0 = torch.where(torch.sin(phase) >= 0, p0, -p0)
    return q0, p0


def make_trajectories(
    system: str,
    n_trajectories: int = 16,
    n_steps: int = 40,
    *,
    dt: float = 0.1,
    noise: float = 0.01,
    amplitude: tuple[float, float] = (0.2, 1.2),
    substeps: int = 10,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> Trajectories:
    """Sample ``n_trajectories`` trajectories of ``n_steps`` intervals ``dt`` and add noise.

    Args:
        system: ``"pendulum"`` or ``"mass_spring"``.
        n_trajectories: number of initial conditions.
        n_steps: intervals per trajectory (``n_steps + 1`` samples).
        dt: sample interval.
        noise: standard deviation of the Gaussian noise on ``q`` and ``p``.
        amplitude: range ``(a_min, a_max)`` of the orbit amplitudes; for the pendulum
            ``a_max < π`` (below the separatrix).
        substeps: RK4 steps per interval (pendulum only).
        seed: seeds the initial conditions and the noise.
        dtype: float32 or float64 (computed in float64, then converted).

    Raises:
        ConfigError: unknown system or invalid number.
    """
    _check_system(system)
    require_int(n_trajectories, "n_trajectories", minimum=1)
    require_int(n_steps, "n_steps", minimum=1)
    require_int(substeps, "substeps", minimum=1)
    require_int(seed, "seed", minimum=0)
    check_positive("dt", dt)
    check_nonnegative("noise", noise)
    check_dtype(dtype)
    lo, hi = (
        check_nonnegative("amplitude[0]", amplitude[0]),
        check_positive("amplitude[1]", amplitude[1]),
    )
    if lo > hi or (system == "pendulum" and hi >= math.pi):
        raise ConfigError(
            f"invalid amplitude range — expected 0 ≤ a_min ≤ a_max (and a_max < π for the "
            f"pendulum) — got {amplitude} — pass e.g. amplitude=(0.2, 1.2)"
        )
    generator = torch.Generator().manual_seed(seed)
    q0, p0 = _initial_states(system, n_trajectories, (lo, hi), generator)
    qs, ps = [q0], [p0]
    if system == "mass_spring":
        from ..dynamics import HarmonicOscillator

        oscillator = HarmonicOscillator()
        for k in range(1, n_steps + 1):
            q, p = oscillator.exact_solution(k * dt, q0, p0)
            qs.append(q)
            ps.append(p)
    else:
        from ..dynamics import Pendulum, RungeKutta

        pendulum, rk4 = Pendulum(), RungeKutta("rk4")
        state = (q0, p0)
        h = dt / substeps
        with torch.no_grad():
            for _ in range(n_steps):
                for _ in range(substeps):
                    state = rk4.step(pendulum, 0.0, state, h)
                qs.append(state[0])
                ps.append(state[1])
    q = torch.stack(qs, dim=1)
    p = torch.stack(ps, dim=1)
    q_noisy = q + noise * torch.randn(q.shape, generator=generator, dtype=torch.float64)
    p_noisy = p + noise * torch.randn(p.shape, generator=generator, dtype=torch.float64)
    t = dt * torch.arange(n_steps + 1, dtype=torch.float64)
    return Trajectories(
        system=system,
        t=t.to(dtype),
        q=q.to(dtype),
        p=p.to(dtype),
        q_noisy=q_noisy.to(dtype),
        p_noisy=p_noisy.to(dtype),
        dt=float(dt),
        noise=float(noise),
    )
