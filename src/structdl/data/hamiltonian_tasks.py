"""Benchmark data for learning Hamiltonian dynamics, generated in the package (no downloads).

The settings follow the two public benchmarks that Hamiltonian-learning libraries are compared
on, restated here in our own terms:

* the four tasks of *Hamiltonian Neural Networks* (Greydanus, Dzamba & Yosinski 2019) —
  :func:`hnn_task`:

  ============  =========================================  =======================================
  task          Hamiltonian ``H(q, p)``                    data
  ============  =========================================  =======================================
  mass_spring   ``q² + p²``                                50 orbits, radius ~ U[0.1, 1], 30
                                                           samples on t ∈ [0, 3], noise σ = 0.1
  pendulum      ``3(1 − cos q) + p²``                      50 orbits, radius ~ U[1.3, 2.3], 45
                                                           samples on t ∈ [0, 3], noise σ = 0.1
  two_body      ``½|p|² − 1/|q₁ − q₂|`` (unit masses, G=1)  1000 near-circular orbits, 50 samples
                                                           on t ∈ [0, 20], no noise
  three_body    ``½|p|² − Σ_{i<j} 1/|q_i − q_j|``           5000 perturbed circular orbits, 20
                                                           samples on t ∈ [0, 5], no noise
  ============  =========================================  =======================================

  Inputs are the (noisy) states, targets the exact time derivatives at the clean states;
  mass–spring and pendulum split the samples half/half in order, the orbit tasks hold out the
  first 20 %. Coordinates of the body problems are ``(q_x1, q_x2(, q_x3), q_y…, p_x…, p_y…)``.
  :func:`energy_protocol` draws the initial states the energy test integrates from (15 per
  task) and its time grid.
* the pendulum of *SympNets* (Jin et al. 2020) — :func:`sympnet_pendulum`: ``H = ½p² − cos q``,
  ``(q₀, p₀) = (1, 0)``, step ``h = 0.1``, 40 consecutive training pairs, the next 100 as test
  pairs, and a 1000-step reference rollout from the first test state;
* trajectories of the double pendulum and of the Hénon–Heiles system — :func:`trajectories`.

Reference solutions are computed in float64 by classical RK4 with many substeps (or in closed
form for the mass–spring system), accurate to ~1e-10 or better on these horizons.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .._errors import ConfigError
from ..structure._validate import require_int
from ._validate import check_nonnegative, check_positive

__all__ = [
    "HNN_TASKS",
    "DerivativeData",
    "EnergyProtocol",
    "PairData",
    "TRAJECTORY_SYSTEMS",
    "energy_protocol",
    "hamiltonian",
    "hnn_task",
    "integrate",
    "sympnet_pendulum",
    "three_body_states",
    "trajectories",
    "two_body_states",
    "vector_field",
]

#: The tasks of :func:`hnn_task`, with their degrees of freedom.
HNN_TASKS: dict[str, int] = {"mass_spring": 1, "pendulum": 1, "two_body": 4, "three_body": 6}
#: Systems of :func:`trajectories` (plus every HNN task), with their degrees of freedom.
TRAJECTORY_SYSTEMS: dict[str, int] = {
    **HNN_TASKS,
    "sympnet_pendulum": 1,
    "double_pendulum": 2,
    "henon_heiles": 2,
}

F64 = torch.float64


def _check_system(system: str, known: dict[str, int]) -> int:
    if system not in known:
        raise ConfigError(
            f"unknown system {system!r} — expected one of {sorted(known)} — received "
            f"{system!r} — pick one of those"
        )
    return known[system]


def _bodies(z: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """Positions and momenta ``(…, n, 2)`` from flat ``(…, 4n)`` coordinates."""
    q = torch.stack((z[..., :n], z[..., n : 2 * n]), dim=-1)
    p = torch.stack((z[..., 2 * n : 3 * n], z[..., 3 * n :]), dim=-1)
    return q, p


def _pairs(n: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def _gravity_energy(z: Tensor, n: int) -> Tensor:
    """``½|p|² − Σ_{i<j} 1/|q_i − q_j|`` (unit masses, G = 1)."""
    q, p = _bodies(z, n)
    potential = sum(1.0 / (q[..., j, :] - q[..., i, :]).norm(dim=-1) for i, j in _pairs(n))
    return 0.5 * (p * p).sum(dim=(-1, -2)) - potential


def _gravity_field(z: Tensor, n: int) -> Tensor:
    """``(p, a)`` with ``a_i = Σ_j (q_j − q_i)/|q_j − q_i|³``, one pass per pair (n ≤ 3)."""
    qx, qy = z[..., :n], z[..., n : 2 * n]
    ax, ay = torch.zeros_like(qx), torch.zeros_like(qy)
    for i, j in _pairs(n):
        dx, dy = qx[..., j] - qx[..., i], qy[..., j] - qy[..., i]
        inv3 = (dx * dx + dy * dy) ** -1.5
        ax[..., i] += dx * inv3
        ay[..., i] += dy * inv3
        ax[..., j] -= dx * inv3
        ay[..., j] -= dy * inv3
    return torch.cat((z[..., 2 * n :], ax, ay), dim=-1)


def _double_pendulum_parts(z: Tensor) -> tuple[Tensor, ...]:
    q1, q2, p1, p2 = z.unbind(-1)
    c, s = torch.cos(q1 - q2), torch.sin(q1 - q2)
    denom = 1.0 + s * s  # unit masses and lengths, g = 1: M = [[2, c], [c, 1]], det = 1 + s²
    return q1, q2, p1, p2, c, s, denom


def _double_pendulum_energy(z: Tensor) -> Tensor:
    q1, q2, p1, p2, c, _, denom = _double_pendulum_parts(z)
    kinetic = (p1 * p1 + 2.0 * p2 * p2 - 2.0 * p1 * p2 * c) / (2.0 * denom)
    return kinetic - 2.0 * torch.cos(q1) - torch.cos(q2)


def _double_pendulum_field(z: Tensor) -> Tensor:
    q1, q2, p1, p2, c, s, denom = _double_pendulum_parts(z)
    dq1 = (p1 - p2 * c) / denom
    dq2 = (2.0 * p2 - p1 * c) / denom
    a = p1 * p2 * s / denom
    b = (p1 * p1 + 2.0 * p2 * p2 - 2.0 * p1 * p2 * c) * s * c / (denom * denom)
    dp1 = -2.0 * torch.sin(q1) - a + b
    dp2 = -torch.sin(q2) + a - b
    return torch.stack((dq1, dq2, dp1, dp2), dim=-1)


_ENERGIES: dict[str, Callable[[Tensor], Tensor]] = {
    "mass_spring": lambda z: z[..., 0] ** 2 + z[..., 1] ** 2,
    "pendulum": lambda z: 3.0 * (1.0 - torch.cos(z[..., 0])) + z[..., 1] ** 2,
    "two_body": lambda z: _gravity_energy(z, 2),
    "three_body": lambda z: _gravity_energy(z, 3),
    "sympnet_pendulum": lambda z: 0.5 * z[..., 1] ** 2 - torch.cos(z[..., 0]),
    "double_pendulum": _double_pendulum_energy,
    "henon_heiles": lambda z: (
        0.5 * (z[..., 2:] ** 2).sum(-1)
        + 0.5 * (z[..., :2] ** 2).sum(-1)
        + z[..., 0] ** 2 * z[..., 1]
        - z[..., 1] ** 3 / 3.0
    ),
}

_FIELDS: dict[str, Callable[[Tensor], Tensor]] = {
    "mass_spring": lambda z: torch.stack((2.0 * z[..., 1], -2.0 * z[..., 0]), dim=-1),
    "pendulum": lambda z: torch.stack((2.0 * z[..., 1], -3.0 * torch.sin(z[..., 0])), dim=-1),
    "two_body": lambda z: _gravity_field(z, 2),
    "three_body": lambda z: _gravity_field(z, 3),
    "sympnet_pendulum": lambda z: torch.stack((z[..., 1], -torch.sin(z[..., 0])), dim=-1),
    "double_pendulum": _double_pendulum_field,
    "henon_heiles": lambda z: torch.stack(
        (
            z[..., 2],
            z[..., 3],
            -z[..., 0] - 2.0 * z[..., 0] * z[..., 1],
            -z[..., 1] - z[..., 0] ** 2 + z[..., 1] ** 2,
        ),
        dim=-1,
    ),
}


def hamiltonian(system: str) -> Callable[[Tensor], Tensor]:
    """The true energy ``H(z)`` of ``system`` on flat states ``(…, 2d)`` → ``(…)``.

    Example:
        >>> import torch
        >>> float(hamiltonian("mass_spring")(torch.tensor([[1.0, 1.0]]))[0])
        2.0
    """
    _check_system(system, TRAJECTORY_SYSTEMS)
    return _ENERGIES[system]


def vector_field(system: str) -> Callable[[Tensor], Tensor]:
    """The true field ``J∇H(z)`` of ``system`` on flat states ``(…, 2d)``."""
    _check_system(system, TRAJECTORY_SYSTEMS)
    return _FIELDS[system]


def integrate(
    field: Callable[[Tensor], Tensor], z0: Tensor, times: Tensor, substeps: int = 100
) -> Tensor:
    """Classical RK4 with ``substeps`` steps per interval of ``times``: ``(n, len(times), D)``.

    Args:
        field: autonomous field on ``(n, D)`` states.
        z0: initial states ``(n, D)``.
        times: increasing sample times ``(T,)``; ``z0`` is the state at ``times[0]``.
        substeps: RK4 steps per sample interval.
    """
    require_int(substeps, "substeps", minimum=1)
    states = [z0]
    z = z0
    with torch.no_grad():
        for t0, t1 in zip(times[:-1].tolist(), times[1:].tolist(), strict=True):
            h = (t1 - t0) / substeps
            for _ in range(substeps):
                k1 = field(z)
                k2 = field(z + 0.5 * h * k1)
                k3 = field(z + 0.5 * h * k2)
                k4 = field(z + h * k3)
                z = z + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            states.append(z)
    return torch.stack(states, dim=1)


@dataclass(frozen=True)
class DerivativeData:
    """Inputs and exact time derivatives of one HNN task.

    Attributes:
        system: the task name.
        x: training states ``(N, 2d)`` (noisy for mass–spring and pendulum).
        dx: exact derivatives at the clean states ``(N, 2d)``.
        test_x: held-out states.
        test_dx: their exact derivatives.
        noise: standard deviation of the input noise.
    """

    system: str
    x: Tensor
    dx: Tensor
    test_x: Tensor
    test_dx: Tensor
    noise: float


def _rotate(v: Tensor, angle: float | Tensor) -> Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.stack((c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]), dim=-1)


def _flat_bodies(q: Tensor, p: Tensor) -> Tensor:
    """Flat coordinates ``(q_x…, q_y…, p_x…, p_y…)`` from ``(n, bodies, 2)`` arrays."""
    return torch.cat((q[..., 0], q[..., 1], p[..., 0], p[..., 1]), dim=-1)


def two_body_states(n: int, generator: torch.Generator) -> Tensor:
    """Near-circular two-body orbits: ``(n, 8)`` initial states (HNN's construction).

    Body 1 sits at ``x ~ U[0.5, 1.5]²``, body 2 at ``−x``; the velocities are those of a
    circular orbit, ``flip(x)·(−1, 1)/(2|x|^{3/2})``, scaled by ``1 + 0.05·N(0, 1)``.
    """
    pos = 0.5 + torch.rand(n, 2, generator=generator, dtype=F64)
    r = pos.norm(dim=1, keepdim=True)
    vel = pos.flip(1) / (2.0 * r**1.5) * torch.tensor([-1.0, 1.0], dtype=F64)
    vel = vel * (1.0 + 0.05 * torch.randn(n, 1, generator=generator, dtype=F64))
    q = torch.stack((pos, -pos), dim=1)
    p = torch.stack((vel, -vel), dim=1)
    return _flat_bodies(q, p)


def three_body_states(n: int, generator: torch.Generator) -> Tensor:
    """Perturbed circular three-body orbits: ``(n, 12)`` initial states (HNN's construction).

    Bodies at the vertices of an equilateral triangle of circumradius ``r ~ U[0.9, 1.2]`` with
    circular-orbit velocities, each velocity component scaled by ``1 + 0.2·U[−1, 1]``.
    """
    p1 = 2.0 * torch.rand(n, 2, generator=generator, dtype=F64) - 1.0
    r = 0.9 + 0.3 * torch.rand(n, 1, generator=generator, dtype=F64)
    p1 = p1 * r / p1.norm(dim=1, keepdim=True)
    turn = 2.0 * math.pi / 3.0
    positions = [p1, _rotate(p1, turn), _rotate(p1, 2 * turn)]
    v1 = _rotate(p1, math.pi / 2) / r**1.5
    v1 = v1 * math.sqrt(math.sin(math.pi / 3) / (2.0 * math.cos(math.pi / 6) ** 2))
    velocities = [v1, _rotate(v1, turn), _rotate(v1, 2 * turn)]
    velocities = [
        v * (1.0 + 0.2 * (2.0 * torch.rand(n, 2, generator=generator, dtype=F64) - 1.0))
        for v in velocities
    ]
    return _flat_bodies(torch.stack(positions, dim=1), torch.stack(velocities, dim=1))


def _oscillator_states(system: str, n: int, generator: torch.Generator) -> Tensor:
    direction = 2.0 * torch.rand(n, 2, generator=generator, dtype=F64) - 1.0
    lo, span = (0.1, 0.9) if system == "mass_spring" else (1.3, 1.0)
    radius = lo + span * torch.rand(n, 1, generator=generator, dtype=F64)
    return direction / direction.norm(dim=1, keepdim=True) * radius


#: Per task: (samples per orbit, time span, orbits, noise σ, test fraction, RK4 substeps).
_HNN_SETTINGS: dict[str, tuple[int, float, int, float, float, int]] = {
    "mass_spring": (30, 3.0, 50, 0.1, 0.5, 1),
    "pendulum": (45, 3.0, 50, 0.1, 0.5, 20),
    "two_body": (50, 20.0, 1000, 0.0, 0.2, 10),
    "three_body": (20, 5.0, 5000, 0.0, 0.2, 25),
}


def hnn_task(system: str, seed: int = 0, *, orbits: int | None = None) -> DerivativeData:
    """The data of one HNN task (see the module docstring), deterministic in ``seed``.

    Args:
        system: ``"mass_spring"``, ``"pendulum"``, ``"two_body"`` or ``"three_body"``.
        seed: seeds the orbits and the noise.
        orbits: number of orbits (default: the benchmark's; fewer for quick runs).

    Example:
        >>> data = hnn_task("mass_spring")
        >>> tuple(data.x.shape), tuple(data.test_x.shape)
        ((750, 2), (750, 2))
    """
    _check_system(system, HNN_TASKS)
    require_int(seed, "seed", minimum=0)
    samples, span, default_orbits, noise, test_fraction, substeps = _HNN_SETTINGS[system]
    n = default_orbits if orbits is None else require_int(orbits, "orbits", minimum=2)
    generator = torch.Generator().manual_seed(seed)
    if system in ("mass_spring", "pendulum"):
        z0 = _oscillator_states(system, n, generator)
    elif system == "two_body":
        z0 = two_body_states(n, generator)
    else:
        z0 = three_body_states(n, generator)
    times = torch.linspace(0.0, span, samples, dtype=F64)
    field = _FIELDS[system]
    if system == "mass_spring":
        # Closed form: a rotation at angular frequency 2 (q̇ = 2p, ṗ = −2q).
        c, s = torch.cos(2 * times), torch.sin(2 * times)
        q0, p0 = z0[:, :1], z0[:, 1:]
        orbit = torch.stack((q0 * c + p0 * s, p0 * c - q0 * s), dim=-1)
    else:
        orbit = integrate(field, z0, times, substeps)
    clean = orbit.reshape(-1, z0.shape[1])
    dx = field(clean)
    x = clean + noise * torch.randn(clean.shape, generator=generator, dtype=F64)
    split = int(clean.shape[0] * test_fraction)
    if system in ("mass_spring", "pendulum"):  # train first, then test (in order)
        return DerivativeData(system, x[:split], dx[:split], x[split:], dx[split:], noise)
    return DerivativeData(system, x[split:], dx[split:], x[:split], dx[:split], noise)


@dataclass(frozen=True)
class EnergyProtocol:
    """Initial states and time grid of the energy test of one task.

    Attributes:
        system: task name.
        z0: initial states ``(n, 2d)``.
        times: sample times ``(T,)`` of the reference.
        truth: reference trajectories ``(n, T, 2d)``.
        model_times: the times at which the learned model is sampled, ``(T,)``. The anchor's
            mass–spring analysis integrates the learned model over ``(1 + 0.9σ)``-times longer
            than the reference (σ = 0.1, the training noise: noisy inputs shrink the fitted
            speed); every other task samples the model at ``times``.
    """

    system: str
    z0: Tensor
    times: Tensor
    truth: Tensor
    model_times: Tensor


#: Per task: (trials, time span, samples).
_ENERGY_SETTINGS: dict[str, tuple[int, float, int]] = {
    "mass_spring": (15, 20.0, 100),
    "pendulum": (15, 20.0, 100),
    "two_body": (15, 25.0, 500),
    "three_body": (15, 3.0, 500),
}


def energy_protocol(system: str, seed: int = 0, *, trials: int | None = None) -> EnergyProtocol:
    """Initial states, time grid and reference trajectories of the energy test.

    Mass–spring and pendulum: each coordinate ``±U[0.2, 1.0]``, ``t ∈ [0, 20]``, 100 samples;
    two-body: a fresh orbit as in training, ``t ∈ [0, 25]``, 500 samples; three-body:
    ``t ∈ [0, 3]``, 500 samples. 15 trials each (the HNN analysis notebooks' numbers). On the
    mass–spring the model is sampled at ``1.09·t`` (``model_times``), as in the anchor's
    notebook (which, in addition, lets that factor compound from trial to trial by scaling its
    time arrays in place — a slip we do not copy).

    Example:
        >>> tuple(energy_protocol("pendulum", trials=3).truth.shape)
        (3, 100, 2)
    """
    _check_system(system, HNN_TASKS)
    default_trials, span, samples = _ENERGY_SETTINGS[system]
    n = default_trials if trials is None else require_int(trials, "trials", minimum=1)
    generator = torch.Generator().manual_seed(10_000 + seed)
    if system in ("mass_spring", "pendulum"):
        u = 1.6 * torch.rand(n, 2, generator=generator, dtype=F64) - 0.8
        z0 = u + 0.2 * torch.sign(u)
    elif system == "two_body":
        z0 = two_body_states(n, generator)
    else:
        z0 = three_body_states(n, generator)
    times = torch.linspace(0.0, span, samples, dtype=F64)
    substeps = {"mass_spring": 10, "pendulum": 20, "two_body": 4, "three_body": 2}[system]
    truth = integrate(_FIELDS[system], z0, times, substeps)
    stretch = 1.0 + 0.9 * _HNN_SETTINGS[system][3] if system == "mass_spring" else 1.0
    return EnergyProtocol(system, z0, times, truth, stretch * times)


@dataclass(frozen=True)
class PairData:
    """One-step pairs ``z_{k+1} = Φ_h(z_k)`` of a single trajectory, and a long reference.

    Attributes:
        h: step between samples.
        x: training inputs ``(n_train, 2d)``; ``y`` their successors.
        test_x: test inputs ``(n_test, 2d)``; ``test_y`` their successors.
        rollout: the reference trajectory from ``test_x[0]``, ``(rollout_steps + 1, 2d)``.
    """

    h: float
    x: Tensor
    y: Tensor
    test_x: Tensor
    test_y: Tensor
    rollout: Tensor


def sympnet_pendulum(
    n_train: int = 40,
    n_test: int = 100,
    h: float = 0.1,
    rollout_steps: int = 1000,
    *,
    z0: tuple[float, float] = (1.0, 0.0),
    substeps: int = 20,
) -> PairData:
    """The SympNet pendulum ``H = ½p² − cos q``: one trajectory from ``(q, p) = (1, 0)``.

    Training pairs are the first ``n_train`` steps of size ``h``, test pairs the next
    ``n_test``; ``rollout`` runs ``rollout_steps`` steps from the first test state.

    Example:
        >>> data = sympnet_pendulum(rollout_steps=10)
        >>> tuple(data.x.shape), tuple(data.test_x.shape), tuple(data.rollout.shape)
        ((40, 2), (100, 2), (11, 2))
    """
    require_int(n_train, "n_train", minimum=1)
    require_int(n_test, "n_test", minimum=1)
    require_int(rollout_steps, "rollout_steps", minimum=1)
    check_positive("h", h)
    start = torch.tensor([list(z0)], dtype=F64)
    field = _FIELDS["sympnet_pendulum"]
    total = n_train + n_test
    times = h * torch.arange(total + 1, dtype=F64)
    path = integrate(field, start, times, substeps)[0]
    x, y = path[:-1], path[1:]
    rollout_times = h * torch.arange(rollout_steps + 1, dtype=F64)
    rollout = integrate(field, path[n_train : n_train + 1], rollout_times, substeps)[0]
    return PairData(h, x[:n_train], y[:n_train], x[n_train:], y[n_train:], rollout)


def trajectories(
    system: str,
    z0: Tensor,
    steps: int,
    h: float,
    *,
    noise: float = 0.0,
    substeps: int = 50,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """Clean and noisy trajectories ``(n, steps + 1, 2d)`` of ``system`` from ``z0``.

    Any system of :data:`TRAJECTORY_SYSTEMS` (double pendulum: unit masses and lengths,
    ``g = 1``, ``z = (θ₁, θ₂, p₁, p₂)``; Hénon–Heiles: ``H = ½|p|² + ½|q|² + q₁²q₂ − q₂³/3``).

    Example:
        >>> import torch
        >>> clean, noisy = trajectories("henon_heiles", torch.zeros(2, 4) + 0.1, 5, 0.1)
        >>> tuple(clean.shape)
        (2, 6, 4)
    """
    d = _check_system(system, TRAJECTORY_SYSTEMS)
    require_int(steps, "steps", minimum=1)
    check_positive("h", h)
    check_nonnegative("noise", noise)
    if not isinstance(z0, Tensor) or z0.dim() != 2 or z0.shape[1] != 2 * d:
        got = tuple(z0.shape) if isinstance(z0, Tensor) else type(z0).__name__
        raise ConfigError(
            f"trajectories: wrong z0 — expected a (n, {2 * d}) tensor for {system} — received "
            f"{got} — pass one initial state per row"
        )
    times = h * torch.arange(steps + 1, dtype=F64)
    clean = integrate(_FIELDS[system], z0.to(F64), times, substeps)
    generator = torch.Generator().manual_seed(seed)
    noisy = clean + noise * torch.randn(clean.shape, generator=generator, dtype=F64)
    return clean, noisy
