"""conformal-optimisers — conformal Hamiltonian optimisers against their classical cousins.

Question: with an equal tuning budget, how many iterations do heavy ball (conformal-symplectic
Euler), Nesterov, relativistic gradient descent (RGD) and Hamiltonian descent (HD, with the
kinetic energy matched to the problem) need to reach ``f − f* ≤ tol`` — and is each of them
conformal symplectic where theory says so?

Problems: a random correlated quadratic (d = 20, condition number 100), Rosenbrock, Booth and
Beale (the RGD authors' 2-D test functions), the quartic ``‖x‖⁴`` (d = 10, not strongly
convex: HD with ``T(p) ∝ ‖p‖^{4/3}``) and rank-5 matrix completion (30 × 30, 60 % observed,
``f(U, V) = ½‖P_Ω(UVᵀ − M)‖²``). Each method gets the same grid of step size × momentum-like
parameter (``grid`` values each) and reports its best run; a run that never reaches ``tol``
counts as ``max_iters``. The step Jacobians on the quadratic are checked with
:func:`structdl.structure.check_conformal_step` (rate ``e^{−γh}``, ``μ`` for RGD, ``δ`` for
HD); Nesterov's step is the negative control.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .._errors import ConfigError
from ._config import require_ints, require_known, start_run
from ._registry import Experiment, Progress, Result, register
from .io import save_figure

__all__ = ["Config", "run"]

PROBLEMS = ("quadratic", "rosenbrock", "booth", "beale", "quartic", "matrix_completion")
METHODS = ("heavy_ball", "nesterov", "rgd", "hamiltonian_descent")


@dataclass
class Config:
    """Settings of the conformal-optimisers experiment.

    ``quick()``: four problems (quadratic, Booth, quartic, matrix completion), a 3 × 3 grid,
    600 iterations. ``full()``: all six problems,
    a 5 × 4 grid, 5000 iterations.

    Attributes:
        seed: seed of the random problems.
        problems: which problems to run.
        methods: which methods to run.
        max_iters: iteration budget per run.
        tol: target ``f − f*``.
        lr_grid: number of step sizes tried (log-spaced over three decades).
        momentum_grid: number of values of the momentum-like parameter tried.
    """

    seed: int = 0
    problems: tuple[str, ...] = ("quadratic", "booth", "quartic", "matrix_completion")
    methods: tuple[str, ...] = METHODS
    max_iters: int = 600
    tol: float = 1e-8
    lr_grid: int = 3
    momentum_grid: int = 3

    @classmethod
    def quick(cls) -> Config:
        """About a minute on one core."""
        return cls()

    @classmethod
    def full(cls) -> Config:
        """All problems, a finer grid, a longer budget."""
        return cls(problems=PROBLEMS, max_iters=5000, lr_grid=5, momentum_grid=4)

    def validate(self) -> None:
        """Raise :class:`ConfigError` for unknown names or bad numbers."""
        require_known("problem", self.problems, PROBLEMS)
        require_known("method", self.methods, METHODS)
        require_ints(
            (
                ("max_iters", self.max_iters, 10),
                ("lr_grid", self.lr_grid, 1),
                ("momentum_grid", self.momentum_grid, 1),
            )
        )
        if not (isinstance(self.tol, float) and self.tol > 0):
            raise ConfigError(f"tol must be a positive float — got {self.tol!r} — pass 1e-8")


# --------------------------------------------------------------------------------------------
# Problems: (loss of a flat parameter vector, start, f*, step-size range, hessian or None)


def _problem(name: str, gen: torch.Generator) -> dict[str, Any]:
    f64 = torch.float64
    if name == "quadratic":
        d = 20
        q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=f64))
        a = (q * torch.logspace(0, 2, d, dtype=f64)) @ q.T  # eigenvalues 1 … 100
        return {
            "loss": lambda x: 0.5 * x @ a @ x,
            "start": torch.randn(d, generator=gen, dtype=f64),
            "f_star": 0.0,
            "lr": (1e-4, 1e-2),
            "hessian": a,
        }
    if name == "rosenbrock":
        return {
            "loss": lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2,
            "start": torch.tensor([-1.2, 1.0], dtype=f64),
            "f_star": 0.0,
            "lr": (1e-5, 1e-3),
        }
    if name == "booth":
        return {
            "loss": lambda x: (x[0] + 2 * x[1] - 7) ** 2 + (2 * x[0] + x[1] - 5) ** 2,
            "start": torch.tensor([-5.0, 5.0], dtype=f64),
            "f_star": 0.0,
            "lr": (1e-3, 1e-1),
        }
    if name == "beale":
        return {
            "loss": lambda x: (
                (1.5 - x[0] + x[0] * x[1]) ** 2
                + (2.25 - x[0] + x[0] * x[1] ** 2) ** 2
                + (2.625 - x[0] + x[0] * x[1] ** 3) ** 2
            ),
            "start": torch.tensor([1.0, 1.5], dtype=f64),
            "f_star": 0.0,
            "lr": (1e-4, 1e-2),
        }
    if name == "quartic":
        d = 10
        x0 = torch.randn(d, generator=gen, dtype=f64)
        return {
            "loss": lambda x: (x @ x) ** 2,
            "start": 2.0 * x0 / x0.norm(),  # f(x0) = 16
            "f_star": 0.0,
            "lr": (1e-3, 1e-1),
            "power": 4.0,
        }
    # Rank-5 matrix completion, factorised: f(U, V) = ½‖P_Ω(UVᵀ − M)‖².
    n, r = 30, 5
    truth = torch.randn(n, r, generator=gen, dtype=f64) @ torch.randn(
        r, n, generator=gen, dtype=f64
    )
    truth = truth / truth.abs().max()
    mask = (torch.rand(n, n, generator=gen, dtype=f64) < 0.6).to(f64)
    start = 0.3 * torch.randn(2 * n * r, generator=gen, dtype=f64)

    def completion(x: Tensor) -> Tensor:
        u, v = x[: n * r].reshape(n, r), x[n * r :].reshape(n, r)
        return 0.5 * ((mask * (u @ v.T - truth)) ** 2).sum()

    return {"loss": completion, "start": start, "f_star": 0.0, "lr": (1e-3, 1e-1)}


def _grid(low: float, high: float, k: int) -> list[float]:
    if k == 1:
        return [math.sqrt(low * high)]
    return [low * (high / low) ** (i / (k - 1)) for i in range(k)]


def _momenta(k: int) -> list[float]:
    return [0.5, 0.9, 0.99, 0.999][:k] if k <= 4 else _grid(0.5, 0.999, k)


def _make(method: str, params: list[Tensor], lr: float, mu: float, problem: dict[str, Any]):  # noqa: ANN202
    from ..optim import (
        ConformalSymplecticEuler,
        HamiltonianDescent,
        PowerKinetic,
        QuadraticKinetic,
        RelativisticGradientDescent,
    )

    if method == "heavy_ball":
        return ConformalSymplecticEuler.from_sgd(params, lr=lr, momentum=mu)
    if method == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=mu, nesterov=True)
    if method == "rgd":
        return RelativisticGradientDescent(params, lr=lr, momentum=mu, delta=0.1)
    # HD: step ε = √lr (as heavy ball's h), friction from μ = 1/(1 + γε); the kinetic energy
    # is matched to the problem's growth (power A = b/(b − 1) for f ~ ‖x‖^b).
    eps = math.sqrt(lr)
    gamma = (1.0 / mu - 1.0) / eps
    power = problem.get("power")
    kinetic = QuadraticKinetic() if power is None else PowerKinetic(power / (power - 1.0))
    return HamiltonianDescent(params, lr=eps, gamma=gamma, kinetic=kinetic)


def _run_one(
    method: str, problem: dict[str, Any], lr: float, mu: float, config: Config
) -> list[float]:
    x = torch.nn.Parameter(problem["start"].clone())
    opt = _make(method, [x], lr, mu, problem)
    loss_fn: Callable[[Tensor], Tensor] = problem["loss"]

    def closure() -> Tensor:
        opt.zero_grad()
        loss = loss_fn(x)
        loss.backward()
        return loss

    gaps: list[float] = []
    for _ in range(config.max_iters):
        loss = closure()
        gap = float(loss.detach()) - problem["f_star"]
        gaps.append(gap)
        if gap <= config.tol or not math.isfinite(gap) or gap > 1e12:
            break
        try:
            opt.step(closure) if method == "rgd" else opt.step()
        except ValueError:  # a step that produced NaN/inf (StepSizeError, ShapeError)
            gaps.append(math.inf)
            break
    return gaps


def _iterations(gaps: list[float], config: Config) -> int:
    hit = next((i for i, g in enumerate(gaps) if g <= config.tol), None)
    return config.max_iters if hit is None else hit


def run(config: Config, out_dir: Path, progress: Progress) -> Result:
    """Run the study; see the module docstring."""
    from ..structure import check_conformal_step

    generator = start_run(config)
    result = Result()
    progress.set_total(len(config.problems) * len(config.methods))
    rows, curves = [], {}
    best_settings: dict[tuple[str, str], tuple[float, float]] = {}
    for name in config.problems:
        problem = _problem(name, generator)
        for method in config.methods:
            progress.describe(f"{name}: {method}")
            # The tuning budget: every (lr, μ) of the grid (Config.validate makes both
            # non-empty); the best reaches the tolerance first, ties broken by the final gap.
            trials = []
            for lr in _grid(*problem["lr"], config.lr_grid):
                for mu in _momenta(config.momentum_grid):
                    gaps = _run_one(method, problem, lr, mu, config)
                    key = (
                        _iterations(gaps, config),
                        gaps[-1] if math.isfinite(gaps[-1]) else 1e300,
                    )
                    trials.append((key, lr, mu, gaps))
            (iters, final), lr, mu, gaps = min(trials, key=lambda trial: trial[0])
            best_settings[(name, method)] = (lr, mu)
            reached = iters < config.max_iters
            rows.append(
                {
                    "problem": name,
                    "method": method,
                    "iterations_to_tol": iters if reached else None,
                    "final_gap": final,
                    "best_lr": lr,
                    "best_momentum": mu,
                }
            )
            result.metrics[f"{name}/{method}/iterations"] = iters if reached else None
            curves[(name, method)] = gaps
            progress.advance()
    result.tables["iterations"] = rows
    result.checks.update(_structure_checks(config, generator, check_conformal_step))
    result.figures.append(save_figure(_figure(curves, config), out_dir, "convergence.png"))
    result.notes = NOTES.format(tol=config.tol, grid=config.lr_grid * config.momentum_grid)
    return result


def _structure_checks(config: Config, generator: torch.Generator, check) -> dict[str, Any]:  # noqa: ANN001
    from ..optim import nesterov_phase_step

    hessian = _problem("quadratic", generator)["hessian"]
    checks = {}
    for method in ("heavy_ball", "rgd", "hamiltonian_descent"):
        opt = _make(
            method, [torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))], 1e-3, 0.9, {}
        )
        checks[f"conformal/{method}"] = check(opt.phase_step, hessian, opt.rate).as_dict()

    def nesterov(q: Tensor, p: Tensor, gradient: Callable[[Tensor], Tensor]):  # noqa: ANN202
        return nesterov_phase_step(q, p, gradient, lr=1e-3, momentum=0.9)

    control = check(nesterov, hessian, 0.9).as_negative_control("check_conformal_step on Nesterov")
    checks["negative-control/nesterov"] = control.as_dict()
    return checks


def _figure(curves: dict[tuple[str, str], list[float]], config: Config) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = list(dict.fromkeys(p for p, _ in curves))
    fig, axes = plt.subplots(1, len(problems), figsize=(3.2 * len(problems), 3.0), squeeze=False)
    for ax, name in zip(axes[0], problems, strict=True):
        for method in config.methods:
            gaps = [max(g, 1e-300) for g in curves[(name, method)] if math.isfinite(g)]
            ax.semilogy(gaps, label=method.replace("_", " "))
        ax.axhline(config.tol, color="grey", lw=0.5, ls="--")
        ax.set_title(name.replace("_", " "))
        ax.set_xlabel("iteration")
    axes[0][0].set_ylabel("f − f* (best of the grid)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


NOTES = (
    "Each method had the same tuning budget ({grid} hyper-parameter pairs) and the table shows "
    "its best run; iterations_to_tol is empty when no run reached f − f* ≤ {tol:g}. Heavy ball "
    "is ConformalSymplecticEuler.from_sgd (identical to torch's SGD with momentum). Checks "
    "conformal/<method> verify Φ'ᵀJΦ' = rate·J of the step on the quadratic; "
    "negative-control/nesterov records that the same check FAILS for Nesterov's method (ok = "
    "true means it failed, as theory says)."
)


register(
    Experiment(
        name="conformal-optimisers",
        question=(
            "With an equal tuning budget, how fast do conformal Hamiltonian optimisers (heavy "
            "ball, RGD, Hamiltonian descent) reach f − f* ≤ 1e-8 against Nesterov, and is each "
            "step conformal symplectic where Nesterov's is not?"
        ),
        config=Config,
        run=run,
    )
)
