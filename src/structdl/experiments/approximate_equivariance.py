"""Approximate equivariance (METHODS §9.6): strict, relaxed and unconstrained models when the
data's rotation symmetry is broken by a known amount ``ε``.

Data: smooth periodic random fields ``u`` on an ``n × n`` torus and the target map ``F_ε``: a
few explicit steps of the advection–diffusion equation

    ∂_t u = κ Δu − ε w · ∇u,      w = (1, 0.5) / ‖(1, 0.5)‖,

with the 5-point Laplacian and central differences. At ``ε = 0`` the map is pure diffusion,
exactly ``C4``-equivariant on the periodic grid; the wind breaks the symmetry in proportion to
``ε``. Models predict the increment ``Φ(u) = u + N(u)`` with the same channel budget and circular
padding: **strict** (``LiftingConv2d``/``GroupConv2d`` of ``C4``), **relaxed**
(``RelaxedGroupConv2d`` with knob ``λ``, the deviation filters learned) and **unconstrained**
(plain ``Conv2d``). Reported against ``ε``: the relative test error of the increment and the
measured equivariance error ``max_g ‖Φ(g u) − g Φ(u)‖ / ‖Φ(u)‖`` of each trained model (and of
``F_ε`` itself).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._errors import ConfigError
from ..equivariant import C4, GroupConv2d, GroupPool, LiftingConv2d, RelaxedGroupConv2d, act_image
from ..structure.checks import check_equivariance
from ._registry import Experiment, Progress, Result, register
from .io import save_figure

__all__ = ["Config", "advection_diffusion", "random_fields", "run"]

MODELS = ("strict", "relaxed", "cnn")
_WIND = (1.0 / math.sqrt(1.25), 0.5 / math.sqrt(1.25))


@dataclass
class Config:
    """Settings of the approximate-equivariance experiment.

    Attributes:
        seed: seed of data and weights.
        size: side ``n`` of the periodic grid.
        n_train: training fields.
        n_test: test fields.
        epsilons: symmetry-breaking strengths ``ε``.
        diffusivity: ``κ``.
        dt: explicit time step (``κ dt ≤ 1/4`` for stability of the diffusion part).
        substeps: explicit steps that make up ``F_ε``.
        width: channel budget (CNN channels; ``width / 4`` regular ``C4`` fields).
        relaxation: ``λ`` of the relaxed model.
        steps: Adam steps.
        batch_size: fields per step.
        lr: Adam learning rate (cosine decay).
    """

    seed: int = 0
    size: int = 24
    n_train: int = 64
    n_test: int = 64
    epsilons: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)
    diffusivity: float = 1.0
    dt: float = 0.2
    substeps: int = 2
    width: int = 16
    relaxation: float = 0.1
    steps: int = 300
    batch_size: int = 16
    lr: float = 3e-3

    @classmethod
    def quick(cls) -> Config:
        """24×24 fields, 64 training fields, ε ∈ {0, 0.25, 0.5, 1}, 300 steps."""
        return cls()

    @classmethod
    def full(cls) -> Config:
        """32×32 fields, 256 training fields, 7 values of ε, 2000 steps, 32 channels."""
        return cls(
            size=32,
            n_train=256,
            n_test=256,
            epsilons=(0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5),
            width=32,
            steps=2000,
        )


# ----------------------------------------------------------------------------- data
def random_fields(n: int, size: int, *, seed: int, bandwidth: float = 3.0) -> Tensor:
    """Smooth periodic Gaussian fields ``(n, 1, size, size)`` with unit standard deviation."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, 1, size, size, generator=generator, dtype=torch.float64)
    k = torch.fft.fftfreq(size, d=1.0 / size, dtype=torch.float64)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    spectrum = torch.fft.fft2(noise) * torch.exp(-k2 / (2 * bandwidth**2))
    fields = torch.fft.ifft2(spectrum).real
    return (fields / fields.std(dim=(-2, -1), keepdim=True)).float()


def advection_diffusion(u: Tensor, epsilon: float, config: Config) -> Tensor:
    """``F_ε(u)``: ``substeps`` explicit Euler steps of ``κ Δu − ε w·∇u`` on the torus."""
    for _ in range(config.substeps):
        up, down = torch.roll(u, 1, dims=-2), torch.roll(u, -1, dims=-2)
        left, right = torch.roll(u, 1, dims=-1), torch.roll(u, -1, dims=-1)
        laplacian = up + down + left + right - 4 * u
        grad_col, grad_row = (right - left) / 2, (down - up) / 2
        advection = _WIND[0] * grad_col + _WIND[1] * grad_row
        u = u + config.dt * (config.diffusivity * laplacian - epsilon * advection)
    return u


