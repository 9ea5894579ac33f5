"""E5 — features on the sphere S²: Lie-group layers against a ResNet followed by a projection.

Question: do Lie–Euler and RKMK layers keep features exactly on S² at every layer while learning
a flow map as well as an unconstrained ResNet that is projected back at the end?

The target is the time-``T`` map ``m₀ ↦ m(T)`` of Euler's equations of a free rigid body,
``m' = m × I⁻¹m`` with ``I = diag(1, 2, 3)`` (:class:`~structdl.dynamics.physics.FreeRigidBody`),
which preserves ``‖m‖``; the training and test pairs are computed with RKMK(4) and 200 steps
from points uniform on S². Models (each ``K`` layers, ``Σh = T``, trained on the mean squared
error with full-batch Adam, docs/methods/dynamics.md):

- ``lie_euler``: ``y ← exp(h[ω_k(y)]×) y`` with :class:`~structdl.dynamics.LieAlgebraField`
  ``ω_k(y) = y × N_k(y)`` (:class:`~structdl.dynamics.LieEuler`);
- ``rkmk``: the same fields with the Runge–Kutta–Munthe-Kaas method
  (:class:`~structdl.dynamics.RKMK`);
- ``resnet``: forward Euler on :class:`~structdl.dynamics.Residual` ``Bσ(Ay + b)`` in R³, then
  ``y/‖y‖`` at the output.

Rotations preserve norms, so the Lie-group features stay on S² to round-off at every layer;
:func:`~structdl.structure.check_on_manifold` verifies this after 1000 layers in float64, with
the ResNet (no projection) as the negative control.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .._errors import ConfigError
from ._config import require_ints, start_run
from ._registry import Experiment, Progress, Result, register
from .io import save_figure

__all__ = ["Config", "run", "sphere_distance"]

MODELS = ("lie_euler", "rkmk", "resnet")


@dataclass
class Config:
    """Settings of the sphere-features experiment.

    ``quick()``: 256 training and 256 test pairs, ``T = 1``, 8 layers, width 16, 200 epochs,
    RKMK of order 2, 1000-layer check. ``full()``: 1024/1024 pairs, 16 layers, 600 epochs,
    RKMK of order 4.

    Attributes:
        seed: seeds the data and the models.
        n_train: training pairs.
        n_test: test pairs.
        T: time of the target flow map.
        depth: layers ``K`` of each model.
        width: hidden width of the algebra network ``N`` and of the ResNet field.
        epochs: full-batch Adam iterations.
        lr: Adam learning rate.
        rkmk_order: order of the RKMK layers (2 or 4).
        check_layers: layers of the long network of the manifold check.
        inertia: principal moments of inertia of the rigid body.
    """

    seed: int = 0
    n_train: int = 256
    n_test: int = 256
    T: float = 1.0
    depth: int = 8
    width: int = 16
    epochs: int = 200
    lr: float = 0.01
    rkmk_order: int = 2
    check_layers: int = 1000
    inertia: tuple[float, float, float] = (1.0, 2.0, 3.0)

    @classmethod
    def quick(cls) -> Config:
        """Fast preset."""
        return cls()

    @classmethod
    def full(cls) -> Config:
        """More data, deeper models, RKMK of order 4."""
        return cls(n_train=1024, n_test=1024, depth=16, epochs=600, rkmk_order=4)

    def validate(self) -> None:
        """Raise :class:`ConfigError` for bad numbers."""
        require_ints(
            (
                ("n_train", self.n_train, 1),
                ("n_test", self.n_test, 1),
                ("depth", self.depth, 1),
                ("width", self.width, 1),
                ("epochs", self.epochs, 1),
                ("check_layers", self.check_layers, 1),
            )
        )
        if self.rkmk_order not in (2, 4):
            raise ConfigError(f"rkmk_order must be 2 or 4 — got {self.rkmk_order!r} — pass 2 or 4")
        if not (self.T > 0 and self.lr > 0):
            raise ConfigError(
                f"T and lr must be positive — got T={self.T}, lr={self.lr} — pass e.g. T=1.0"
            )


def sphere_distance(y: Tensor) -> Tensor:
    """Distance from the unit sphere, ``|‖y‖ − 1|`` per row."""
    return (y.norm(dim=-1) - 1.0).abs()


def _data(config: Config, generator: torch.Generator) -> dict[str, Tensor]:
    from ..dynamics import RKMK
    from ..dynamics.physics import FreeRigidBody

    body = FreeRigidBody(config.inertia)
    n = config.n_train + config.n_test
    y0 = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    y0 = y0 / y0.norm(dim=1, keepdim=True)
    steps = 200
    y = y0
    method = RKMK(order=4)
    with torch.no_grad():
        for k in range(steps):
            y = method.step(body, k * config.T / steps, y, config.T / steps)
    return {
        "x_train": y0[: config.n_train],
        "y_train": y[: config.n_train],
        "x_test": y0[config.n_train :],
        "y_test": y[config.n_train :],
    }


class _Projected(nn.Module):
    """An ODE network followed by the projection ``y/‖y‖`` onto the sphere."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        y = self.net(x)
        return y / y.norm(dim=1, keepdim=True)

    def trajectory(self, x: Tensor) -> list[Tensor]:
        return self.net.trajectory(x)


