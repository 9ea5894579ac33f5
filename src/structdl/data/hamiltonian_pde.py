"""High-dimensional Hamiltonian systems: discretised wave equations, for model reduction.

The 1-D wave equation ``u_tt = c² u_xx − V'(u)`` on a periodic interval ``[0, L)``, discretised
by central differences on ``n`` points (``x_i = iΔx``, ``Δx = L/n``), is a canonical
Hamiltonian system on ``R^{2n}`` with ``q_i ≈ u(x_i)`` and ``p_i ≈ u_t(x_i)``::

    H(q, p) = Σ_i ½ p_i² + (c²/2Δx²) (q_{i+1} − q_i)² + V(q_i)        (indices mod n)
    q̇_i = p_i,    ṗ_i = (c²/Δx²)(q_{i+1} − 2q_i + q_{i−1}) − V'(q_i)

(``H`` is the physical energy divided by ``Δx``). ``V = 0`` gives the linear wave equation,
``V(u) = 1 − cos u`` the sine-Gordon equation. ``H`` is separable, so Störmer–Verlet
(:meth:`WaveChain.verlet`) integrates it explicitly and symplectically; its energy error stays
bounded by ``O(h²)`` over long times.

A *travelling bump* (:func:`travelling_bump`) — ``u(x, 0) = a·exp(−(x − x₀)²/w²)`` with the
velocity ``u_t = −c u_x`` of a right-moving d'Alembert wave — is transported around the ring:
the snapshots are shifted copies of one profile, whose linear span needs many modes. That is
the standard test where linear reduced bases (proper symplectic decomposition) are slow and
nonlinear symplectic autoencoders help (Peng & Mohseni 2016; Buchfink, Glas & Haasdonk 2023).
:func:`wave_transport` bundles training and test trajectories of bumps of several widths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .._errors import ConfigError, NonFiniteError
from ..structure._validate import require_flat_state, require_int
from ._validate import check_positive

__all__ = [
    "WAVE_POTENTIALS",
    "TransportData",
    "WaveChain",
    "travelling_bump",
    "wave_trajectories",
    "wave_transport",
]

#: The on-site potentials ``V`` of :class:`WaveChain`.
WAVE_POTENTIALS = ("linear", "sine_gordon")


@dataclass(frozen=True)
class WaveChain:
    """The wave equation on ``n`` periodic grid points: a Hamiltonian system on ``R^{2n}``.

    States are flat float tensors ``z = (q, p)`` of shape ``(batch, 2n)``.

    Args:
        n: grid points (degrees of freedom), ``n ≥ 3``.
        length: length ``L`` of the periodic interval.
        speed: wave speed ``c``.
        potential: ``"linear"`` (``V = 0``) or ``"sine_gordon"`` (``V(u) = 1 − cos u``).

    Example:
        >>> import torch
        >>> chain = WaveChain(n=32)
        >>> z = travelling_bump(chain, width=1.0)
        >>> z1 = chain.verlet(z, h=0.02, steps=250)
        >>> bool(abs(chain.energy(z1) - chain.energy(z)) < 1e-3 * chain.energy(z))
        True
    """

    n: int = 64
    length: float = 10.0
    speed: float = 1.0
    potential: str = "linear"

    def __post_init__(self) -> None:
        require_int(self.n, "n", "WaveChain", minimum=3)
        check_positive("length", self.length)
        check_positive("speed", self.speed)
        if self.potential not in WAVE_POTENTIALS:
            raise ConfigError(
                f"WaveChain: unknown potential {self.potential!r} — expected one of "
                f"{list(WAVE_POTENTIALS)} — received {self.potential!r} — pick one of those"
            )

    @property
    def dx(self) -> float:
        """Grid spacing ``Δx = L/n``."""
        return self.length / self.n

    def grid(self, dtype: torch.dtype = torch.float64) -> Tensor:
        """Grid points ``x_i = iΔx``, shape ``(n,)``."""
        return torch.arange(self.n, dtype=dtype) * self.dx

    def stable_step(self) -> float:
        """Störmer–Verlet's stability limit ``2/ω_max`` (``ω_max² = 4c²/Δx² + max V''``)."""
        curvature = 1.0 if self.potential == "sine_gordon" else 0.0
        return 2.0 / math.sqrt(4.0 * self.speed**2 / self.dx**2 + curvature)

    def _split(self, z: object) -> tuple[Tensor, Tensor]:
        n = self.n
        z = require_flat_state(z, 2 * n, "WaveChain")
        return z[:, :n], z[:, n:]

    def _difference(self, q: Tensor) -> Tensor:
        return torch.roll(q, -1, dims=1) - q  # q_{i+1} − q_i, periodic

    def _on_site(self, q: Tensor) -> Tensor:
        if self.potential == "sine_gordon":
            return (1.0 - torch.cos(q)).sum(dim=1)
        return q.new_zeros(q.shape[0])

    def force(self, q: Tensor) -> Tensor:
        """``−∂H/∂q = (c²/Δx²)(q_{i+1} − 2q_i + q_{i−1}) − V'(q_i)``, shape ``(batch, n)``."""
        laplacian = torch.roll(q, -1, dims=1) - 2.0 * q + torch.roll(q, 1, dims=1)
        force = (self.speed / self.dx) ** 2 * laplacian
        if self.potential == "sine_gordon":
            force = force - torch.sin(q)
        return force

    def energy(self, z: Tensor) -> Tensor:
        """``H(q, p)``, shape ``(batch,)``."""
        q, p = self._split(z)
        stiffness = 0.5 * (self.speed / self.dx) ** 2
        return (
            0.5 * p.pow(2).sum(dim=1)
            + stiffness * self._difference(q).pow(2).sum(dim=1)
            + self._on_site(q)
        )

    def vector_field(self, z: Tensor) -> Tensor:
        """``J ∇H(z) = (p, −∂H/∂q)``, shape ``(batch, 2n)``."""
        q, p = self._split(z)
        return torch.cat((p, self.force(q)), dim=1)

    def verlet(self, z: Tensor, h: float, steps: int) -> Tensor:
        """``steps`` Störmer–Verlet steps (kick–drift–kick) of size ``h`` from ``z``.

        Raises:
            ConfigError: ``h`` is not positive or exceeds :meth:`stable_step`.
        """
        h = check_positive("h", h)
        steps = require_int(steps, "steps", "WaveChain.verlet", minimum=0)
        if h >= self.stable_step():
            raise ConfigError(
                f"WaveChain.verlet: h is beyond Störmer–Verlet's stability limit — expected "
                f"h < {self.stable_step():.4g} — received h={h} — take a smaller step"
            )
        q, p = self._split(z)
        if steps == 0:
            return z
        p = p + 0.5 * h * self.force(q)
        for k in range(steps):
            q = q + h * p
            # A full kick between drifts, a half kick at the end (consecutive half kicks merge).
            p = p + (h if k < steps - 1 else 0.5 * h) * self.force(q)
        return torch.cat((q, p), dim=1)


