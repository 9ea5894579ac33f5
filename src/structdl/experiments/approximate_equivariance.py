"""Approximate equivariance: strict, relaxed and unconstrained models on imperfect symmetry.

The data's rotation symmetry is broken by a known amount ``ε`` (method notes:
docs/methods/equivariant.md).

Data: smooth periodic random fields ``u`` on an ``n × n`` torus and the target map ``F_ε``: a
few explicit steps of the advection–diffusion equation

    ∂_t u = κ Δu − ε w · ∇u,      w = (1, 0.5) / ‖(1, 0.5)‖,

with the 5-point Laplacian and central differences. At ``ε = 0`` the map is pure diffusion,
exactly ``C4``-equivariant on the periodic grid; the wind breaks the symmetry in proportion to
``ε``. Models predict the increment ``Φ(u) = u + N(u)`` with the same channel budget and circular
padding: **strict** (``LiftingConv2d``/``GroupConv2d`` of ``C4``), **relaxed**
(``RelaxedGroupConv2d`` with knob ``λ``, the deviation filters learned) and **unconstrained**
(plain ``Conv2d``). The strict and relaxed models share the channel budget (``width / 4``
regular fields); the CNN is parameter-matched to the strict model (its width is the one whose
parameter count is closest), so that a lower CNN error cannot come from more free weights. The
relaxed model carries its deviation filters on top, by design (they are what it relaxes).
Reported against ``ε``: the relative test error of the increment and the measured
equivariance error ``max_g ‖Φ(g u) − g Φ(u)‖ / ‖Φ(u)‖`` of each trained model (and of
``F_ε`` itself). Structure checks: every strict model is exactly ``C4``-equivariant, every
relaxed model becomes exactly equivariant when its knob is set to ``λ = 0`` and its error
halves with ``λ`` (first order), and the CNN is not equivariant (negative control).
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
from ..structure.result import CheckResult, tolerance
from ._config import require_ints, start_run
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
        width: channel budget of the strict and relaxed models (``width / 4`` regular ``C4``
            fields).
        cnn_width: CNN channels; ``None`` picks the width whose parameter count is closest to
            the strict model's (parameter-matched comparison).
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
    cnn_width: int | None = None
    relaxation: float = 0.1
    steps: int = 300
    batch_size: int = 16
    lr: float = 3e-3

    def validate(self) -> None:
        """Raise :class:`ConfigError` for a bad count, width, strength or time step."""
        require_ints(
            (
                ("size", self.size, 4),
                ("n_train", self.n_train, 1),
                ("n_test", self.n_test, 8),
                ("substeps", self.substeps, 1),
                ("width", self.width, 4),
                ("steps", self.steps, 1),
                ("batch_size", self.batch_size, 1),
            )
        )
        if self.width % 4:
            raise ConfigError(
                f"width must be divisible by 4 — expected width = 4 × (C4 fields) — got "
                f"{self.width} — pass e.g. width=16"
            )
        if self.cnn_width is not None:
            require_ints((("cnn_width", self.cnn_width, 1),))
        if not self.epsilons or min(self.epsilons) < 0:
            raise ConfigError(
                f"invalid epsilons — expected non-negative strengths — got {self.epsilons!r} — "
                "pass e.g. (0.0, 0.5, 1.0)"
            )
        if self.diffusivity * self.dt > 0.25:
            raise ConfigError(
                f"unstable time step — expected κ·dt ≤ 0.25 — got {self.diffusivity * self.dt} "
                "— reduce dt"
            )
        if not (math.isfinite(self.relaxation) and self.relaxation >= 0):
            raise ConfigError(
                f"invalid relaxation — expected a finite λ ≥ 0 — got {self.relaxation!r} — "
                "pass e.g. 0.1"
            )

    @classmethod
    def quick(cls) -> Config:
        """24×24 fields, 64 training fields, ε ∈ {0, 0.25, 0.5, 1}, 300 steps.

        Strict and relaxed models with 4 regular ``C4`` fields (16 channels); the CNN is
        parameter-matched to the strict model (8 channels: 737 vs 765 weights; the relaxed
        model has 3789, its deviation filters included). About one minute of CPU on one
        thread (61 s measured on a shared 2-core machine), nearly all in the 12 training runs.
        """
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


def _cnn_body(width: int) -> nn.Module:
    conv = {"padding": 1, "padding_mode": "circular"}
    return nn.Sequential(
        nn.Conv2d(1, width, 3, **conv),
        nn.GELU(),
        nn.Conv2d(width, width, 3, **conv),
        nn.GELU(),
        nn.Conv2d(width, 1, 3, **conv),
    )


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _cnn_width(config: Config) -> int:
    """CNN channels: ``config.cnn_width``, or the parameter match of the strict model.

    With the same channel budget the CNN has about 3.4× the strict model's weights (every
    ``C4`` filter is shared by four rotated copies), so an equal-budget comparison would credit
    the CNN with extra capacity; matching the counts isolates the effect of the constraint.
    """
    if config.cnn_width is not None:
        return config.cnn_width
    target = _count(_GroupBody(config.width // 4, None))
    return min(range(1, config.width + 1), key=lambda w: abs(_count(_cnn_body(w)) - target))


def _build(name: str, config: Config) -> nn.Module:
    if name == "cnn":
        body: nn.Module = _cnn_body(_cnn_width(config))
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


def _equivariance(model: Any, u: Tensor) -> CheckResult:
    # float64 copy and inputs: the strict bar is then round-off of float64 (1e-12 relative).
    module = copy.deepcopy(model).double() if isinstance(model, nn.Module) else model
    atol = tolerance(torch.float64).equivariance
    return check_equivariance(module, C4, act_image, act_image, u.double(), atol=atol)


def _with_relaxation(model: nn.Module, value: float) -> nn.Module:
    """A copy of a relaxed model with every knob set to ``value`` (``0``: weight sharing)."""
    clone = copy.deepcopy(model)
    for layer in clone.modules():
        if isinstance(layer, RelaxedGroupConv2d):
            layer.relaxation = value
    return clone


def _evaluate(
    name: str, model: nn.Module, u_test: Tensor, target_test: Tensor, config: Config
) -> dict[str, Any]:
    """Test error, equivariance check and, for the relaxed model, its knob response."""
    sample = u_test[:8]
    with torch.no_grad():
        test_error = _relative_increment_error(model(u_test), u_test, target_test)
    check = _equivariance(model, sample)
    row: dict[str, Any] = {
        "test_error": test_error,
        "equivariance_error": check.worst,
        "equivariance_ok": check.ok,
        "parameters": _count(model),
    }
    if name == "relaxed":
        # The knob's meaning on the trained model: λ = 0 must restore exact equivariance, and
        # the error should grow about linearly in λ (first order in the deviation filters).
        zero = _equivariance(_with_relaxation(model, 0.0), sample)
        half = _equivariance(_with_relaxation(model, config.relaxation / 2), sample)
        row["equivariance_error_knob_zero"] = zero.worst
        row["equivariance_ok_knob_zero"] = zero.ok
        row["equivariance_error_knob_half"] = half.worst
    return row


# ----------------------------------------------------------------------------- run
def run(config: Config, out_dir: Path, progress: Progress) -> Result:
    """Train strict, relaxed and unconstrained models for every ``ε``; measure both errors."""
    start_run(config)
    progress.set_total(len(config.epsilons) * len(MODELS))
    u_train = random_fields(config.n_train, config.size, seed=config.seed)
    u_test = random_fields(config.n_test, config.size, seed=config.seed + 10_000)
    rows: list[dict[str, Any]] = []
    for epsilon in config.epsilons:
        with torch.no_grad():
            target_train = advection_diffusion(u_train, epsilon, config)
            target_test = advection_diffusion(u_test, epsilon, config)
        data_error = _equivariance(
            lambda u, eps=epsilon: advection_diffusion(u, eps, config), u_test[:8]
        ).worst
        for name in MODELS:
            progress.describe(f"{name}, ε = {epsilon:g}")
            torch.manual_seed(config.seed)
            model = _build(name, config)
            _train(model, u_train, target_train, config)
            row = {"model": name, "epsilon": epsilon, "data_equivariance_error": data_error}
            rows.append(row | _evaluate(name, model, u_test, target_test, config))
            progress.advance()
    result = Result(metrics=_metrics(config, rows), tables={"runs": rows})
    result.checks = _checks(rows, config.relaxation)
    result.figures = [_figure(config, result.metrics, out_dir)]
    counts = result.metrics["parameters"]
    result.notes = (
        "Strict C4 models are exactly equivariant whatever the data; their test error grows "
        "with the symmetry breaking ε. The relaxed model learns how much equivariance to give "
        f"up; the CNN has no constraint. Parameters: strict {counts['strict']}, CNN "
        f"{counts['cnn']} ({_cnn_width(config)} channels, matched to the strict model), relaxed "
        f"{counts['relaxed']} (the strict weights plus one deviation filter bank per rotation)."
    )
    return result


def _metrics(config: Config, rows: list[dict[str, Any]]) -> dict[str, Any]:
    def pick(name: str, key: str) -> list[Any]:
        return [r[key] for r in rows if r["model"] == name]

    metrics: dict[str, Any] = {
        "epsilons": list(config.epsilons),
        "test_error": {name: pick(name, "test_error") for name in MODELS},
        "equivariance_error": {name: pick(name, "equivariance_error") for name in MODELS},
        "data_equivariance_error": pick("strict", "data_equivariance_error"),
        "parameters": {name: pick(name, "parameters")[0] for name in MODELS},
        "cnn_width": _cnn_width(config),
        "relaxation": config.relaxation,
        "relaxed_equivariance_error_by_knob": {
            "0": pick("relaxed", "equivariance_error_knob_zero"),
            "lambda/2": pick("relaxed", "equivariance_error_knob_half"),
            "lambda": pick("relaxed", "equivariance_error"),
        },
    }
    strict = metrics["test_error"]["strict"]
    metrics["strict_error_grows_with_epsilon"] = bool(strict[-1] > strict[0])
    return metrics


def _checks(rows: list[dict[str, Any]], relaxation: float) -> dict[str, dict[str, Any]]:
    """Structure checks over all ``ε``: strict and knob-zero exact, the CNN not (control)."""

    def combined(name: str, key: str, ok_key: str, what: str, *, expect: bool) -> dict[str, Any]:
        picked = [r for r in rows if r["model"] == name]
        worst = max(r[key] for r in picked) if expect else min(r[key] for r in picked)
        ok = all(r[ok_key] is expect for r in picked)
        bar = tolerance(torch.float64).equivariance
        relation = "≤" if expect else ">"
        return CheckResult(
            ok=ok,
            worst=worst,
            reason=f"{what}: {'max' if expect else 'min'} over ε of max_g ‖Φ(g·u) − g·Φ(u)‖/"
            f"‖Φ(u)‖ = {worst:.3g}, required {relation} {bar:.3g} (float64)",
        ).as_dict()

    checks = {
        "strict_c4_equivariant": combined(
            "strict", "equivariance_error", "equivariance_ok", "strict C4 models", expect=True
        ),
        "relaxed_knob_zero_c4_equivariant": combined(
            "relaxed",
            "equivariance_error_knob_zero",
            "equivariance_ok_knob_zero",
            "trained relaxed models with λ set to 0",
            expect=True,
        ),
        "cnn_not_equivariant (negative control)": combined(
            "cnn", "equivariance_error", "equivariance_ok", "plain CNNs", expect=False
        ),
    }
    if relaxation > 0:  # at λ = 0 both errors are round-off and their ratio means nothing
        checks["relaxed_error_linear_in_knob"] = _knob_linearity(rows)
    return checks


#: Allowed distance of err(λ) / err(λ/2) from 2 (first-order behaviour of the knob).
_LINEARITY_SLACK = 0.25


def _knob_linearity(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``err(λ) / err(λ/2) ≈ 2`` on every trained relaxed model (the knob acts to first order).

    ``L_g(ψ + λΔ_g)`` deviates from weight sharing by ``λ L_g Δ_g``, so for deviations small
    against the shared filter the measured equivariance error is linear in ``λ``; a ratio far
    from 2 means the knob no longer says how much equivariance the model gives up.
    """
    ratios = [
        r["equivariance_error"] / r["equivariance_error_knob_half"]
        for r in rows
        if r["model"] == "relaxed"
    ]
    worst = max(ratios, key=lambda q: abs(q - 2.0))
    return CheckResult(
        ok=all(abs(q - 2.0) <= _LINEARITY_SLACK for q in ratios),
        worst=worst,
        reason=f"relaxed models: err(λ)/err(λ/2) over ε in [{min(ratios):.3f}, "
        f"{max(ratios):.3f}], required 2 ± {_LINEARITY_SLACK}",
    ).as_dict()


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
