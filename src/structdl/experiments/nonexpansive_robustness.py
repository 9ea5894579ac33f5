"""E2 — non-expansive gradient-flow layers: a sharp step-size bound and certified robustness.

Question: is the step-size bound ``h ≤ 2/(L‖A‖²)`` for forward Euler on a gradient-flow field
sharp, and does the resulting 1-Lipschitz network give certified ℓ2 robustness on real data?

(a) *Sharpness.* For a random :class:`~structdl.dynamics.GradientFlow` field
``f(x) = −Aᵀσ(Ax + b)`` in float64 and each activation (ReLU, leaky ReLU, tanh with ``L = 1``;
sigmoid with ``L = 1/4``), the Euler map ``x ↦ x + h f(x)`` has Jacobian ``I − h AᵀDA`` with
``D = diag(σ') ∈ [0, L]``, symmetric with spectrum in ``[1 − hL‖A‖², 1]``
(docs/methods/dynamics.md). So
with ``h = 2/(L‖A‖²)`` it is non-expansive and :func:`~structdl.structure.check_lipschitz`
(random pairs + adversarial ascent) must find no ratio above ``1 + 1e-6``; with
``h = 3/(L‖A‖²)`` the eigenvalue ``1 − 3 = −2`` is reached wherever ``σ' = L``, and the check
must find a violating pair. Sample points include such places (``Ax + b = 1`` for the ReLUs,
``Ax + b = 0`` for tanh and sigmoid) as well as random points.

(b) *Robustness on the 8×8 digits.* A non-expansive network (an :class:`ODENet` of gradient-flow
layers with ``step_rule="clip"``, then a linear head ``W``) against an unconstrained ResNet of
equal size (square :class:`~structdl.dynamics.Residual` layers ``σ(Ay + b)``, same depth, same
number of weights). The logits of the first are ``‖W‖₂``-Lipschitz, so a test point with logit
margin ``m`` is certified at radius ``ε`` when ``m / (√2 ‖W‖₂) ≥ ε``. For the ResNet the only
available bound is the product of per-layer bounds ``Π_k (1 + h_k ‖A_k‖)·‖W‖₂``. Both are
attacked with ℓ2 PGD over an ε sweep; certified accuracy can never exceed accuracy under attack
(a check).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._errors import ConfigError
from ._config import require_ints, start_run
from ._registry import Experiment, Progress, Result, register
from .io import save_figure

__all__ = ["Config", "certified_radius", "pgd_l2", "run"]

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid")


@dataclass
class Config:
    """Settings of the non-expansive robustness experiment.

    ``quick()``: a 10-dimensional layer with 6 neurons and 128 pairs / 60 ascent steps per
    Lipschitz check; digits with 4 layers, 150 epochs of full-batch Adam, PGD with 10 steps on
    200 test images over 6 radii. ``full()``: 512 pairs / 200 ascent steps, 8 layers, 400 epochs,
    PGD with 40 steps on all 450 test images over 9 radii.

    Attributes:
        seed: seeds the random layers, the data split, the models and the search.
        dim: state dimension of the random layer of part (a).
        neurons: rows of ``A`` in part (a) (``≤ dim`` so that ``σ' = L`` everywhere is reachable).
        n_pairs: random pairs per Lipschitz check.
        ascent_steps: adversarial ascent steps per Lipschitz check.
        depth: layers of the two digit networks.
        T: final time of the digit networks (the clipped steps may sum to less).
        epochs: full-batch Adam iterations on the digits.
        lr: Adam learning rate.
        n_attack: test images attacked (the first ``n_attack`` of the test split).
        pgd_steps: PGD iterations per radius.
        epsilons: ℓ2 radii of the sweep (pixels in ``[0, 1]``, 64 of them).
    """

    seed: int = 0
    dim: int = 10
    neurons: int = 6
    n_pairs: int = 128
    ascent_steps: int = 60
    depth: int = 4
    T: float = 4.0
    epochs: int = 150
    lr: float = 0.01
    n_attack: int = 200
    pgd_steps: int = 10
    epsilons: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)

    @classmethod
    def quick(cls) -> Config:
        """Fast preset."""
        return cls()

    @classmethod
    def full(cls) -> Config:
        """Stronger searches and attacks, deeper networks, longer training."""
        return cls(
            n_pairs=512,
            ascent_steps=200,
            depth=8,
            epochs=400,
            n_attack=450,
            pgd_steps=40,
            epsilons=(0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0),
        )

    def validate(self) -> None:
        """Raise :class:`ConfigError` for bad numbers."""
        require_ints(
            (
                ("dim", self.dim, 1),
                ("neurons", self.neurons, 1),
                ("n_pairs", self.n_pairs, 1),
                ("ascent_steps", self.ascent_steps, 0),
                ("depth", self.depth, 1),
                ("epochs", self.epochs, 1),
                ("n_attack", self.n_attack, 1),
                ("pgd_steps", self.pgd_steps, 1),
            )
        )
        if self.neurons > self.dim:
            raise ConfigError(
                f"neurons must not exceed dim — got neurons={self.neurons}, dim={self.dim} — with "
                "more neurons than dimensions σ' = L cannot hold at every neuron at once"
            )
        if not (self.T > 0 and self.lr > 0) or any(e < 0 for e in self.epsilons):
            raise ConfigError(
                f"T, lr must be positive and epsilons non-negative — got T={self.T}, "
                f"lr={self.lr}, epsilons={self.epsilons} — fix the offending value"
            )


# --------------------------------------------------------------------------------------------
# (a) the step-size bound is sharp


def _steep_points(field: Any, n: int, generator: torch.Generator) -> Tensor:
    """Points where every neuron has slope ``σ' = L`` (plus a little noise), and random points."""
    a, b = field.weight.detach(), field.bias.detach()
    target = 0.0 if field.activation.name in ("tanh", "sigmoid") else 1.0
    # Least-squares solution of A x = target − b; exact because A (neurons × dim) has full row rank.
    anchor = torch.linalg.lstsq(a, (target - b).unsqueeze(1)).solution.squeeze(1)
    noise = torch.randn(n, a.shape[1], generator=generator, dtype=a.dtype)
    return torch.cat((anchor + 0.01 * noise, noise), dim=0)


def _sharpness(
    activation: str,
    config: Config,
    generator: torch.Generator,
    result: Result,
    rows: list[dict[str, Any]],
) -> None:
    from ..dynamics import Euler, GradientFlow
    from ..structure import check_lipschitz

    field = GradientFlow(config.dim, width=config.neurons, activation=activation).double()
    nu = field.lipschitz_bound(exact=True)  # L ‖A‖²
    euler = Euler()
    points = _steep_points(field, 8, generator)
    outcome = {}
    for label, factor in (("bound", 2.0), ("beyond", 3.0)):
        h = factor / nu

        def step(x: Tensor, h: float = h) -> Tensor:
            return euler.step(field, 0.0, x, h)

        res = check_lipschitz(
            step,
            points,
            bound=1.0,
            n_pairs=config.n_pairs,
            ascent_steps=config.ascent_steps,
            seed=config.seed,
        )
        outcome[label] = (h, res)
    h_ok, ok = outcome["bound"]
    h_bad, bad = outcome["beyond"]
    result.checks[f"nonexpansive/euler-h=2/(L|A|^2)/{activation}"] = ok.as_dict()
    result.checks[f"negative-control/euler-h=3/(L|A|^2)/{activation}"] = bad.as_negative_control(
        "check_lipschitz beyond the step bound (the bound is sharp)"
    ).as_dict()
    rows.append(
        {
            "activation": activation,
            "L": field.activation.slope_bound,
            "norm_A": math.sqrt(nu / field.activation.slope_bound),
            "h_bound": h_ok,
            "worst_ratio_at_bound": float(ok.worst),
            "h_beyond": h_bad,
            "worst_ratio_beyond": float(bad.worst),
        }
    )


# --------------------------------------------------------------------------------------------
# (b) digits: certified and empirical robustness


class _Classifier(nn.Module):
    """``head ∘ ODENet``; ``features_bound()`` is a Lipschitz bound of the ODE part."""

    def __init__(self, net: nn.Module, head: nn.Linear, *, certified: bool) -> None:
        super().__init__()
        self.net = net
        self.head = head
        self.certified = certified

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.net(x))

    def features_bound(self) -> float:
        if self.certified:
            return float(self.net.lipschitz_bound())
        # ResNet: Π_k (1 + h_k L ‖A_k‖), the best available a-priori bound.
        h = self.net.step_sizes().detach()
        bound = 1.0
        for k in range(self.net.steps):
            field = self.net.field(k)
            norm = float(torch.linalg.matrix_norm(field.weight.detach(), 2))
            bound *= 1.0 + float(h[k]) * field.activation.slope_bound * norm
        return bound

    def lipschitz_bound(self) -> float:
        """Lipschitz bound of the logits: ``‖W‖₂ · features_bound``."""
        head_norm = float(torch.linalg.matrix_norm(self.head.weight.detach(), 2))
        return head_norm * self.features_bound()


