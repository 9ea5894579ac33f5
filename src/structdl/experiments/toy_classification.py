"""E3 — ODE networks on 2-D toy classification: ResNet, Hamiltonian, antisymmetric, gradient flow.

Question: do structured ODE networks (Hamiltonian, antisymmetric, gradient flow) classify the
classic 2-D toy sets as well as a plain ResNet, and how does accuracy depend on depth?

Every model is ``x ∈ R² ↦ pad(x, 0) ∈ R^w ↦ ODENet (K layers, Σh = T) ↦ linear head ↦ logits``
with cross-entropy loss and full-batch Adam (docs/methods/dynamics.md):

- ``resnet``: forward Euler on :class:`~structdl.dynamics.Residual` ``σ(A_k y + b_k)``;
- ``hamiltonian``: Störmer–Verlet on :class:`~structdl.dynamics.SeparableHamiltonian`
  ``H_k = 1ᵀγ(A_k p + a_k) + 1ᵀγ(B_k q + b_k)`` with the phase-space embedding ``(q, p) = (x, 0)``
  (the head reads ``(q_K, p_K)``);
- ``antisymmetric``: forward Euler on :class:`~structdl.dynamics.Antisymmetric`
  ``σ((W_k − W_kᵀ − γI) y + b_k)``;
- ``gradient``: forward Euler on :class:`~structdl.dynamics.GradientFlow`
  ``−A_kᵀσ(A_k y + b_k)`` with ReLU (tanh trained unreliably across seeds) and ``T = 8``.
  Here the step is **not** clipped to the non-expansive bound
  ``h ≤ 2/(L‖A‖²)``: the classifier is trained freely and the guarantee is not claimed
  (the nonexpansive-robustness experiment studies the clipped network).

The structured part of the Hamiltonian network is symplectic by construction; this is verified
on the trained networks with :func:`~structdl.structure.check_symplectic` and the ResNet is the
negative control (its padded state is split into two halves to form a phase space).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._errors import ConfigError
from ._config import require_ints, require_known, start_run
from ._registry import Experiment, Progress, Result, register
from .io import save_figure

__all__ = ["Config", "ToyClassifier", "build_model", "run", "train"]

MODELS = ("resnet", "hamiltonian", "antisymmetric", "gradient")
DATASETS = ("spirals", "rings", "moons", "swiss_roll")
#: Data sets and models of the accuracy bar (≥ ``Config.bar`` test accuracy at ``bar_depth``).
BAR_DATASETS = ("spirals", "rings")
BAR_MODELS = ("hamiltonian", "gradient")
_TIMES = {"resnet": 4.0, "hamiltonian": 4.0, "antisymmetric": 4.0, "gradient": 8.0}
_ACTIVATIONS = {
    "resnet": "tanh",
    "hamiltonian": "tanh",
    "antisymmetric": "tanh",
    "gradient": "relu",
}


@dataclass
class Config:
    """Settings of the toy-classification experiment.

    ``quick()``: spirals and rings, depths 4 and 8 (the bar depth), 512 points, 300 epochs of
    full-batch Adam. ``full()``: all four data sets (spirals, rings, moons, Swiss roll), depths
    4, 8, 16 and 32, 1024 points, 500 epochs.

    Attributes:
        seed: seeds the data and every model's initialisation.
        datasets: toy data sets (see :mod:`structdl.data.toys`).
        models: model names, a subset of ``resnet, hamiltonian, antisymmetric, gradient``.
        depths: numbers of layers ``K`` to train.
        bar_depth: depth at which the accuracy bar is measured (must be in ``depths``).
        width: width ``w`` of the augmented state (``x`` padded with zeros); the Hamiltonian
            state is ``(q, p)`` with ``q, p ∈ R^w``.
        hidden: neurons per layer of gradient-flow and Hamiltonian fields (rows of ``A``).
        times: final time ``T = Σ_k h_k`` per model (4 for ResNet, Hamiltonian and
            antisymmetric networks, 8 for the gradient flow, whose steps must be large to
            move points apart: the continuous flow is non-expansive).
        activations: activation per model (tanh, and ReLU for the gradient flow, which trained
            reliably across seeds where tanh did not).
        epochs: full-batch Adam iterations.
        lr: Adam learning rate.
        n_points: points per data set (75 % train, 25 % test).
        bar: accuracy bar for Hamiltonian and gradient-flow networks on spirals and rings.
    """

    seed: int = 0
    datasets: tuple[str, ...] = ("spirals", "rings")
    models: tuple[str, ...] = MODELS
    depths: tuple[int, ...] = (4, 8)
    bar_depth: int = 8
    width: int = 8
    hidden: int = 32
    times: dict[str, float] = field(default_factory=lambda: dict(_TIMES))
    activations: dict[str, str] = field(default_factory=lambda: dict(_ACTIVATIONS))
    epochs: int = 300
    lr: float = 0.02
    n_points: int = 512
    bar: float = 0.98

    @classmethod
    def quick(cls) -> Config:
        """Fast preset: spirals and rings at depths 4 and 8."""
        return cls()

    @classmethod
    def full(cls) -> Config:
        """All four data sets, depths up to 32, more points and epochs."""
        return cls(datasets=DATASETS, depths=(4, 8, 16, 32), epochs=500, n_points=1024)

    def validate(self) -> None:
        """Raise :class:`ConfigError` for unknown names or bad numbers."""
        require_known("data set", self.datasets, DATASETS)
        require_known("model", self.models, MODELS)
        require_ints(
            (
                ("width", self.width, 2),
                ("hidden", self.hidden, 1),
                ("epochs", self.epochs, 1),
                ("n_points", self.n_points, 16),
            )
        )
        if not self.depths or any(not isinstance(k, int) or k < 1 for k in self.depths):
            raise ConfigError(
                f"depths must be positive integers — got {self.depths} — pass e.g. (4, 8)"
            )
        if self.bar_depth not in self.depths:
            raise ConfigError(
                f"bar_depth {self.bar_depth} is not among depths {self.depths} — add it to depths"
            )
        for name in self.models:
            if not self.times.get(name, 0.0) > 0.0 or name not in self.activations:
                raise ConfigError(
                    f"model {name!r} needs a positive time and an activation — got "
                    f"times={self.times}, activations={self.activations} — set "
                    f"times[{name!r}] and activations[{name!r}]"
                )
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive — got lr={self.lr} — pass e.g. lr=0.02")


class ToyClassifier(nn.Module):
    """``head ∘ ODENet ∘ pad``: a 2-D input padded with zeros to width ``w``, an ODE network,
    a linear head. ``layer_states`` returns the ODE network's states layer by layer."""

    def __init__(self, net: nn.Module, width: int) -> None:
        super().__init__()
        self.net = net
        self.width = width

    def _pad(self, x: Tensor) -> Tensor:
        return F.pad(x, (0, self.width - x.shape[1]))

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(batch, 2)``."""
        return self.net(self._pad(x))

    def layer_states(self, x: Tensor) -> list[Tensor]:
        """The states ``z_0 … z_K`` as flat tensors (``(q, p)`` concatenated)."""
        states = self.net.trajectory(self._pad(x))
        return [torch.cat(z, dim=1) if isinstance(z, tuple) else z for z in states]


def build_model(
    name: str, width: int, depth: int, *, hidden: int, T: float, activation: str = "tanh"
) -> ToyClassifier:
    """The classifier ``name`` (one of ``MODELS``) with ``depth`` layers on a width-``w`` state."""
    from ..dynamics import (
        Antisymmetric,
        Euler,
        GradientFlow,
        ODENet,
        Residual,
        SeparableHamiltonian,
        StormerVerlet,
    )

    if name == "resnet":
        fields = [Residual(width, activation=activation) for _ in range(depth)]
        net = ODENet(fields, Euler(), T=T, head=nn.Linear(width, 2))
    elif name == "hamiltonian":
        fields = [
            SeparableHamiltonian(width, width=hidden, activation=activation) for _ in range(depth)
        ]
        net = ODENet(fields, StormerVerlet(), T=T, embed="phase", head=nn.Linear(2 * width, 2))
    elif name == "antisymmetric":
        fields = [Antisymmetric(width, gamma=0.01, activation=activation) for _ in range(depth)]
        net = ODENet(fields, Euler(), T=T, head=nn.Linear(width, 2))
    elif name == "gradient":
        fields = [GradientFlow(width, width=hidden, activation=activation) for _ in range(depth)]
        net = ODENet(fields, Euler(), T=T, head=nn.Linear(width, 2))
    else:
        raise ConfigError(f"unknown model {name!r} — expected one of {MODELS} — got {name!r}")
    return ToyClassifier(net, width)


def train(model: nn.Module, x: Tensor, y: Tensor, *, epochs: int, lr: float) -> list[float]:
    """Full-batch Adam on the cross-entropy; returns the loss per epoch."""
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    return losses


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Fraction of correctly classified points."""
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).double().mean())


