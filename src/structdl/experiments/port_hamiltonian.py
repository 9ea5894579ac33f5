"""port-hamiltonian — an energy-consistent port-Hamiltonian optimiser on the digits MLP.

Question: does the discrete-gradient port-Hamiltonian step keep the discrete energy balance
``H₊ − H + h·D = 0`` on every mini-batch, keep ``H`` non-increasing at step sizes far beyond
the explicit method's stability limit, and what does a step cost against SGD?

Model: a 64 → 32 → 10 tanh MLP on the 8 × 8 digits, cross-entropy, ``H = L + ½‖v‖²``
(``a = 1``, ``b = ½``, ``c = 0``) with damping ``β``.

1. Mini-batch training (float64): per-step balance residual ``|H₊ − H + hD|`` on each batch,
   test accuracy against SGD with momentum after the same number of steps.
2. Step-size sweep on a fixed full batch: the explicit limit ``h_exp = 2/√λ_max`` of the
   symplectic-Euler discretisation of the same system (``λ_max`` of the loss Hessian at the
   start, by power iteration on Hessian-vector products); our step at ``1, 3, 10 × h_exp``
   against the explicit step at the same sizes (its energy record is the negative control).
3. Step time (float32, batch 64, interleaved rounds): one port-Hamiltonian step (one gradient
   and a few forward passes) against one SGD step (forward, backward, update).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .._errors import ConfigError
from ._config import require_ints, start_run
from ._registry import Experiment, Progress, Result, register
from .io import save_figure

__all__ = ["Config", "run"]


@dataclass
class Config:
    """Settings of the port-hamiltonian experiment.

    ``quick()``: 300 mini-batch steps, 150 sweep steps, 15 timing rounds.
    ``full()``: 2000 mini-batch steps, 500 sweep steps, 30 timing rounds.

    Attributes:
        seed: seed of data order and initialisation.
        steps: mini-batch training steps.
        batch: mini-batch size.
        lr: step size h of the mini-batch run.
        beta: damping β.
        sgd_lr, sgd_momentum: the SGD baseline.
        sweep_steps: steps of each run of the step-size sweep.
        sweep_samples: size of the fixed batch of the sweep.
        sweep_multiples: step sizes of the sweep, as multiples of the explicit limit.
        timing_rounds: interleaved timing rounds.
    """

    seed: int = 0
    steps: int = 300
    batch: int = 64
    lr: float = 0.5
    beta: float = 1.0
    sgd_lr: float = 0.1
    sgd_momentum: float = 0.9
    sweep_steps: int = 150
    sweep_samples: int = 256
    sweep_multiples: tuple[float, ...] = (1.0, 3.0, 10.0)
    timing_rounds: int = 15

    @classmethod
    def quick(cls) -> Config:
        """About a minute on one core."""
        return cls()

    @classmethod
    def full(cls) -> Config:
        """Longer runs and more timing rounds."""
        return cls(steps=2000, sweep_steps=500, timing_rounds=30)

    def validate(self) -> None:
        """Raise :class:`ConfigError` for bad numbers."""
        require_ints(
            (
                ("steps", self.steps, 1),
                ("batch", self.batch, 1),
                ("sweep_steps", self.sweep_steps, 2),
                ("sweep_samples", self.sweep_samples, 1),
                ("timing_rounds", self.timing_rounds, 1),
            )
        )
        for name in ("lr", "sgd_lr"):
            value = getattr(self, name)
            if not (isinstance(value, float) and value > 0):
                raise ConfigError(f"{name} must be a positive float — got {value!r}")
        if not self.sweep_multiples or not all(m > 0 for m in self.sweep_multiples):
            raise ConfigError(
                f"sweep_multiples must be positive numbers — got {self.sweep_multiples!r}"
            )


def _mlp(dtype: torch.dtype, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))
    return net.to(dtype)


def _loss_fn(net: torch.nn.Module, x: Tensor, y: Tensor):  # noqa: ANN202
    return lambda: torch.nn.functional.cross_entropy(net(x), y)


def _accuracy(net: torch.nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float((net(x).argmax(dim=1) == y).double().mean())


def _minibatch_run(config: Config, data: Any, gen: torch.Generator) -> dict[str, Any]:
    from ..optim import PortHamiltonian

    x, y = data.x_train.double(), data.y_train
    ours, sgd_net = _mlp(torch.float64, config.seed), _mlp(torch.float64, config.seed)
    opt = PortHamiltonian(ours.parameters(), lr=config.lr, beta=config.beta)
    sgd = torch.optim.SGD(sgd_net.parameters(), lr=config.sgd_lr, momentum=config.sgd_momentum)
    residuals, energies, evaluations = [], [], []
    for _ in range(config.steps):
        idx = torch.randint(0, x.shape[0], (config.batch,), generator=gen)
        opt.step(_loss_fn(ours, x[idx], y[idx]))
        s = opt.last_step
        residuals.append(abs(s["energy_after"] - s["energy_before"] + s["h"] * s["dissipation"]))
        energies.append((s["energy_before"], s["energy_after"]))
        evaluations.append(s["evaluations"])
        sgd.zero_grad()
        _loss_fn(sgd_net, x[idx], y[idx])().backward()
        sgd.step()
    xt, yt = data.x_test.double(), data.y_test
    return {
        "residuals": residuals,
        "energies": energies,
        "mean_evaluations": statistics.mean(evaluations),
        "accuracy": _accuracy(ours, xt, yt),
        "sgd_accuracy": _accuracy(sgd_net, xt, yt),
    }


def _lambda_max(net: torch.nn.Module, loss_fn, iterations: int = 30) -> float:  # noqa: ANN001
    params = list(net.parameters())
    v = [torch.randn_like(p) for p in params]
    value = 0.0
    for _ in range(iterations):
        norm = math.sqrt(sum(float((t * t).sum()) for t in v))
        v = [t / norm for t in v]
        grads = torch.autograd.grad(loss_fn(), params, create_graph=True)
        hv = torch.autograd.grad(grads, params, grad_outputs=v)
        value = sum(float((a * b).sum()) for a, b in zip(hv, v, strict=True))
        v = [t.detach() for t in hv]
    return abs(value)


def _explicit_run(net: torch.nn.Module, loss_fn, h: float, beta: float, steps: int) -> list[float]:  # noqa: ANN001
    """Symplectic Euler on dw = v, dv = −∇L − βv; returns H = L + ½‖v‖² after each step."""
    params = list(net.parameters())
    velocity = [torch.zeros_like(p) for p in params]
    energies = [float(loss_fn().detach())]
    for _ in range(steps):
        grads = torch.autograd.grad(loss_fn(), params)
        with torch.no_grad():
            for p, v, g in zip(params, velocity, grads, strict=True):
                v.mul_(1.0 - h * beta).sub_(h * g)
                p.add_(h * v)
        loss = float(loss_fn().detach())
        energy = loss + 0.5 * sum(float((v * v).sum()) for v in velocity)
        energies.append(energy)
        if not math.isfinite(energy) or energy > 1e6:
            break
    return energies


def _sweep(config: Config, data: Any) -> dict[str, Any]:
    from ..optim import PortHamiltonian
    from ..structure import check_passivity

    x, y = data.x_train[: config.sweep_samples].double(), data.y_train[: config.sweep_samples]
    probe = _mlp(torch.float64, config.seed)
    limit = 2.0 / math.sqrt(_lambda_max(probe, _loss_fn(probe, x, y)))
    runs: dict[str, Any] = {"explicit_limit": limit, "ours": {}, "explicit": {}, "checks": {}}
    for multiple in config.sweep_multiples:
        h = multiple * limit
        net = _mlp(torch.float64, config.seed)
        opt = PortHamiltonian(net.parameters(), lr=h, beta=config.beta)
        energies, dissipation = [], []
        for _ in range(config.sweep_steps):
            opt.step(_loss_fn(net, x, y))
            s = opt.last_step
            energies = energies or [s["energy_before"]]
            energies.append(s["energy_after"])
            dissipation.append(s["dissipation"])
        runs["ours"][multiple] = energies
        runs["checks"][f"passivity/ours/{multiple:g}x"] = check_passivity(
            energies, dissipation, h
        ).as_dict()
        net = _mlp(torch.float64, config.seed)
        explicit = _explicit_run(net, _loss_fn(net, x, y), h, config.beta, config.sweep_steps)
        runs["explicit"][multiple] = explicit
        if multiple > 1.0:
            steps = len(explicit) - 1
            control = check_passivity(explicit, [0.0] * steps, h).as_negative_control(
                f"the explicit step's energy balance at {multiple:g}× its limit"
            )
            runs["checks"][f"negative-control/explicit/{multiple:g}x"] = control.as_dict()
    return runs


def _timing(config: Config, data: Any) -> dict[str, float]:
    from ..optim import PortHamiltonian

    x, y = data.x_train[: config.batch], data.y_train[: config.batch]
    ours_net, sgd_net = _mlp(torch.float32, config.seed), _mlp(torch.float32, config.seed)
    opt = PortHamiltonian(ours_net.parameters(), lr=config.lr, beta=config.beta)
    sgd = torch.optim.SGD(sgd_net.parameters(), lr=config.sgd_lr, momentum=config.sgd_momentum)
    ours_loss, sgd_loss = _loss_fn(ours_net, x, y), _loss_fn(sgd_net, x, y)

    def ours_step() -> None:
        opt.step(ours_loss)

    def sgd_step() -> None:
        sgd.zero_grad()
        sgd_loss().backward()
        sgd.step()

    def timed(fn, inner: int = 20) -> float:  # noqa: ANN001
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        return (time.perf_counter() - start) / inner

    for _ in range(5):
        ours_step()
        sgd_step()
    ratios = []
    for k in range(config.timing_rounds):
        # Interleaved, the order alternating every round, so that load changes cancel.
        if k % 2:
            t_sgd, t_ours = timed(sgd_step), timed(ours_step)
        else:
            t_ours, t_sgd = timed(ours_step), timed(sgd_step)
        ratios.append(t_ours / t_sgd)
    return {
        "median_ratio": statistics.median(ratios),
        "min_ratio": min(ratios),
        "evaluations_per_step": opt.last_step["evaluations"],
    }


def run(config: Config, out_dir: Path, progress: Progress) -> Result:
    """Run the study; see the module docstring."""
    from ..data.digits import digits_split
    from ..structure import CheckResult

    generator = start_run(config)
    data = digits_split(seed=config.seed)
    result = Result()
    progress.set_total(3)
    progress.describe("mini-batch training")
    mini = _minibatch_run(config, data, generator)
    worst = max(mini["residuals"])
    balance_ok = worst <= 1e-10
    result.checks["energy-balance/minibatch"] = CheckResult(
        balance_ok,
        worst,
        f"per-step discrete energy balance {'holds' if balance_ok else 'VIOLATED'}: "
        f"max_k |H₊ − H + hD| on each mini-batch over {config.steps} steps = {worst:.3g} "
        f"{'≤' if balance_ok else '>'} 1e-10 (float64)",
    ).as_dict()
    result.metrics.update(
        {
            "minibatch/max_balance_residual": worst,
            "minibatch/mean_loss_evaluations": mini["mean_evaluations"],
            "minibatch/test_accuracy": mini["accuracy"],
            "minibatch/sgd_test_accuracy": mini["sgd_accuracy"],
        }
    )
    progress.advance()
    progress.describe("step-size sweep")
    sweep = _sweep(config, data)
    result.checks.update(sweep["checks"])
    result.metrics["sweep/explicit_limit"] = sweep["explicit_limit"]
    rows = []
    for multiple in config.sweep_multiples:
        ours, explicit = sweep["ours"][multiple], sweep["explicit"][multiple]
        increases = sum(1 for a, b in zip(ours, ours[1:], strict=False) if b > a + 1e-12)
        rows.append(
            {
                "multiple_of_limit": multiple,
                "h": multiple * sweep["explicit_limit"],
                "ours_final_H": ours[-1],
                "ours_steps_with_H_increase": increases,
                "explicit_final_H": explicit[-1],
                "explicit_diverged": (not math.isfinite(explicit[-1])) or explicit[-1] > 1e6,
            }
        )
        result.metrics[f"sweep/{multiple:g}x/ours_H_increases"] = increases
    result.tables["step_size_sweep"] = rows
    progress.advance()
    progress.describe("step time against SGD")
    timing = _timing(config, data)
    result.metrics.update({f"timing/{k}": v for k, v in timing.items()})
    result.tables["timing"] = [timing]
    progress.advance()
    result.figures.append(save_figure(_figure(mini, sweep, config), out_dir, "energy.png"))
    result.notes = NOTES
    return result


def _figure(mini: dict[str, Any], sweep: dict[str, Any], config: Config) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.3))
    axes[0].semilogy([max(r, 1e-18) for r in mini["residuals"]], ".", ms=2)
    axes[0].axhline(1e-10, color="grey", lw=0.5, ls="--")
    axes[0].set_title("|H₊ − H + hD| per mini-batch step")
    axes[0].set_xlabel("step")
    for multiple in config.sweep_multiples:
        axes[1].semilogy(sweep["ours"][multiple], label=f"ours {multiple:g}× limit")
        explicit = [e if math.isfinite(e) else 1e6 for e in sweep["explicit"][multiple]]
        axes[1].semilogy(explicit, ls="--", label=f"explicit {multiple:g}×")
    axes[1].set_title("H on a fixed batch")
    axes[1].set_xlabel("step")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


NOTES = (
    "energy-balance/minibatch: the discrete energy balance of every step on its own mini-batch "
    "(bar 1e-10, float64). passivity/ours/<m>x: check_passivity over the whole fixed-batch run "
    "at m times the explicit stability limit. negative-control/explicit/<m>x: the explicit "
    "(symplectic-Euler) step of the same system at the same step size; ok = true means its "
    "energy record failed the balance, as it must. timing: median ratio of a port-Hamiltonian "
    "step to an SGD step (float32, batch 64), interleaved rounds on a shared machine."
)


register(
    Experiment(
        name="port-hamiltonian",
        question=(
            "Does the discrete-gradient port-Hamiltonian optimiser keep H₊ − H + hD = 0 on "
            "every mini-batch and H non-increasing at 10× the explicit step-size limit, and "
            "what does a step cost against SGD?"
        ),
        config=Config,
        run=run,
    )
)