def _digit_models(config: Config) -> dict[str, _Classifier]:
    from ..dynamics import Euler, GradientFlow, ODENet, Residual

    dim = 64
    torch.manual_seed(config.seed)
    gradient = ODENet(
        [GradientFlow(dim, width=dim, activation="relu") for _ in range(config.depth)],
        Euler(),
        T=config.T,
        step_rule="clip",
    )
    torch.manual_seed(config.seed)
    resnet = ODENet(
        [Residual(dim, activation="relu") for _ in range(config.depth)], Euler(), T=config.T
    )
    # float64: the step rule clips h_k with a power-iteration estimate of ‖A_k‖, which must be
    # accurate to far better than float32 round-off for the clipped step to respect the exact
    # bound that ODENet.lipschitz_bound certifies.
    return {
        "nonexpansive": _Classifier(gradient, nn.Linear(dim, 10), certified=True).double(),
        "resnet": _Classifier(resnet, nn.Linear(dim, 10), certified=False).double(),
    }


def _train(model: nn.Module, x: Tensor, y: Tensor, config: Config) -> float:
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss = torch.zeros(())
    for _ in range(config.epochs):
        optimiser.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimiser.step()
    return float(loss.detach())


def certified_radius(logits: Tensor, y: Tensor, lipschitz: float) -> Tensor:
    """``margin / (√2 · Lip)``: no ℓ2 perturbation smaller than this changes the prediction.

    The margin is ``z_y − max_{j≠y} z_j`` (negative when misclassified). Each logit difference
    ``z_y − z_j`` is ``√2·Lip``-Lipschitz when the logit map is ``Lip``-Lipschitz.
    """
    true = logits.gather(1, y.unsqueeze(1)).squeeze(1)
    others = logits.scatter(1, y.unsqueeze(1), float("-inf")).max(dim=1).values
    return (true - others) / (math.sqrt(2.0) * lipschitz)