# --------------------------------------------------------------------------------------------
# Figures


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _depth_figure(rows: list[dict[str, Any]], config: Config):
    plt = _plt()
    fig, axes = plt.subplots(
        1, len(config.datasets), figsize=(4.2 * len(config.datasets), 3.6), squeeze=False
    )
    for ax, dataset in zip(axes[0], config.datasets, strict=True):
        for model in config.models:
            pts = [
                (r["depth"], r["test_accuracy"])
                for r in rows
                if r["dataset"] == dataset and r["model"] == model
            ]
            depths, accuracies = zip(*pts, strict=True)
            ax.plot(depths, accuracies, "o-", label=model)
        ax.axhline(config.bar, color="grey", ls=":", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(config.depths), [str(k) for k in config.depths])
        ax.minorticks_off()
        ax.set_title(dataset)
        ax.set_xlabel("depth K")
        ax.set_ylim(0.4, 1.01)
    axes[0][0].set_ylabel("test accuracy")
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _decision_figure(
    models: dict[tuple[str, str], ToyClassifier], data: dict[str, Any], config: Config
):
    plt = _plt()
    n_rows, n_cols = len(config.datasets), len(config.models)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3 * n_cols, 3 * n_rows), squeeze=False)
    grid = torch.linspace(-1.3, 1.3, 121)
    gx, gy = torch.meshgrid(grid, grid, indexing="xy")
    points = torch.stack((gx.flatten(), gy.flatten()), dim=1)
    for i, dataset in enumerate(config.datasets):
        split = data[dataset]
        for j, name in enumerate(config.models):
            ax = axes[i][j]
            with torch.no_grad():
                prob = torch.softmax(models[(dataset, name)](points), dim=1)[:, 1]
            ax.contourf(
                gx, gy, prob.reshape(gx.shape), levels=[0, 0.5, 1], colors=["#c6dbef", "#fdd0a2"]
            )
            ax.contour(gx, gy, prob.reshape(gx.shape), levels=[0.5], colors="k", linewidths=0.8)
            ax.scatter(
                split.x_test[:, 0],
                split.x_test[:, 1],
                c=split.y_test,
                s=5,
                cmap="coolwarm",
                vmin=0,
                vmax=1,
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name)
            if j == 0:
                ax.set_ylabel(dataset)
    fig.suptitle(f"decision regions at depth {config.bar_depth} (test points)")
    fig.tight_layout()
    return fig