def travelling_bump(
    chain: WaveChain,
    *,
    amplitude: float = 1.0,
    width: float = 1.0,
    center: float | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """A Gaussian bump moving right: ``q = a·exp(−d²/w²)``, ``p = −c ∂_x q``, shape ``(1, 2n)``.

    ``d`` is the periodic distance ``x − x₀`` wrapped to ``[−L/2, L/2)``. For the continuum
    linear wave equation this is the exact right-moving wave ``u(x, t) = q(x − ct)``.

    Args:
        chain: the system.
        amplitude: ``a``.
        width: ``w`` (well resolved when ``w`` spans several ``Δx``).
        center: ``x₀`` (default ``L/4``).
        dtype: ``torch.float64`` or ``torch.float32``.

    Example:
        >>> z = travelling_bump(WaveChain(n=16, length=4.0), width=0.8)
        >>> tuple(z.shape)
        (1, 32)
    """
    if isinstance(amplitude, bool) or not isinstance(amplitude, (int, float)):
        raise ConfigError(
            f"travelling_bump: amplitude must be a real number — expected e.g. 1.0 — "
            f"received {amplitude!r} — pass a float"
        )
    width = check_positive("width", width)
    x0 = chain.length / 4 if center is None else float(center)
    x = chain.grid(dtype)
    d = torch.remainder(x - x0 + chain.length / 2, chain.length) - chain.length / 2
    q = amplitude * torch.exp(-((d / width) ** 2))
    p = chain.speed * (2.0 * d / width**2) * q  # −c ∂_x q
    return torch.cat((q, p)).unsqueeze(0)


def wave_trajectories(
    chain: WaveChain,
    starts: Tensor,
    *,
    t_end: float,
    samples: int,
    substeps: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Störmer–Verlet trajectories sampled at ``samples`` equally spaced times on ``[0, t_end]``.

    Args:
        chain: the system.
        starts: initial states ``(m, 2n)``.
        t_end: final time.
        samples: number of sampled times (``≥ 2``; the first is ``t = 0``).
        substeps: Verlet steps between samples (default: the fewest with ``h ≤ Δx/(4c)``).

    Returns:
        ``(times, states)`` of shapes ``(samples,)`` and ``(m, samples, 2n)``.

    Example:
        >>> chain = WaveChain(n=16, length=4.0)
        >>> times, states = wave_trajectories(chain, travelling_bump(chain), t_end=1.0, samples=5)
        >>> tuple(states.shape)
        (1, 5, 32)
    """
    t_end = check_positive("t_end", t_end)
    samples = require_int(samples, "samples", "wave_trajectories", minimum=2)
    interval = t_end / (samples - 1)
    if substeps is None:
        substeps = max(1, math.ceil(interval / (0.25 * chain.dx / chain.speed)))
    substeps = require_int(substeps, "substeps", "wave_trajectories")
    chain._split(starts)  # validates the shape
    if not bool(torch.isfinite(starts).all()):
        raise NonFiniteError(
            "wave_trajectories: starts contain NaN or inf — expected finite states — received "
            "non-finite values — check the initial states"
        )
    states = [starts]
    for _ in range(samples - 1):
        states.append(chain.verlet(states[-1], interval / substeps, substeps))
    times = torch.linspace(0.0, t_end, samples, dtype=starts.dtype)
    return times, torch.stack(states, dim=1)


@dataclass(frozen=True)
class TransportData:
    """Trajectories of travelling bumps: snapshot data for model reduction.

    Attributes:
        chain: the system that generated them.
        times: sample times ``(samples,)``.
        train: training trajectories ``(len(train_widths), samples, 2n)``.
        test: test trajectories ``(len(test_widths), samples, 2n)`` (widths not trained on).
        train_widths: bump widths of the training trajectories.
        test_widths: bump widths of the test trajectories.
    """

    chain: WaveChain
    times: Tensor
    train: Tensor
    test: Tensor
    train_widths: tuple[float, ...]
    test_widths: tuple[float, ...]

    def snapshots(self, split: str = "train") -> Tensor:
        """All states of a split as one snapshot matrix, shape ``(trajectories·samples, 2n)``."""
        if split not in ("train", "test"):
            raise ConfigError(
                f"TransportData.snapshots: unknown split {split!r} — expected 'train' or "
                f"'test' — received {split!r} — pick one of those"
            )
        states = self.train if split == "train" else self.test
        return states.reshape(-1, states.shape[-1])


def wave_transport(
    n: int = 64,
    *,
    length: float = 10.0,
    speed: float = 1.0,
    potential: str = "linear",
    train_widths: tuple[float, ...] = (0.6, 0.8, 1.0, 1.2),
    test_widths: tuple[float, ...] = (0.7, 1.1),
    t_end: float = 5.0,
    samples: int = 101,
) -> TransportData:
    """Travelling bumps of several widths on :class:`WaveChain`, for training and testing.

    Each bump starts at ``x₀ = L/4`` with amplitude 1 and moves right at speed ``c``; by
    default it travels half the ring (``t_end = L/(2c)``), i.e. several of its widths.

    Args:
        n: grid points.
        length: ``L``.
        speed: ``c``.
        potential: ``"linear"`` or ``"sine_gordon"``.
        train_widths: widths of the training bumps.
        test_widths: widths of the held-out bumps.
        t_end: final time.
        samples: sampled times per trajectory.

    Example:
        >>> data = wave_transport(16, length=4.0, train_widths=(0.5,), test_widths=(0.6,),
        ...                       t_end=1.0, samples=3)
        >>> tuple(data.snapshots("train").shape), tuple(data.test.shape)
        ((3, 32), (1, 3, 32))
    """
    chain = WaveChain(n, length, speed, potential)
    trajectories = []
    for widths in (train_widths, test_widths):
        if not isinstance(widths, tuple) or not widths:
            raise ConfigError(
                f"wave_transport: widths must be a non-empty tuple — expected e.g. (0.8, 1.0) "
                f"— received {widths!r} — pass a tuple of positive floats"
            )
        starts = torch.cat([travelling_bump(chain, width=w) for w in widths])
        times, states = wave_trajectories(chain, starts, t_end=t_end, samples=samples)
        trajectories.append(states)
    return TransportData(
        chain, times, trajectories[0], trajectories[1], tuple(train_widths), tuple(test_widths)
    )