def pgd_l2(model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int) -> Tensor:
    """ℓ2 projected gradient ascent on the cross-entropy within ``‖δ‖ ≤ eps``, pixels in [0, 1].

    Step ``2.5·eps/steps`` along the normalised gradient, then projection onto the ball and the
    box (Madry et al.'s schedule). Returns the adversarial inputs.
    """
    if eps == 0.0:
        return x.clone()
    alpha = 2.5 * eps / steps
    delta = torch.zeros_like(x)
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model(x + delta), y)
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            direction = grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
            delta = delta + alpha * direction
            norm = delta.norm(dim=1, keepdim=True)
            delta = delta * torch.clamp(eps / norm.clamp_min(1e-12), max=1.0)
            delta = (x + delta).clamp(0.0, 1.0) - x
    return (x + delta).detach()


def _robustness(
    models: dict[str, _Classifier], split: Any, config: Config, result: Result, progress: Progress
) -> dict[str, dict[str, list[float]]]:
    x, y = split.x_test[: config.n_attack], split.y_test[: config.n_attack]
    curves: dict[str, dict[str, list[float]]] = {}
    sound = True
    worst_violation = 0.0
    for name, model in models.items():
        lip = model.lipschitz_bound()
        with torch.no_grad():
            radius = certified_radius(model(x), y, lip)
        curves[name] = {"pgd": [], "certified": []}
        for eps in config.epsilons:
            progress.describe(f"digits: PGD on {name}, ε = {eps}")
            adversarial = pgd_l2(model, x, y, eps, config.pgd_steps)
            with torch.no_grad():
                robust = model(adversarial).argmax(dim=1) == y
            certified = radius >= eps
            curves[name]["pgd"].append(float(robust.double().mean()))
            curves[name]["certified"].append(float(certified.double().mean()))
            # Soundness: a certified point must survive every attack within its radius.
            broken = certified & ~robust
            if bool(broken.any()):
                sound = False
                worst_violation = max(worst_violation, float(broken.double().mean()))
        result.metrics[f"digits/{name}/lipschitz_bound"] = lip
        result.metrics[f"digits/{name}/median_certified_radius"] = float(radius.median())
    result.checks["certificate-sound/nonexpansive-and-resnet"] = {
        "ok": sound,
        "worst": worst_violation,
        "reason": (
            "every test point certified at radius ε survived the ℓ2 PGD attack of radius ε"
            if sound
            else f"a certified point was broken by PGD (fraction {worst_violation:.3g}): the "
            "Lipschitz bound is wrong"
        ),
    }
    return curves