def _project_2d(z: Tensor) -> Tensor:
    # Principal-component projection of one layer's states: the two directions of largest
    # spread, which is where the network moves the classes apart.
    centred = z - z.mean(dim=0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return centred @ vh[:2].T


def _transport_figure(
    models: dict[tuple[str, str], ToyClassifier], data: dict[str, Any], config: Config, dataset: str
):
    plt = _plt()
    split = data[dataset]
    depth = config.bar_depth
    layers = sorted({0, depth // 4, depth // 2, (3 * depth) // 4, depth})
    fig, axes = plt.subplots(
        len(config.models),
        len(layers),
        figsize=(2.4 * len(layers), 2.4 * len(config.models)),
        squeeze=False,
    )
    for i, name in enumerate(config.models):
        with torch.no_grad():
            states = models[(dataset, name)].layer_states(split.x_test)
        for j, k in enumerate(layers):
            ax = axes[i][j]
            xy = _project_2d(states[k])
            ax.scatter(xy[:, 0], xy[:, 1], c=split.y_test, s=4, cmap="coolwarm")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"layer {k}")
            if j == 0:
                ax.set_ylabel(name)
    fig.suptitle(f"{dataset}: test points transported layer by layer (2 principal directions)")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------


def _symplectic_checks(
    models: dict[tuple[str, str], ToyClassifier], config: Config, result: Result
) -> None:
    from ..structure import check_symplectic

    dataset = config.datasets[0]
    generator = torch.Generator().manual_seed(config.seed)
    w = config.width
    if "hamiltonian" in config.models:
        double = _float64_copy(models[(dataset, "hamiltonian")].net)
        points = torch.randn(8, 2 * w, generator=generator, dtype=torch.float64)
        res = check_symplectic(_pair_map(double), points)
        result.checks[f"symplectic/hamiltonian/{dataset}"] = res.as_dict()
    if "resnet" in config.models:
        double = _float64_copy(models[(dataset, "resnet")].net)
        if w % 2 == 0:
            points = torch.randn(8, w, generator=generator, dtype=torch.float64)
            res = check_symplectic(double.features, points)
            result.checks[f"negative-control/resnet/{dataset}"] = res.as_negative_control(
                "check_symplectic on a ResNet"
            ).as_dict()


def _float64_copy(net: nn.Module) -> nn.Module:
    return copy.deepcopy(net).double()


def _pair_map(net: nn.Module):
    """The structured part of a phase-embedded network as a map on flat ``(q, p)`` points."""
    h = net.step_sizes().detach()

    def phase_map(z: Tensor) -> Tensor:
        w = z.shape[1] // 2
        state: Any = (z[:, :w], z[:, w:])
        for k in range(net.steps):
            state = net.integrator.step(net.field(k), 0.0, state, h[k])
        return torch.cat(state, dim=1)

    return phase_map


def run(config: Config, out_dir: Path, progress: Progress) -> Result:
    """Train every (data set, model, depth) and report accuracies, figures and checks."""
    from ..data import toy_split

    start_run(config)
    progress.set_total(len(config.datasets) * len(config.models) * len(config.depths))
    result = Result()
    data = {name: toy_split(name, config.n_points, seed=config.seed) for name in config.datasets}
    rows, at_bar = _train_all(config, data, progress)
    for row in rows:
        key = f"{row['dataset']}/{row['model']}/depth{row['depth']}/test_accuracy"
        result.metrics[key] = row["test_accuracy"]
    result.metrics.update(_bar_metrics(rows, config))
    result.tables["accuracy"] = rows
    _symplectic_checks(at_bar, config, result)
    result.figures = _figures(rows, at_bar, data, config, out_dir)
    result.notes = (
        f"Inputs are padded with zeros to width {config.width}; Hamiltonian networks use the "
        "phase embedding (x, 0) and a head on (q_K, p_K). Gradient-flow networks here are "
        "trained without the non-expansive step rule (no Lipschitz guarantee is claimed). "
        f"The bar: Hamiltonian and gradient-flow networks at depth {config.bar_depth} reach "
        f"≥ {config.bar:.0%} test accuracy on spirals and rings (bar/met). The symplectic check "
        "runs on the trained Hamiltonian network's structured part in float64; the ResNet is "
        "the negative control (ok = the check correctly failed)."
    )
    return result


def _train_all(
    config: Config, data: dict[str, Any], progress: Progress
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], ToyClassifier]]:
    """Measure: one row per (data set, model, depth); the models at the bar depth."""
    rows: list[dict[str, Any]] = []
    at_bar: dict[tuple[str, str], ToyClassifier] = {}
    for dataset in config.datasets:
        split = data[dataset]
        for name in config.models:
            for depth in config.depths:
                progress.describe(f"{dataset}: {name}, depth {depth}")
                torch.manual_seed(config.seed)
                model = build_model(
                    name,
                    config.width,
                    depth,
                    hidden=config.hidden,
                    T=config.times[name],
                    activation=config.activations[name],
                )
                start = time.process_time()
                losses = train(
                    model, split.x_train, split.y_train, epochs=config.epochs, lr=config.lr
                )
                seconds = time.process_time() - start
                rows.append(
                    {
                        "dataset": dataset,
                        "model": name,
                        "depth": depth,
                        "train_accuracy": accuracy(model, split.x_train, split.y_train),
                        "test_accuracy": accuracy(model, split.x_test, split.y_test),
                        "final_loss": losses[-1],
                        "cpu_seconds": round(seconds, 2),
                    }
                )
                if depth == config.bar_depth:
                    at_bar[(dataset, name)] = model
                progress.advance()
    return rows, at_bar