def _build(name: str, config: Config) -> nn.Module:
    from ..dynamics import RKMK, Euler, LieAlgebraField, LieEuler, ODENet, Residual

    k, w = config.depth, config.width
    if name == "lie_euler":
        return ODENet([LieAlgebraField(w) for _ in range(k)], LieEuler(), T=config.T).double()
    if name == "rkmk":
        fields = [LieAlgebraField(w) for _ in range(k)]
        return ODENet(fields, RKMK(order=config.rkmk_order), T=config.T).double()
    net = ODENet([Residual(3, width=w) for _ in range(k)], Euler(), T=config.T).double()
    return _Projected(net)


def _train(model: nn.Module, x: Tensor, y: Tensor, config: Config) -> float:
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss = torch.zeros(())
    for _ in range(config.epochs):
        optimiser.zero_grad()
        loss = ((model(x) - y) ** 2).sum(dim=1).mean()
        loss.backward()
        optimiser.step()
    return float(loss.detach())


def _long_network(model: nn.Module, config: Config) -> nn.Module:
    """``check_layers`` layers that cycle through the trained fields (same step size)."""
    from ..dynamics import ODENet

    inner = model.net if isinstance(model, _Projected) else model
    h = config.T / config.depth
    fields = [inner.field(k % config.depth) for k in range(config.check_layers)]
    return ODENet(fields, inner.integrator, T=h * config.check_layers)


def _manifold_checks(
    models: dict[str, nn.Module], x: Tensor, config: Config, result: Result
) -> None:
    from ..structure import check_on_manifold

    for name, model in models.items():
        long_net = _long_network(model, config)
        with torch.no_grad():
            states = long_net.trajectory(x)
        every_layer = torch.cat(states)
        res = check_on_manifold(sphere_distance, every_layer)
        label = f"{config.check_layers} layers"
        if name == "resnet":
            result.checks[f"negative-control/resnet-{label}"] = {
                "ok": not res.ok,
                "worst": float(res.worst),
                "reason": "negative control: Euler-ResNet features (before the projection) must "
                f"leave the sphere — {'they did' if not res.ok else 'they did NOT'} — {res.reason}",
            }
        else:
            result.checks[f"on-sphere/{name}-{label}"] = res.as_dict()
        result.metrics[f"{name}/max_sphere_distance_{config.check_layers}_layers"] = float(
            res.worst
        )


def _figure(distances: dict[str, list[float]], errors: dict[str, float]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, values in distances.items():
        left.semilogy(range(len(values)), [max(v, 1e-17) for v in values], "o-", ms=3, label=name)
    left.axhline(1e-12, color="grey", ls=":", lw=1)
    left.set_xlabel("layer k")
    left.set_ylabel("max |‖y_k‖ − 1| over test points")
    left.set_title("distance from S² layer by layer")
    left.legend(fontsize=8)
    names = list(errors)
    right.bar(names, [errors[n] for n in names], color=["tab:blue", "tab:orange", "tab:red"])
    right.set_ylim(0.0, None)
    right.set_ylabel("test RMSE ‖ŷ − y(T)‖")
    right.set_title("learned flow map: test error")
    fig.tight_layout()
    return fig


def run(config: Config, out_dir: Path, progress: Progress) -> Result:
    """Train the three models, measure the distance from S² per layer, run the manifold check."""
    generator = start_run(config)
    progress.set_total(len(MODELS) + 1)
    data = _data(config, generator)
    result = Result()

    models: dict[str, nn.Module] = {}
    distances: dict[str, list[float]] = {}
    errors: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    for name in MODELS:
        progress.describe(f"training {name}")
        torch.manual_seed(config.seed)
        model = _build(name, config)
        start = time.process_time()
        loss = _train(model, data["x_train"], data["y_train"], config)
        seconds = time.process_time() - start
        with torch.no_grad():
            prediction = model(data["x_test"])
            rmse = float(((prediction - data["y_test"]) ** 2).sum(dim=1).mean().sqrt())
            per_layer = [float(sphere_distance(z).max()) for z in model.trajectory(data["x_test"])]
        models[name] = model
        distances[name] = per_layer
        errors[name] = rmse
        rows.append(
            {
                "model": name,
                "train_loss": loss,
                "test_rmse": rmse,
                "max_sphere_distance_hidden_layers": max(per_layer),
                "sphere_distance_output": float(sphere_distance(prediction).max()),
                "cpu_seconds": round(seconds, 2),
            }
        )
        result.metrics[f"{name}/test_rmse"] = rmse
        result.metrics[f"{name}/max_sphere_distance_hidden_layers"] = max(per_layer)
        progress.advance()

    progress.describe(f"manifold check after {config.check_layers} layers")
    _manifold_checks(models, data["x_test"], config, result)
    progress.advance()
    result.tables["models"] = rows
    result.figures.append(save_figure(_figure(distances, errors), out_dir, "sphere_distance.png"))
    result.notes = (
        "The Lie-group models keep every hidden feature on S² to round-off (≤ 1e-12 in float64 "
        f"after {config.check_layers} layers, which cycle through the trained fields); the "
        "ResNet's hidden features leave the sphere and only its output is projected back. The "
        "negative-control check is ok when check_on_manifold correctly fails for the ResNet."
    )
    return result


register(
    Experiment(
        name="sphere-features",
        question=(
            "Do Lie–Euler and RKMK layers keep features on S² at every layer while learning a "
            "flow map on the sphere as well as a projected ResNet?"
        ),
        config=Config,
        run=run,
    )
)