# ----------------------------------------------------------------------------- models
class _Increment(nn.Module):
    """``Φ(u) = u + N(u)``: the identity is equivariant, so Φ inherits N's structure."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, u: Tensor) -> Tensor:
        return u + self.body(u)


class _GroupBody(nn.Module):
    def __init__(self, fields: int, relaxation: float | None) -> None:
        super().__init__()
        conv = {"padding_mode": "circular"}
        if relaxation is None:
            self.layers = nn.ModuleList(
                [
                    LiftingConv2d(1, fields, 3, C4, **conv),
                    GroupConv2d(fields, fields, 3, C4, **conv),
                    GroupConv2d(fields, 1, 3, C4, **conv),
                ]
            )
        else:
            self.layers = nn.ModuleList(
                [
                    RelaxedGroupConv2d(
                        1, fields, 3, C4, relaxation=relaxation, lifting=True, **conv
                    ),
                    RelaxedGroupConv2d(fields, fields, 3, C4, relaxation=relaxation, **conv),
                    RelaxedGroupConv2d(fields, 1, 3, C4, relaxation=relaxation, **conv),
                ]
            )
        self.pool = GroupPool(C4, "mean")

    def forward(self, u: Tensor) -> Tensor:
        h = F.gelu(self.layers[0](u))
        h = F.gelu(self.layers[1](h))
        return self.pool(self.layers[2](h))


def _build(name: str, config: Config) -> nn.Module:
    if name == "cnn":
        conv = {"padding": 1, "padding_mode": "circular"}
        body: nn.Module = nn.Sequential(
            nn.Conv2d(1, config.width, 3, **conv),
            nn.GELU(),
            nn.Conv2d(config.width, config.width, 3, **conv),
            nn.GELU(),
            nn.Conv2d(config.width, 1, 3, **conv),
        )
    else:
        body = _GroupBody(config.width // 4, config.relaxation if name == "relaxed" else None)
    return _Increment(body)


def _train(model: nn.Module, u: Tensor, target: Tensor, config: Config) -> None:
    generator = torch.Generator().manual_seed(config.seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.steps)
    for _ in range(config.steps):
        index = torch.randint(u.shape[0], (config.batch_size,), generator=generator)
        loss = F.mse_loss(model(u[index]), target[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()


def _relative_increment_error(prediction: Tensor, u: Tensor, target: Tensor) -> float:
    return float((prediction - target).norm() / (target - u).norm())


def _equivariance_error(model: Any, u: Tensor) -> float:
    module = copy.deepcopy(model).double() if isinstance(model, nn.Module) else model
    return check_equivariance(module, C4, act_image, act_image, u.double(), atol=1.0).worst


# ----------------------------------------------------------------------------- run
def run(config: Config, out_dir: Path, progress: Progress) -> Result:
    """Train strict, relaxed and unconstrained models for every ``ε``; measure both errors."""
    if config.width % 4:
        raise ConfigError(
            f"width must be divisible by 4 — expected width = 4 × (C4 fields) — got "
            f"{config.width} — pass e.g. width=16"
        )
    if not config.epsilons or min(config.epsilons) < 0:
        raise ConfigError(
            f"invalid epsilons — expected non-negative strengths — got {config.epsilons!r} — "
            "pass e.g. (0.0, 0.5, 1.0)"
        )
    if config.diffusivity * config.dt > 0.25:
        raise ConfigError(
            f"unstable time step — expected κ·dt ≤ 0.25 — got {config.diffusivity * config.dt} "
            "— reduce dt"
        )
    progress.set_total(len(config.epsilons) * len(MODELS))
    u_train = random_fields(config.n_train, config.size, seed=config.seed)
    u_test = random_fields(config.n_test, config.size, seed=config.seed + 10_000)
    rows: list[dict[str, Any]] = []
    for epsilon in config.epsilons:
        with torch.no_grad():
            target_train = advection_diffusion(u_train, epsilon, config)
            target_test = advection_diffusion(u_test, epsilon, config)
        data_error = _equivariance_error(
            lambda u, eps=epsilon: advection_diffusion(u, eps, config), u_test[:8]
        )
        for name in MODELS:
            progress.describe(f"{name}, ε = {epsilon:g}")
            torch.manual_seed(config.seed)
            model = _build(name, config)
            _train(model, u_train, target_train, config)
            with torch.no_grad():
                test_error = _relative_increment_error(model(u_test), u_test, target_test)
            rows.append(
                {
                    "model": name,
                    "epsilon": epsilon,
                    "test_error": test_error,
                    "equivariance_error": _equivariance_error(model, u_test[:8]),
                    "data_equivariance_error": data_error,
                    "parameters": sum(p.numel() for p in model.parameters()),
                }
            )
            progress.advance()

    def pick(name: str, key: str) -> list[float]:
        return [r[key] for r in rows if r["model"] == name]

    metrics: dict[str, Any] = {
        "epsilons": list(config.epsilons),
        "test_error": {name: pick(name, "test_error") for name in MODELS},
        "equivariance_error": {name: pick(name, "equivariance_error") for name in MODELS},
        "data_equivariance_error": pick("strict", "data_equivariance_error"),
        "parameters": {name: pick(name, "parameters")[0] for name in MODELS},
    }
    strict = metrics["test_error"]["strict"]
    metrics["strict_error_grows_with_epsilon"] = bool(strict[-1] > strict[0])
    result = Result(metrics=metrics, tables={"runs": rows})
    result.figures = [_figure(config, metrics, out_dir)]
    result.notes = (
        "Strict C4 models are exactly equivariant whatever the data; their test error grows "
        "with the symmetry breaking ε. The relaxed model learns how much equivariance to give "
        "up; the CNN has no constraint."
    )
    return result


def _figure(config: Config, metrics: dict[str, Any], out_dir: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    eps = np.array(config.epsilons)
    for name in MODELS:
        axes[0].plot(eps, metrics["test_error"][name], "o-", label=name)
        axes[1].semilogy(
            eps, np.maximum(metrics["equivariance_error"][name], 1e-17), "o-", label=name
        )
    axes[1].semilogy(
        eps, np.maximum(metrics["data_equivariance_error"], 1e-17), "k--", label="target map"
    )
    axes[0].set_ylabel("relative test error of the increment")
    axes[1].set_ylabel("equivariance error (C4)")
    for ax in axes:
        ax.set_xlabel("symmetry breaking ε")
        ax.legend(fontsize=8)
    return save_figure(fig, out_dir, "errors_vs_epsilon.png")


register(
    Experiment(
        name="approximate-equivariance",
        question=(
            "When the data's rotation symmetry is broken by ε, how do strictly equivariant, "
            "relaxed and unconstrained models compare in test error and equivariance error?"
        ),
        config=Config,
        run=run,
    )
)