def _bar_metrics(rows: list[dict[str, Any]], config: Config) -> dict[str, Any]:
    """Tabulate: the worst test accuracy of the bar's models at the bar depth."""
    bar_rows = [
        r
        for r in rows
        if r["depth"] == config.bar_depth
        and r["dataset"] in BAR_DATASETS
        and r["model"] in BAR_MODELS
    ]
    if not bar_rows:
        return {}
    worst = min(r["test_accuracy"] for r in bar_rows)
    return {
        "bar/min_test_accuracy": worst,
        "bar/threshold": config.bar,
        "bar/met": worst >= config.bar,
    }


def _figures(
    rows: list[dict[str, Any]],
    at_bar: dict[tuple[str, str], ToyClassifier],
    data: dict[str, Any],
    config: Config,
    out_dir: Path,
) -> list[str]:
    """Plot: accuracy against depth, decision regions, and the transport of two data sets."""
    names = [
        save_figure(_depth_figure(rows, config), out_dir, "accuracy_vs_depth.png"),
        save_figure(_decision_figure(at_bar, data, config), out_dir, "decision_regions.png"),
    ]
    for dataset in config.datasets[:2]:
        names.append(
            save_figure(
                _transport_figure(at_bar, data, config, dataset),
                out_dir,
                f"transport_{dataset}.png",
            )
        )
    return names


register(
    Experiment(
        name="toy-classification",
        question=(
            "Do Hamiltonian, antisymmetric and gradient-flow ODE networks classify 2-D toy sets "
            "as well as a ResNet, and how does accuracy depend on depth?"
        ),
        config=Config,
        run=run,
    )
)
