"""Hamiltonian learning on the anchors' own benchmarks: the four HNN tasks and the SympNet pendulum.

Question: on the benchmarks Hamiltonian-learning libraries are compared on, do structdl's
models — exactly symplectic by construction — match or beat the published Hamiltonian neural
network figures and an MLP vector field trained the same way?

1. **HNN suite** (Greydanus, Dzamba & Yosinski 2019; data of
   :func:`structdl.data.hamiltonian_tasks.hnn_task`): mass–spring, ideal pendulum, two-body and
   three-body. Every model is fitted to the exact time derivatives at the (noisy) states with
   the anchor's settings (Adam, learning rate 1e-3, two hidden tanh layers of width 200, 2000
   full-batch steps on the oscillators, 10 000 minibatch steps of 200 / 600 on the orbits,
   weight decay 1e-4 except two-body), except that the learning rate decays (cosine) to 1 % of
   its start over the run — for all three models alike (``lr_decay``; 1 restores the anchor's
   constant rate). Models: ``ours`` — the structured model for the task's class of system:
   on the oscillators :class:`~structdl.dynamics.learning.HamiltonianNN` with
   ``energy="quadratic+mlp"`` (``H_θ = ½zᵀMz + N_θ(z)``: the quadratic well sets how the
   energy grows outside the data), stepped by the implicit midpoint rule; on the body problems
   :class:`~structdl.dynamics.learning.PairwiseHamiltonianNN` (``Σ|p_i|²/2m_i +
   Σ_{i<j} φ_θ(log r_ij)``: separable, translation and rotation invariant), stepped by
   Yoshida-4; ``hnn`` — the anchor's model class (one network ``H_θ(q, p)``,
   :class:`~structdl.dynamics.learning.HamiltonianNN`); ``mlp`` — the baseline vector field
   (:class:`~structdl.dynamics.learning.MLPField`). Metrics: the derivative MSE on the
   held-out states, and the **energy MSE** — from 15 initial states per task
   (:func:`~structdl.data.hamiltonian_tasks.energy_protocol`), integrate the learned field
   accurately (4 steps per sample: our model by its symplectic integrator, the others by RK4)
   and average ``(H(z_true(t)) − H(z_model(t)))²`` over the samples and trials, with the
   *true* ``H`` (on the mass–spring the model is sampled at ``1.09·t``, as the anchor does).
2. **SympNet pendulum** (Jin et al. 2020; :func:`~structdl.data.hamiltonian_tasks.
   sympnet_pendulum`): 40 one-step pairs, ``h = 0.1``; ``ours`` — a separable Hamiltonian
   network inside a Yoshida-4 step (the integrator in the training loop, a multi-step rollout
   loss over the training trajectory) against **our reimplementation of the G-SympNet of
   jpzxshi/learner** (5 gradient modules of width 30, sigmoid, initial scale 0.01, Adam 1e-3 on
   the one-step MSE, the same number of iterations — the anchor's package is not on PyPI, so
   it is not the anchor's code; with the same weights the two give the same map to 9e-16, and
   ``benchmarks/sympnet_learner.py`` trains the anchor's own code side by side). Metric: the
   MSE of a 1000-step rollout from the first test state against the reference solution.
3. **Long time**: the relative error of the true energy along 10⁴ steps of the learned map, on
   the SympNet pendulum and on a Hénon–Heiles map learned the same way. Whether it drifts is
   read off the means of ten consecutive blocks (each spanning many oscillations of the
   error): their regression slope times the horizon is the drift, the scatter of the block
   means gives its standard error, and a drift counts as a trend when it is both significant
   (above two standard errors) and not negligible (above 1e-3).

Every trained model is checked: each learned map is symplectic in float64 (``check_symplectic``
on the Yoshida-4 map, on every SympNet layer and on the whole SympNet) and the MLP field's RK4
map fails the same check (negative control).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .._errors import ConfigError
from ._config import require_ints, require_known, start_run
from ._registry import Experiment, Progress, Result, register
from .io import save_figure

__all__ = ["HNN_README_ENERGY_MSE", "Config", "answer", "run"]

TASKS = ("mass_spring", "pendulum", "two_body", "three_body")
MODELS = ("ours", "hnn", "mlp")
#: The energy MSE of the HNN model in the README of greydanus/hamiltonian-nn.
HNN_README_ENERGY_MSE = {
    "mass_spring": 3.8416e-04,
    "pendulum": 2.4852e-02,
    "two_body": 3.8751e-05,
    "three_body": 4.1926e-02,
}
_DOF = {"mass_spring": 1, "pendulum": 1, "two_body": 4, "three_body": 6}
#: The anchor's minibatch size and weight decay per task (None: full batch).
_BATCH = {"mass_spring": None, "pendulum": None, "two_body": 200, "three_body": 600}
_WEIGHT_DECAY = {"mass_spring": 1e-4, "pendulum": 1e-4, "two_body": 0.0, "three_body": 1e-4}


@dataclass
class Config:
    """Settings of the Hamiltonian benchmarks.

    ``full()`` is the anchors' protocol: width 200, 2000 full-batch steps on the oscillators,
    10 000 minibatch steps on the orbit tasks with all 1000 / 5000 orbits, 15 energy trials,
    SympNet iterations 20 000 (the anchor's example uses 50 000; both models get the same
    budget), 10⁴-step long-time horizons run ten times over (for the drift), a Hénon–Heiles map
    trained on 48 orbits for 4000 steps. ``quick()`` shrinks widths, steps and orbits to run in
    about two CPU minutes; its figures are a smoke test, not the benchmark.

    Attributes:
        seed: seeds data and models.
        tasks: HNN tasks to run.
        width: hidden width of every network of the HNN suite.
        oscillator_steps: optimiser steps on mass–spring and pendulum.
        orbit_steps: optimiser steps on the two- and three-body tasks.
        orbits: orbits per body task (``None``: the benchmark's 1000 / 5000).
        energy_trials: initial states of the energy test.
        sympnet_iterations: optimiser steps of both SympNet-pendulum models.
        sympnet_width: hidden width of our SympNet-pendulum model.
        rollout_steps: steps of the SympNet-pendulum rollout.
        long_steps: steps of the long-time energy test (its horizon).
        drift_horizons: horizons the long-time maps are run for, to estimate the drift per
            horizon from block means (see ``_drift``).
        henon_trajectories: Hénon–Heiles training trajectories (of 40 steps).
        henon_iterations: optimiser steps of the Hénon–Heiles map (4-step rollout loss).
        lr_decay: final learning rate of the HNN suite as a fraction of 1e-3 (cosine decay, the
            same for every model; 1 = constant, the anchor's schedule).
    """

    seed: int = 0
    tasks: tuple[str, ...] = TASKS
    width: int = 200
    oscillator_steps: int = 2000
    orbit_steps: int = 10000
    orbits: int | None = None
    energy_trials: int = 15
    sympnet_iterations: int = 20000
    sympnet_width: int = 16
    rollout_steps: int = 1000
    long_steps: int = 10000
    drift_horizons: int = 10
    henon_trajectories: int = 48
    henon_iterations: int = 4000
    lr_decay: float = 0.01
    models: tuple[str, ...] = field(default=MODELS)

    @classmethod
    def quick(cls) -> Config:
        """About two CPU minutes: small widths, few steps and orbits."""
        return cls(
            width=48,
            oscillator_steps=400,
            orbit_steps=400,
            orbits=60,
            energy_trials=5,
            sympnet_iterations=1500,
            rollout_steps=1000,
            long_steps=2000,
            henon_trajectories=8,
            henon_iterations=375,
        )

    @classmethod
    def full(cls) -> Config:
        """The anchors' protocol (about ten CPU minutes per task at most)."""
        return cls()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for bad settings."""
        require_known("task", self.tasks, TASKS)
        require_known("model", self.models, MODELS)
        if "ours" not in self.models or "mlp" not in self.models:
            raise ConfigError(
                f"models must include 'ours' and 'mlp' — expected both compared — received "
                f"{self.models} — add them"
            )
        require_ints(
            (
                ("width", self.width, 1),
                ("oscillator_steps", self.oscillator_steps, 1),
                ("orbit_steps", self.orbit_steps, 1),
                ("energy_trials", self.energy_trials, 1),
                ("sympnet_iterations", self.sympnet_iterations, 1),
                ("sympnet_width", self.sympnet_width, 1),
                ("rollout_steps", self.rollout_steps, 1),
                ("long_steps", self.long_steps, 10),
                ("drift_horizons", self.drift_horizons, 3),
                ("henon_trajectories", self.henon_trajectories, 1),
                ("henon_iterations", self.henon_iterations, 1),
            )
        )
        if self.orbits is not None:
            require_ints((("orbits", self.orbits, 10),))
        if not 0.0 < self.lr_decay <= 1.0:
            raise ConfigError(
                f"lr_decay must lie in (0, 1] — expected e.g. 1.0 — received {self.lr_decay!r} "
                f"— pass a fraction"
            )


# --------------------------------------------------------------------------- HNN suite


#: Our model per task, the structured model that fits the task's class of system: a general
#: ``H_θ(q, p) = ½zᵀMz + N_θ(z)`` for the one-degree-of-freedom oscillators, and for the body
#: problems the pairwise Hamiltonian ``Σ|p_i|²/2m_i + Σ φ_θ(log r_ij)`` (translation and
#: rotation invariant, so momentum and angular momentum are conserved exactly).
_OURS = {
    "mass_spring": "hamiltonian",
    "pendulum": "hamiltonian",
    "two_body": "pairwise",
    "three_body": "pairwise",
}


def _build(name: str, task: str, width: int) -> nn.Module:
    from ..dynamics.learning import HamiltonianNN, MLPField, PairwiseHamiltonianNN

    dof = _DOF[task]
    if name == "ours":
        if _OURS[task] == "pairwise":
            return PairwiseHamiltonianNN(dof // 2, width)
        return HamiltonianNN(dof, width, energy="quadratic+mlp")
    if name == "hnn":
        return HamiltonianNN(dof, width)
    return MLPField(dof, width)


def _integrator(name: str, model: nn.Module) -> Any:
    """Yoshida-4 for separable Hamiltonian nets, implicit midpoint for the others, RK4 for MLPs."""
    from ..dynamics import ImplicitMidpoint, RungeKutta, Yoshida4

    kinds = getattr(model, "kinds", frozenset())
    if "separable" in kinds:
        return Yoshida4()
    if "hamiltonian" in kinds:
        return ImplicitMidpoint()
    return RungeKutta("rk4")


def _integrate_model(name: str, model: nn.Module, z0: Tensor, times: Tensor) -> Tensor:
    """Trajectories ``(n, T, 2d)`` of the learned field from ``z0`` on the grid ``times``.

    Our model is stepped by its symplectic integrator (the learned *map* is what is
    evaluated), the anchor's model class and the MLP by classical RK4 (the anchor uses an
    adaptive Runge–Kutta method); 4 steps per sample interval either way.
    """
    from ..data.hamiltonian_tasks import integrate
    from ..dynamics.learning import FlowMap

    model = copy.deepcopy(model).double()
    substeps = 4
    if name != "ours":
        with torch.no_grad():
            return integrate(model.time_derivative, z0, times, substeps)
    h = float(times[1] - times[0]) / substeps
    step = FlowMap(model, _integrator(name, model), h, steps=substeps)
    states = [z0]
    with torch.no_grad():
        for _ in range(times.shape[0] - 1):
            states.append(step(states[-1]))
    return torch.stack(states, dim=1)


def _structure_check(name: str, model: nn.Module, dof: int, generator: torch.Generator):  # noqa: ANN202
    """check_symplectic on one step map of the learned field, in float64."""
    from ..dynamics.learning import FlowMap
    from ..structure import check_symplectic

    model = copy.deepcopy(model).double()
    step = FlowMap(model, _integrator(name, model), 0.05)
    points = 0.5 * torch.randn(4, 2 * dof, generator=generator, dtype=torch.float64)
    if dof > 1:  # keep the bodies apart (the learned potentials were fitted on separated bodies)
        points = points + _spread(dof)
    result = check_symplectic(step, points)
    if name == "mlp":
        return result.as_negative_control("check_symplectic on the RK4 map of the MLP field")
    return result


def _spread(dof: int) -> Tensor:
    """A phase-space offset that places the bodies on a circle of radius 1 (zero momentum)."""
    bodies = dof // 2
    angles = torch.arange(bodies, dtype=torch.float64) * (2 * torch.pi / bodies)
    return torch.cat((torch.cos(angles), torch.sin(angles), torch.zeros(dof, dtype=torch.float64)))


def _hnn_suite(
    config: Config, result: Result, progress: Progress, generator: torch.Generator
) -> dict[str, dict[str, tuple[Tensor, Tensor]]]:
    from ..data.hamiltonian_tasks import energy_protocol, hamiltonian, hnn_task
    from ..dynamics.learning import fit_derivatives

    curves: dict[str, dict[str, tuple[Tensor, Tensor]]] = {}
    rows = []
    for task in config.tasks:
        dof = _DOF[task]
        orbits = config.orbits if task in ("two_body", "three_body") else None
        data = hnn_task(task, config.seed, orbits=orbits)
        x, dx, test_x, test_dx = (t.float() for t in (data.x, data.dx, data.test_x, data.test_dx))
        protocol = energy_protocol(task, config.seed, trials=config.energy_trials)
        energy = hamiltonian(task)
        true_energy = energy(protocol.truth)
        steps = config.oscillator_steps if dof == 1 else config.orbit_steps
        curves[task] = {}
        for name in config.models:
            progress.describe(f"HNN suite: {task}, {name}")
            torch.manual_seed(config.seed)
            model = _build(name, task, config.width)
            start = time.process_time()
            losses = fit_derivatives(
                model,
                x,
                dx,
                steps=steps,
                lr=1e-3,
                batch_size=_BATCH[task],
                weight_decay=_WEIGHT_DECAY[task],
                final_lr_fraction=config.lr_decay,
                generator=torch.Generator().manual_seed(config.seed),
            )
            train_seconds = time.process_time() - start
            with torch.no_grad():
                test_mse = float((model.time_derivative(test_x) - test_dx).pow(2).mean())
            path = _integrate_model(name, model, protocol.z0, protocol.model_times)
            model_energy = energy(path)
            energy_sq = (true_energy - model_energy).pow(2)
            rollout_sq = (path - protocol.truth).pow(2).mean(dim=-1)
            curves[task][name] = (energy_sq.mean(dim=0), rollout_sq.mean(dim=0))
            seconds = time.process_time() - start
            row = {
                "task": task,
                "model": name,
                "train_loss": losses[-1],
                "test_derivative_mse": test_mse,
                "energy_mse": float(energy_sq.mean()),
                "rollout_mse": float(rollout_sq.mean()),
                "train_cpu_seconds": round(train_seconds, 2),
                "cpu_seconds": round(seconds, 2),
            }
            if task == "pendulum":
                # The anchor's pendulum notebook measures q² + p², not its H: the same figure
                # computed its way, for a like-for-like comparison with the README value.
                literal = protocol.truth.pow(2).sum(-1) - path.pow(2).sum(-1)
                row["energy_mse_anchor_quantity"] = float(literal.pow(2).mean())
                result.metrics[f"hnn/{task}/{name}/energy_mse_anchor_quantity"] = row[
                    "energy_mse_anchor_quantity"
                ]
            rows.append(row)
            for key in ("test_derivative_mse", "energy_mse", "rollout_mse", "cpu_seconds"):
                result.metrics[f"hnn/{task}/{name}/{key}"] = row[key]
            check = _structure_check(name, model, dof, generator)
            label = "negative-control" if name == "mlp" else "symplectic"
            result.checks[f"{label}/hnn-suite/{task}/{name}"] = check.as_dict()
            progress.advance()
        ours = {r["model"]: r for r in rows if r["task"] == task}
        result.metrics[f"hnn/{task}/readme_hnn_energy_mse"] = HNN_README_ENERGY_MSE[task]
        result.metrics[f"hnn/{task}/bar_energy"] = bool(
            ours["ours"]["energy_mse"] <= HNN_README_ENERGY_MSE[task]
        )
        result.metrics[f"hnn/{task}/bar_derivative"] = bool(
            ours["ours"]["test_derivative_mse"] <= ours["mlp"]["test_derivative_mse"]
        )
        result.metrics[f"hnn/{task}/task_cpu_seconds"] = round(
            sum(r["cpu_seconds"] for r in ours.values()), 2
        )
    result.tables["hnn_suite"] = rows
    return curves


# --------------------------------------------------------------------------- SympNet pendulum


def _windows(path: Tensor, horizon: int) -> tuple[Tensor, Tensor]:
    """Starts ``(N, 2d)`` and the next ``horizon`` states ``(N, horizon, 2d)`` of a path."""
    count = path.shape[0] - horizon
    starts = path[:count]
    targets = torch.stack([path[i + 1 : i + 1 + horizon] for i in range(count)])
    return starts, targets


def _learned_step(dof: int, width: int, h: float, potential: str = "mlp") -> nn.Module:
    from ..dynamics import Yoshida4
    from ..dynamics.learning import FlowMap, SeparableHamiltonianNN

    field_ = SeparableHamiltonianNN(dof, width, depth=2, kinetic="quadratic", potential=potential)
    return FlowMap(field_, Yoshida4(), h, steps=1).double()


def _train_map(model: nn.Module, path: Tensor, iterations: int, horizon: int) -> float:
    from ..dynamics.learning import fit_rollout

    starts, targets = _windows(path, horizon)
    losses = fit_rollout(
        model, starts, targets, steps=iterations, lr=1e-3, final_lr_fraction=0.01, keep_best=True
    )
    return min(losses)


def _relative_energy(energy, path: Tensor) -> Tensor:  # noqa: ANN001
    values = energy(path)
    return ((values - values[..., :1]) / values[..., :1].abs()).abs()


def _drift(errors: Tensor, blocks: int) -> tuple[float, float]:
    """Linear drift of a relative energy error per block of steps, and its standard error.

    The error along a symplectic map oscillates quasi-periodically (over the invariant torus
    of the modified Hamiltonian), with periods that can be as long as the 10⁴-step horizon
    itself; within one horizon such an oscillation and a drift cannot be told apart, and the
    samples are far too correlated for a least-squares slope's textbook standard error. So the
    map is run for ``blocks`` horizons, the error is averaged over each (batch means: the
    oscillations average out), and the block means are regressed on the block index. The
    slope is the drift per horizon; the scatter of the block means about the line gives its
    standard error (``blocks − 2`` degrees of freedom).

    Returns:
        ``(drift per block, standard error)``, in units of the relative error.
    """
    n = errors.shape[-1] // blocks * blocks
    means = errors[..., :n].reshape(blocks, -1).mean(dim=-1).double()
    index = torch.arange(blocks, dtype=torch.float64)
    index = index - index.mean()
    spread = float((index * index).sum())
    slope = float(((means - means.mean()) * index).sum()) / spread
    residual = means - means.mean() - slope * index
    return slope, (float((residual * residual).sum()) / (blocks - 2) / spread) ** 0.5


def _has_trend(drift: float, standard_error: float) -> bool:
    """A drift is a trend when significant (> 2 SE) and not negligible (> 1e-3 per horizon)."""
    return abs(drift) > 2.0 * standard_error and abs(drift) > 1e-3


def _symplectic_layers(model: nn.Module, dof: int, generator: torch.Generator) -> float:
    """Largest float64 symplecticity defect over the layers of a SympNet (and the whole net)."""
    from ..structure import check_symplectic

    points = torch.randn(8, 2 * dof, generator=generator, dtype=torch.float64)
    worst = check_symplectic(model, points).worst
    for layer in getattr(model, "parts", ()):
        worst = max(worst, check_symplectic(layer, points).worst)
    return worst


def _sympnet_pendulum(
    config: Config, result: Result, progress: Progress, generator: torch.Generator
) -> dict[str, Tensor]:
    from ..data.hamiltonian_tasks import hamiltonian, sympnet_pendulum
    from ..dynamics.learning import GSympNet, fit_rollout, rollout
    from ..structure import check_symplectic

    data = sympnet_pendulum(rollout_steps=config.rollout_steps)
    path = torch.cat((data.x, data.y[-1:]))  # the 41 training states in order
    energy = hamiltonian("sympnet_pendulum")
    models: dict[str, nn.Module] = {}
    rows = []
    for name in ("ours", "g_sympnet"):
        progress.describe(f"SympNet pendulum: {name}")
        torch.manual_seed(config.seed)
        start = time.process_time()
        if name == "ours":
            model = _learned_step(1, config.sympnet_width, data.h)
            loss = _train_map(model, path, config.sympnet_iterations, horizon=8)
        else:
            model = GSympNet(1, layers=5, width=30, activation="sigmoid").double()
            losses = fit_rollout(
                model,
                data.x,
                data.y.unsqueeze(1),
                steps=config.sympnet_iterations,
                lr=1e-3,
                keep_best=True,
            )
            loss = min(losses)
        seconds = time.process_time() - start
        models[name] = model
        with torch.no_grad():
            test_mse = float((model(data.test_x) - data.test_y).pow(2).mean())
            predicted = rollout(model, data.rollout[:1], config.rollout_steps)[0]
        rollout_mse = float((predicted - data.rollout).pow(2).mean())
        energy_error = _relative_energy(energy, predicted)
        rows.append(
            {
                "model": name,
                "train_loss": loss,
                "test_one_step_mse": test_mse,
                "rollout_mse": rollout_mse,
                "energy_error_max": float(energy_error.max()),
                "cpu_seconds": round(seconds, 2),
            }
        )
        for key in ("test_one_step_mse", "rollout_mse", "energy_error_max"):
            result.metrics[f"sympnet_pendulum/{name}/{key}"] = rows[-1][key]
        progress.advance()
    result.tables["sympnet_pendulum"] = rows
    result.metrics["sympnet_pendulum/bar_rollout"] = bool(
        rows[0]["rollout_mse"] <= rows[1]["rollout_mse"]
    )
    worst = _symplectic_layers(models["g_sympnet"], 1, generator)
    result.metrics["sympnet_pendulum/g_sympnet/max_layer_defect"] = worst
    result.checks["symplectic/sympnet-pendulum/g_sympnet-layers"] = {
        "ok": worst <= 1e-12,
        "worst": worst,
        "reason": f"max float64 defect ‖DΦᵀJDΦ − J‖_F over the 5 layers and the net: {worst:.2e}",
    }
    points = torch.randn(8, 2, generator=generator, dtype=torch.float64)
    ours_check = check_symplectic(models["ours"], points)
    result.metrics["sympnet_pendulum/ours/symplectic_defect"] = ours_check.worst
    result.checks["symplectic/sympnet-pendulum/ours"] = ours_check.as_dict()
    return {"path": path, **{f"model/{k}": v for k, v in models.items()}}  # type: ignore[dict-item]


# --------------------------------------------------------------------------- long time


def _long_time(
    config: Config,
    result: Result,
    progress: Progress,
    pendulum_model: nn.Module,
) -> dict[str, Tensor]:
    from ..data.hamiltonian_tasks import hamiltonian, sympnet_pendulum, trajectories
    from ..dynamics.learning import rollout

    curves: dict[str, Tensor] = {}
    progress.describe("long time: pendulum")
    data = sympnet_pendulum(rollout_steps=1)
    with torch.no_grad():
        steps = config.long_steps * config.drift_horizons
        path = rollout(pendulum_model, data.rollout[:1], steps)[0]
    curves["pendulum"] = _relative_energy(hamiltonian("sympnet_pendulum"), path)
    progress.advance()

    progress.describe("long time: Hénon–Heiles")
    generator = torch.Generator().manual_seed(config.seed + 7)
    n = min(config.henon_trajectories, 16) + 1
    # Bounded orbits: energies ≤ 1/12 (half the escape energy 1/6), random direction. Row 0 is
    # the test orbit; orbits beyond the first 16 come from a second stream, so that the test
    # orbit does not depend on how many training orbits there are.
    q = 0.25 * (2 * torch.rand(n, 2, generator=generator, dtype=torch.float64) - 1)
    p = 0.25 * (2 * torch.rand(n, 2, generator=generator, dtype=torch.float64) - 1)
    if config.henon_trajectories > 16:
        extra = torch.Generator().manual_seed(config.seed + 8)
        more = config.henon_trajectories - 16
        q = torch.cat((q, 0.25 * (2 * torch.rand(more, 2, generator=extra, dtype=q.dtype) - 1)))
        p = torch.cat((p, 0.25 * (2 * torch.rand(more, 2, generator=extra, dtype=p.dtype) - 1)))
    clean, _ = trajectories("henon_heiles", torch.cat((q, p), dim=1), 40, 0.1)
    torch.manual_seed(config.seed)
    # A quadratic well plus a network for the potential: the energy keeps growing outside the
    # training orbits instead of flattening.
    model = _learned_step(2, config.sympnet_width * 2, 0.1, potential="quadratic+mlp")
    starts, targets = [], []
    for trajectory in clean[1:]:
        s, t = _windows(trajectory, 4)
        starts.append(s)
        targets.append(t)
    from ..dynamics.learning import fit_rollout

    fit_rollout(
        model,
        torch.cat(starts),
        torch.cat(targets),
        steps=config.henon_iterations,
        lr=1e-3,
        final_lr_fraction=0.01,
        keep_best=True,
    )
    with torch.no_grad():
        path = rollout(model, clean[0, :1], config.long_steps * config.drift_horizons)[0]
    curves["henon_heiles"] = _relative_energy(hamiltonian("henon_heiles"), path)
    progress.advance()
    horizon = config.long_steps
    for system, errors in curves.items():
        # The bar's horizon: the error at step `long_steps` and its maximum up to there.
        result.metrics[f"long_time/{system}/energy_error_final"] = float(errors[horizon])
        result.metrics[f"long_time/{system}/energy_error_max"] = float(errors[: horizon + 1].max())
        result.metrics[f"long_time/{system}/energy_error_max_all_horizons"] = float(errors.max())
        drift, standard_error = _drift(errors[1:], config.drift_horizons)
        result.metrics[f"long_time/{system}/energy_drift"] = drift
        result.metrics[f"long_time/{system}/energy_drift_se"] = standard_error
        result.metrics[f"long_time/{system}/bar"] = bool(
            float(errors[: horizon + 1].max()) <= 1e-2 and not _has_trend(drift, standard_error)
        )
    return curves


# --------------------------------------------------------------------------- figures and run


def _figure(hnn_curves, long_curves, config: Config):  # noqa: ANN001, ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(hnn_curves)
    columns = max(len(tasks), 2)
    fig, axes = plt.subplots(3, columns, figsize=(4 * columns, 10), squeeze=False)
    for j, task in enumerate(tasks):
        for name, (energy, rollout) in hnn_curves[task].items():
            axes[0][j].semilogy(energy.clamp_min(1e-16), label=name)
            axes[1][j].semilogy(rollout.clamp_min(1e-16), label=name)
        axes[0][j].set_title(f"{task}: energy error²")
        axes[1][j].set_title(f"{task}: rollout MSE")
        axes[1][j].set_xlabel("sample")
    axes[0][0].legend(fontsize=8)
    for j, (system, errors) in enumerate(long_curves.items()):
        axes[2][j].semilogy(errors.clamp_min(1e-16))
        axes[2][j].set_title(f"{system}: relative energy error, learned map")
        axes[2][j].set_xlabel("step")
    for j in range(len(long_curves), columns):
        axes[2][j].axis("off")
    fig.tight_layout()
    return fig


def run(config: Config, out_dir: Path, progress: Progress) -> Result:
    """Run the HNN suite, the SympNet pendulum and the long-time test; check every model."""
    generator = start_run(config)
    progress.set_total(len(config.tasks) * len(config.models) + 4)
    result = Result()
    hnn_curves = _hnn_suite(config, result, progress, generator)
    sympnet = _sympnet_pendulum(config, result, progress, generator)
    long_curves = _long_time(config, result, progress, sympnet["model/ours"])
    result.figures.append(
        save_figure(_figure(hnn_curves, long_curves, config), out_dir, "hamiltonian.png")
    )
    result.notes = (
        "HNN suite: energy MSE with the true Hamiltonian along the learned trajectories from "
        f"{config.energy_trials} initial states per task (the README figure of the anchor is "
        "given for reference; its pendulum notebook measures q² + p² instead of H, reported "
        "as energy_mse_anchor_quantity). SympNet pendulum: 'g_sympnet' is our "
        "reimplementation of jpzxshi/learner's G-SympNet (the same map as the anchor's for the "
        "same weights; benchmarks/sympnet_learner.py trains the anchor's own code side by side). "
        "Checks: every "
        "learned map symplectic in float64; the MLP field's RK4 map must fail (negative "
        "control)."
    )
    return result


def answer(metrics: dict[str, Any]) -> tuple[str, str, str]:
    """Yes when every bar of the run holds; partly otherwise (the text names the figures)."""
    bars = {
        key: bool(value) for key, value in metrics.items() if key.split("/")[-1].startswith("bar")
    }
    met = sum(bars.values())
    tasks = [key.split("/")[1] for key in metrics if key.endswith("/ours/energy_mse")]
    energy = ", ".join(
        f"{task} {float(metrics[f'hnn/{task}/ours/energy_mse']):.2e} "
        f"(README {HNN_README_ENERGY_MSE[task]:.2e})"
        for task in tasks
    )
    ours = metrics.get("sympnet_pendulum/ours/rollout_mse", float("nan"))
    theirs = metrics.get("sympnet_pendulum/g_sympnet/rollout_mse", float("nan"))
    text = (
        f"Energy MSE of our Hamiltonian model with the true H: {energy}. SympNet pendulum "
        f"1000-step rollout MSE: ours {ours:.3g}, G-SympNet (our reimplementation) {theirs:.3g}. "
        f"{met} of {len(bars)} bars of this run hold; every learned map passes check_symplectic "
        "in float64 and the MLP's RK4 map fails it."
    )
    verdict = "yes" if met == len(bars) else "partly"
    return verdict, text, f"bars {met}/{len(bars)}; rollout {ours:.2g} vs {theirs:.2g}"


register(
    Experiment(
        name="hamiltonian-benchmarks",
        question=(
            "On the HNN and SympNet benchmarks, do exactly symplectic structdl models match the "
            "published HNN energy errors and beat an MLP field and a G-SympNet?"
        ),
        config=Config,
        run=run,
        answer=answer,
    )
)