def _lipschitz_checks(
    models: dict[str, _Classifier], split: Any, config: Config, result: Result
) -> None:
    from ..structure import check_lipschitz

    points = split.x_test[:32]
    for name, model in models.items():
        net = copy.deepcopy(model.net).double()
        res = check_lipschitz(
            net.features,
            points,
            bound=1.0,
            n_pairs=config.n_pairs,
            ascent_steps=config.ascent_steps,
            seed=config.seed,
        )
        if name == "nonexpansive":
            result.checks["nonexpansive/digits-network"] = res.as_dict()
        else:
            result.checks["negative-control/resnet-digits-network"] = res.as_negative_control(
                "check_lipschitz on the unconstrained ResNet"
            ).as_dict()
        result.metrics[f"digits/{name}/empirical_lipschitz_features"] = float(res.worst)


def _figure(curves: dict[str, dict[str, list[float]]], config: Config):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    colours = {"nonexpansive": "tab:blue", "resnet": "tab:red"}
    for name, curve in curves.items():
        ax.plot(config.epsilons, curve["pgd"], "o-", color=colours[name], label=f"{name}: PGD")
        ax.plot(
            config.epsilons,
            curve["certified"],
            "s--",
            color=colours[name],
            label=f"{name}: certified",
        )
    ax.set_xlabel("ℓ2 radius ε")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    ax.set_title("8×8 digits: accuracy under attack and certified accuracy")
    fig.tight_layout()
    return fig


def run(config: Config, out_dir: Path, progress: Progress) -> Result:
    """Part (a) for the four activations, then part (b) on the digits."""
    from ..data import digits_split

    generator = start_run(config)
    progress.set_total(len(ACTIVATIONS) + 2 + len(config.epsilons))
    result = Result()

    rows: list[dict[str, Any]] = []
    for activation in ACTIVATIONS:
        progress.describe(f"step-size bound: {activation}")
        _sharpness(activation, config, generator, result, rows)
        progress.advance()
    result.tables["step_size_bound"] = rows

    split = digits_split(test_fraction=0.25, seed=config.seed, dtype=torch.float64)
    models = _digit_models(config)
    table = []
    for name, model in models.items():
        progress.describe(f"digits: training {name}")
        start = time.process_time()
        loss = _train(model, split.x_train, split.y_train, config)
        with torch.no_grad():
            acc = float((model(split.x_test).argmax(1) == split.y_test).double().mean())
        result.metrics[f"digits/{name}/clean_accuracy"] = acc
        table.append(
            {
                "model": name,
                "clean_accuracy": acc,
                "final_loss": loss,
                "cpu_seconds": round(time.process_time() - start, 2),
            }
        )
        progress.advance()
    curves = _robustness(models, split, config, result, progress)
    _lipschitz_checks(models, split, config, result)
    for row in table:
        curve = curves[row["model"]]
        for eps, pgd, cert in zip(config.epsilons, curve["pgd"], curve["certified"], strict=True):
            row[f"pgd@{eps:g}"] = pgd
            row[f"certified@{eps:g}"] = cert
    result.tables["digits"] = table
    result.figures.append(save_figure(_figure(curves, config), out_dir, "accuracy_vs_eps.png"))
    result.notes = (
        "Part (a): checks nonexpansive/euler-h=2/(L|A|^2)/<activation> pass when no pair with "
        "ratio above 1 + 1e-6 is found at the bound; negative-control/euler-h=3/(L|A|^2)/"
        "<activation> are ok when the check correctly finds a violating pair beyond it. "
        "Part (b): certified accuracy uses margin/(√2·Lip) ≥ ε with Lip = ‖W_head‖₂ for the "
        "non-expansive network and the product bound Π(1 + h‖A_k‖)·‖W_head‖₂ for the ResNet; "
        "PGD accuracy is an upper bound on true robust accuracy, certified accuracy a lower one."
    )
    return result


register(
    Experiment(
        name="nonexpansive-robustness",
        question=(
            "Is h ≤ 2/(L‖A‖²) the sharp non-expansive step for Euler on a gradient flow, and does "
            "the 1-Lipschitz network it yields give certified ℓ2 robustness on digits?"
        ),
        config=Config,
        run=run,
    )
)
