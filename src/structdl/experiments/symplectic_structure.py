"""E4 — symplectic, energy and order checks of six integrators on three Hamiltonian systems.

Question: which integrators keep the geometry of a Hamiltonian flow over long times, and do
they converge at their declared order?

For the pendulum ``H = p²/2 − cos q``, the Kepler problem with eccentricity 0.5 and the
Hénon–Heiles system, each of forward Euler, classical RK4, symplectic Euler, Störmer–Verlet,
implicit midpoint and the average-vector-field (AVF) method is run for ``n_steps`` steps, and:

- the relative energy error ``|H(z_k) − H(z_0)| / max(|H(z_0)|, 1)`` is plotted against time
  (log scale): symplectic methods keep it bounded (backward error analysis,
  docs/methods/dynamics.md), AVF
  conserves ``H`` up to the solve tolerance and quadrature error, Euler drifts;
- the symplecticity defect ``max ‖DΦᵀJDΦ − J‖_F`` of the one-step map ``Φ_h`` is measured with
  :func:`structdl.structure.check_symplectic` at points around the initial state;
- the empirical order is the least-squares slope of ``log error(T)`` against ``log h`` over a
  halving sequence of steps, the error taken against RK4 with a step 32 times smaller than the
  smallest one (:func:`structdl.structure.check_order`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .._errors import ConfigError, NonFiniteError
from ._config import require_ints, require_known, start_run
from ._registry import Experiment, Progress, Result, register
from .io import save_figure

__all__ = ["Config", "run"]

SYSTEMS = ("pendulum", "kepler", "henon_heiles")
METHODS = ("euler", "rk4", "symplectic_euler", "verlet", "implicit_midpoint", "avf")
#: Methods whose one-step map is symplectic for every Hamiltonian field.
SYMPLECTIC = ("symplectic_euler", "verlet", "implicit_midpoint")
#: Negative controls: explicit Runge–Kutta methods are not symplectic.
NOT_SYMPLECTIC = ("euler", "rk4")
#: Methods that go through an iterative solve (their defects are bounded by the solve tolerance).
IMPLICIT = ("implicit_midpoint", "avf")
#: Energy errors above this are drawn at this height (a run that overflowed ends with an ×).
_PLOT_CEILING = 1e2


@dataclass
class Config:
    """Settings of the symplectic-structure experiment.

    ``quick()``: 2000 steps per run, 6 sample points for the symplecticity check, a 4-step
    convergence study. ``full()``: 10⁴ steps, 16 sample points, 5-step convergence study.

    Attributes:
        seed: seed of the random sample points of the symplecticity check.
        n_steps: steps of each long-time run (≥ 2000 in every preset).
        step_sizes: long-run step size per system.
        n_points: sample points per symplecticity check.
        order_time: end time ``T`` of the convergence study.
        order_base_steps: steps of the coarsest run of the convergence study.
        order_levels: number of step sizes in the convergence study (halving each time).
        systems: which systems to run.
        methods: which integrators to run.
    """

    seed: int = 0
    n_steps: int = 2000
    step_sizes: dict[str, float] = field(
        default_factory=lambda: {"pendulum": 0.1, "kepler": 0.01, "henon_heiles": 0.1}
    )
    n_points: int = 6
    order_time: float = 1.0
    order_base_steps: int = 20
    order_levels: int = 4
    systems: tuple[str, ...] = SYSTEMS
    methods: tuple[str, ...] = METHODS

    @classmethod
    def quick(cls) -> Config:
        """Fast preset (≈ tens of seconds on one core)."""
        return cls()

    @classmethod
    def full(cls) -> Config:
        """The full study: 10⁴ steps, more sample points, a longer convergence study."""
        return cls(n_steps=10_000, n_points=16, order_levels=5)

    def validate(self) -> None:
        """Raise :class:`ConfigError` for an unknown system or method or a bad number."""
        for name in self.systems:
            if name not in SYSTEMS:
                raise ConfigError(
                    f"unknown system {name!r} — expected some of {SYSTEMS} — got {self.systems}"
                    " — remove it"
                )
            if not self.step_sizes.get(name, 0.0) > 0.0:
                raise ConfigError(
                    f"step size of {name!r} must be positive — got {self.step_sizes.get(name)} "
                    f"— set step_sizes[{name!r}] to e.g. 0.05"
                )
        require_known("method", self.methods, METHODS)
        require_ints(
            (
                ("n_steps", self.n_steps, 10),
                ("n_points", self.n_points, 1),
                ("order_levels", self.order_levels, 3),
                ("order_base_steps", self.order_base_steps, 1),
            )
        )
        if not self.order_time > 0.0:
            raise ConfigError(
                f"order_time must be positive — got {self.order_time} — pass e.g. 1.0"
            )


# --------------------------------------------------------------------------------------------
# Systems and methods


def _system(name: str) -> tuple[Any, Tensor, Tensor]:
    """The Hamiltonian field and a float64 initial state ``(q0, p0)`` of shape ``(1, d)``."""
    from ..dynamics import HenonHeiles, Kepler, Pendulum

    f64 = torch.float64
    if name == "pendulum":
        # Amplitude 1.5 rad: far from the linear regime, below the separatrix (H = 1).
        q0, p0 = torch.tensor([[1.5]], dtype=f64), torch.tensor([[0.0]], dtype=f64)
        return Pendulum().double(), q0, p0
    if name == "kepler":
        e = 0.5
        # Start at perihelion of the unit-semi-major-axis orbit (period 2π).
        q0 = torch.tensor([[1.0 - e, 0.0]], dtype=f64)
        p0 = torch.tensor([[0.0, math.sqrt((1.0 + e) / (1.0 - e))]], dtype=f64)
        return Kepler(eccentricity=e).double(), q0, p0
    # Hénon–Heiles at energy ≈ 0.07, below the escape energy 1/6.
    q0 = torch.tensor([[0.0, 0.1]], dtype=f64)
    p0 = torch.tensor([[0.3, 0.2]], dtype=f64)
    return HenonHeiles().double(), q0, p0


def _integrator(name: str) -> Any:
    from ..dynamics import (
        AVF,
        Euler,
        ImplicitMidpoint,
        RungeKutta,
        StormerVerlet,
        SymplecticEuler,
    )

    factories: dict[str, Callable[[], Any]] = {
        "euler": Euler,
        "rk4": lambda: RungeKutta("rk4"),
        "symplectic_euler": SymplecticEuler,
        "verlet": StormerVerlet,
        "implicit_midpoint": ImplicitMidpoint,
        "avf": AVF,
    }
    return factories[name]()


def _flat_step(integrator: Any, hamiltonian: Any, h: float) -> Callable[[Tensor], Tensor]:
    """The one-step map ``Φ_h`` on flat phase-space points ``z = (q, p)``, ``(n, 2d)``."""

    def step(z: Tensor) -> Tensor:
        d = z.shape[1] // 2
        q, p = integrator.step(hamiltonian, 0.0, (z[:, :d], z[:, d:]), h)
        return torch.cat((q, p), dim=1)

    return step


def _integrate(integrator: Any, hamiltonian: Any, y0: tuple[Tensor, Tensor], h: float, n: int):
    """States after 0, 1, …, n steps (a list of pairs), cut at the first non-finite state.

    Forward Euler leaves the bounded region of Hénon–Heiles (energy above 1/6) and then
    overflows; ``Integrator.step`` then refuses the non-finite result (``NonFiniteError``), the
    run stops there and the caller records the step.
    """
    states = [y0]
    with torch.no_grad():
        for _ in range(n):
            try:
                new = integrator.step(hamiltonian, 0.0, states[-1], h)
            except NonFiniteError:
                break
            states.append(new)
    return states


# --------------------------------------------------------------------------------------------
# Measurements


def _energy_errors(hamiltonian: Any, states: list[tuple[Tensor, Tensor]], n: int) -> Tensor:
    """Relative energy error at steps 0 … n; NaN after a blow-up (the plotted line ends)."""
    q = torch.cat([s[0] for s in states])
    p = torch.cat([s[1] for s in states])
    energy = hamiltonian.energy(q, p)
    errors = torch.full((n + 1,), float("nan"), dtype=energy.dtype)
    errors[: len(states)] = (energy - energy[0]).abs() / max(abs(float(energy[0])), 1.0)
    return errors


def _order_steps(config: Config) -> list[float]:
    """Halving step sizes that each reach ``order_time`` in an integer number of steps."""
    counts = [config.order_base_steps * 2**k for k in range(config.order_levels)]
    return [config.order_time / n for n in counts]


def _reference(hamiltonian: Any, y0: tuple[Tensor, Tensor], config: Config):
    """The state at ``order_time`` by RK4 with a step 32 times smaller than the smallest one."""
    n = config.order_base_steps * 2 ** (config.order_levels - 1) * 32
    return _integrate(_integrator("rk4"), hamiltonian, y0, config.order_time / n, n)[-1]


def _convergence(
    method: str, hamiltonian: Any, y0: tuple[Tensor, Tensor], reference: Any, config: Config
) -> tuple[list[float], list[float]]:
    """Step sizes and max-norm errors at ``order_time`` against the reference state."""
    integrator = _integrator(method)
    steps = _order_steps(config)
    errors = []
    for h in steps:
        n = round(config.order_time / h)
        end = _integrate(integrator, hamiltonian, y0, h, n)[-1]
        errors.append(max(float((a - b).abs().max()) for a, b in zip(end, reference, strict=True)))
    return steps, errors


def _pair_energy(hamiltonian: Any) -> Callable[[tuple[Tensor, Tensor]], Tensor]:
    """``H`` as a function of a pair state, the form :func:`check_energy` expects."""

    def energy(state: tuple[Tensor, Tensor]) -> Tensor:
        return hamiltonian.energy(*state)

    return energy


def _sample_points(q0: Tensor, p0: Tensor, n: int, generator: torch.Generator) -> Tensor:
    z0 = torch.cat((q0, p0), dim=1)
    noise = torch.randn(n, z0.shape[1], generator=generator, dtype=torch.float64)
    return z0 + 0.05 * noise


# --------------------------------------------------------------------------------------------
# Figures


def _energy_figure(times: dict[str, Tensor], errors: dict[tuple[str, str], Tensor], config: Config):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(config.systems), figsize=(5 * len(config.systems), 3.8), squeeze=False
    )
    for ax, system in zip(axes[0], config.systems, strict=True):
        for method in config.methods:
            err = errors[(system, method)]
            (line,) = ax.semilogy(
                times[system], err.clamp(1e-17, _PLOT_CEILING), label=method, lw=1
            )
            invalid = ~torch.isfinite(err)
            if bool(invalid.any()):
                # Mark where the run overflowed, at the top of the axis.
                first = int(invalid.nonzero()[0])
                ax.plot(
                    float(times[system][first]), _PLOT_CEILING, "x", color=line.get_color(), ms=8
                )
        ax.set_title(f"{system} (h = {config.step_sizes[system]})")
        ax.set_xlabel("time")
        ax.set_ylim(1e-17, 2 * _PLOT_CEILING)
    axes[0][0].set_ylabel("relative energy error")
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _order_figure(studies: dict[tuple[str, str], tuple[list[float], list[float]]], config: Config):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, axes = plt.subplots(
        1, len(config.systems), figsize=(5 * len(config.systems), 3.8), squeeze=False
    )
    for ax, system in zip(axes[0], config.systems, strict=True):
        for method in config.methods:
            steps, errs = studies[(system, method)]
            ax.loglog(steps, errs, "o-", label=method, ms=3)
        ax.set_title(f"{system}: error at T = {config.order_time}")
        ax.set_xlabel("step size h")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on a decade
    axes[0][0].set_ylabel("max error vs reference")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------


def run(config: Config, out_dir: Path, progress: Progress) -> Result:
    """Run the study; see the module docstring."""
    generator = start_run(config)
    progress.set_total(len(config.systems) * len(config.methods))
    result = Result()
    rows: list[dict[str, Any]] = []
    times: dict[str, Tensor] = {}
    energy_errors: dict[tuple[str, str], Tensor] = {}
    studies: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for system in config.systems:
        hamiltonian, q0, p0 = _system(system)
        h = config.step_sizes[system]
        times[system] = h * torch.arange(config.n_steps + 1, dtype=torch.float64)
        points = _sample_points(q0, p0, config.n_points, generator)
        reference = _reference(hamiltonian, (q0, p0), config)
        for method in config.methods:
            progress.describe(f"{system}: {method}")
            row, checks, errors, study = _measure(
                system, method, hamiltonian, (q0, p0), h, points, reference, config
            )
            rows.append(row)
            result.checks.update(checks)
            energy_errors[(system, method)] = errors
            studies[(system, method)] = study
            for key in ("max_energy_error", "symplecticity_error", "empirical_order"):
                result.metrics[f"{system}/{method}/{key}"] = row[key]
            progress.advance()

    result.tables["integrators"] = rows
    result.figures.append(
        save_figure(_energy_figure(times, energy_errors, config), out_dir, "energy_error.png")
    )
    result.figures.append(save_figure(_order_figure(studies, config), out_dir, "order.png"))
    result.notes = NOTES
    return result


def _measure(
    system: str,
    method: str,
    hamiltonian: Any,
    start: tuple[Tensor, Tensor],
    h: float,
    points: Tensor,
    reference: Any,
    config: Config,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], Tensor, tuple[list[float], list[float]]]:
    """One (system, method): energy errors, symplecticity, empirical order and the checks."""
    from ..structure import check_energy, check_order, check_symplectic, tolerance

    tol = tolerance(torch.float64)
    checks: dict[str, dict[str, Any]] = {}
    clock = time.process_time()
    integrator = _integrator(method)
    states = _integrate(integrator, hamiltonian, start, h, config.n_steps)
    err = _energy_errors(hamiltonian, states, config.n_steps)
    blew_up = len(states) <= config.n_steps
    finite = err[torch.isfinite(err)]
    seconds = time.process_time() - clock

    atol = tol.solve if method in IMPLICIT else tol.exact
    symp = check_symplectic(_flat_step(integrator, hamiltonian, h), points, atol=atol)
    if method in SYMPLECTIC:
        checks[f"symplectic/{method}/{system}"] = symp.as_dict()
    elif method in NOT_SYMPLECTIC:
        checks[f"negative-control/{method}/{system}"] = symp.as_negative_control(
            f"check_symplectic on {method}"
        ).as_dict()

    steps, errs = _convergence(method, hamiltonian, start, reference, config)
    order = check_order(steps, errs, integrator.order)
    checks[f"order/{method}/{system}"] = order.as_dict()

    if method == "avf":
        # AVF conserves H exactly for polynomial H of degree ≤ 2·nodes (Hénon–Heiles,
        # cubic) up to the solve; for the pendulum and Kepler the Gauss quadrature of the
        # discrete gradient adds a small error that oscillates rather than accumulates
        # (measured ≈ 1e-12), so the bar is the tolerance of an iterative solve.
        energy = check_energy(_pair_energy(hamiltonian), states, mode="conserved", atol=tol.solve)
        checks[f"energy/avf/{system}"] = energy.as_dict()

    row = {
        "system": system,
        "method": method,
        "h": h,
        "steps": config.n_steps,
        "max_energy_error": float("inf") if blew_up else float(finite.max()),
        "final_energy_error": float("inf") if blew_up else float(err[-1]),
        "blew_up_at_step": len(states) if blew_up else None,
        "symplecticity_error": float(symp.worst),
        "declared_order": integrator.order,
        "empirical_order": float(order.worst),
        "cpu_seconds": round(seconds, 3),
    }
    return row, checks, err, (steps, errs)


NOTES = (
    "Checks named symplectic/<method>/<system> pass when the one-step map satisfies "
    "DΦᵀJDΦ = J to 1e-10 (explicit methods) or 1e-9 (implicit midpoint, through its "
    "fixed-point solve). Checks named negative-control/<method>/<system> record that "
    "check_symplectic correctly FAILS for forward Euler and RK4: ok = true means the "
    "check behaved as theory says (the map is not symplectic), and 'worst' is the measured "
    "defect. AVF is energy-preserving rather than symplectic, so it gets an energy check "
    "instead. A run that overflows (forward Euler leaves the bounded Hénon–Heiles region, "
    "H > 1/6, and escapes) is stopped; the table records the step in blew_up_at_step and "
    "its energy error as inf. "
    "Empirical orders are least-squares slopes of log error against log h; the "
    "reported 'worst' of an order check is the fitted slope."
)


register(
    Experiment(
        name="symplectic-structure",
        question=(
            "Do symplectic integrators keep DΦᵀJDΦ = J and bounded energy error over 10⁴ steps "
            "where Euler and RK4 do not, and do all six converge at their declared order?"
        ),
        config=Config,
        run=run,
    )
)
