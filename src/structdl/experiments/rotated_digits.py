"""E12 — G-CNN accuracy on rotated digits and equivariance error against rotation angle.

Part 1 (accuracy): scikit-learn's 8×8 digits; models are trained on upright digits and tested
on held-out digits rotated by random multiples of 90° (and, in a second test set, also randomly
mirrored). A quarter turn of an 8×8 grid is an exact pixel permutation, so the p4/p4m networks
(:class:`~structdl.equivariant.LiftingConv2d` → :class:`~structdl.equivariant.GroupConv2d` →
:class:`~structdl.equivariant.GlobalPool`) are exactly invariant. Compared: a plain CNN, the
same CNN trained with random quarter-turn augmentation, a p4 (``C4``) and a p4m (``D4``)
invariant network, all of one shape (with batch norm in every model) and at about the same
number of parameters (reported), for several training-set sizes, mean ± std over seeds; the
6 ↔ 9 mix-ups of p4 (a 6 turned by 180° resembles a 9) are counted to measure that cap.

Part 2 (approximate equivariance): on 28×28 digits (the 8×8 digits upsampled, as MNIST is not
shipped), the relative equivariance error ``E(θ) = ‖Φ(R_θ x) − R_θ Φ(x)‖ / ‖Φ(x)‖`` of
image-to-image networks built with ``C8`` (interpolated 45° filter rotations), ``C4`` and no
group, for ``θ`` on a 7.5° grid: ``C4`` vanishes at multiples of 90°, ``C8`` is small but
non-zero at odd multiples of 45°, the CNN is large everywhere but at 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._errors import ConfigError
from ..data.digits import load_digits
from ..equivariant import (
    C4,
    D4,
    C,
    FiniteGroup,
    GlobalPool,
    GroupBatchNorm,
    GroupConv2d,
    GroupPool,
    LiftingConv2d,
    SpatialPool2d,
    act_image,
)
from ..structure.checks import check_equivariance
from ._config import require_ints, start_run
from ._registry import Experiment, Progress, Result, register
from .io import save_figure
from .units import map_units

__all__ = ["Config", "run"]

MODELS = ("cnn", "cnn+aug", "p4", "p4m")


@dataclass
class Config:
    """Settings of the rotated-digits experiment.

    Attributes:
        seed: first seed; seeds ``seed .. seed + n_seeds − 1``.
        n_seeds: seeds per (model, size).
        train_sizes: training-set sizes (stratified subsets of the training pool).
        cnn_channels: channels of the plain CNN; the group networks get the field counts
            that give about the same parameter count (33 → p4 17 fields, p4m 12, within 3 %).
        batch_norm: batch norm after every convolution, in all four models alike.
        steps: Adam steps per model.
        batch_size: mini-batch size (capped at the training-set size).
        lr: Adam learning rate (cosine decay).
        weight_decay: AdamW weight decay.
        n_test: held-out test digits.
        angle_step_deg: angular resolution of the equivariance-error sweep (divides 360).
        equivariance_seeds: random initialisations averaged in the sweep.
    """

    seed: int = 0
    n_seeds: int = 3
    train_sizes: tuple[int, ...] = (25, 100, 200)
    cnn_channels: int = 33
    batch_norm: bool = True
    steps: int = 400
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    n_test: int = 600
    angle_step_deg: float = 7.5
    equivariance_seeds: int = 2

    def validate(self) -> None:
        """Raise :class:`ConfigError` for a bad size, count or angle step."""
        require_ints(
            [("train_sizes", size, 10) for size in self.train_sizes]
            + [
                ("n_seeds", self.n_seeds, 1),
                ("steps", self.steps, 1),
                ("cnn_channels", self.cnn_channels, 4),
                ("batch_size", self.batch_size, 1),
                ("n_test", self.n_test, 10),
                ("equivariance_seeds", self.equivariance_seeds, 1),
            ]
        )
        if not self.train_sizes:
            raise ConfigError(
                "train_sizes is empty — expected sizes ≥ 10 (one per class) — got () — pass "
                "e.g. (25, 100, 200)"
            )
        steps = round(360 / self.angle_step_deg) if self.angle_step_deg > 0 else 0
        if steps < 1 or abs(steps * self.angle_step_deg - 360) > 1e-9:
            raise ConfigError(
                f"angle_step_deg must divide 360 — expected e.g. 7.5 — got "
                f"{self.angle_step_deg} — pick 360/k"
            )

    @classmethod
    def quick(cls) -> Config:
        """Sizes {25, 100, 200}, 3 seeds, 400 steps."""
        return cls()

    @classmethod
    def full(cls) -> Config:
        """Sizes {25, 50, 100, 200, 500}, 3 seeds, 1500 steps, 44 CNN channels (p4: 23 fields)."""
        return cls(
            train_sizes=(25, 50, 100, 200, 500),
            steps=1500,
            cnn_channels=44,
            n_test=797,
            equivariance_seeds=5,
            angle_step_deg=3.75,
        )


# ----------------------------------------------------------------------------- models
# All four classifiers share one shape — 5×5 conv → norm → ReLU → 2×2 max pool → 3×3 conv →
# norm → ReLU → global max → linear — the group networks with lifting / group convolutions and
# GroupBatchNorm in place of Conv2d / BatchNorm2d, so that the comparison isolates equivariance.
# Why this shape: in probes (quick preset, seeds 0–2, batch norm) the p4 network reached 0.699
# at 25 images with it against 0.670 with lift → conv → pool → conv, and 0.55–0.61 with deeper
# variants at the same parameter count. Why batch norm in every model (quick preset, 3 seeds,
# 25 / 100 / 200 images): it lifts the augmented CNN from 0.632 / 0.822 / 0.860 to
# 0.656 / 0.871 / 0.917 while p4 stays near 0.67–0.72 / 0.89 / 0.926 — it is an optimisation
# effect, not an equivariance one, and giving it to the group networks only would fake a margin.
def _norm(width: int, group: FiniteGroup | None, *, batch_norm: bool) -> nn.Module:
    if not batch_norm:
        return nn.Identity()
    return nn.BatchNorm2d(width) if group is None else GroupBatchNorm(width, group)


def _classifier(width: int, group: FiniteGroup | None, *, batch_norm: bool) -> nn.Sequential:
    """The shared shape; ``group=None`` is the plain CNN, otherwise an exactly invariant G-CNN.

    The 5×5 first filter sees most of an 8×8 digit's strokes in one layer; the global max over
    space (and over the group axis) makes the group network exactly invariant to quarter turns
    (and mirrors for ``D4``).
    """
    if group is None:
        first: nn.Module = nn.Conv2d(1, width, 5, padding=2)
        second: nn.Module = nn.Conv2d(width, width, 3, padding=1)
        pool: nn.Module = nn.MaxPool2d(2)
    else:
        first = LiftingConv2d(1, width, 5, group)
        second = GroupConv2d(width, width, 3, group)
        pool = SpatialPool2d(2, mode="max")
    return nn.Sequential(
        first,
        _norm(width, group, batch_norm=batch_norm),
        nn.ReLU(),
        pool,
        second,
        _norm(width, group, batch_norm=batch_norm),
        nn.ReLU(),
        GlobalPool("max"),
        nn.Linear(width, 10),
    )


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _matched_fields(channels: int, group: FiniteGroup, *, batch_norm: bool) -> int:
    # The number of fields whose network has the parameter count closest to the CNN's. The
    # candidate networks are built under a forked RNG so that the search does not shift the
    # seeded initialisation of the network that is then trained.
    with torch.random.fork_rng():
        target = _count(_classifier(channels, None, batch_norm=batch_norm))
        return min(
            range(1, channels + 1),
            key=lambda f: abs(_count(_classifier(f, group, batch_norm=batch_norm)) - target),
        )


def _build(name: str, config: Config) -> nn.Module:
    if name in ("cnn", "cnn+aug"):
        return _classifier(config.cnn_channels, None, batch_norm=config.batch_norm)
    group = C4 if name == "p4" else D4
    fields = _matched_fields(config.cnn_channels, group, batch_norm=config.batch_norm)
    return _classifier(fields, group, batch_norm=config.batch_norm)


# ----------------------------------------------------------------------------- data
def _random_quarter_turns(x: Tensor, generator: torch.Generator, *, flip: bool) -> Tensor:
    """Each image turned by its own random multiple of 90° (after a random mirror if ``flip``)."""
    turns = torch.randint(4, (x.shape[0],), generator=generator)
    if flip:
        mirror = torch.randint(2, (x.shape[0],), generator=generator).bool()
        x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
    # All four turns at once, then one gather: a per-image Python loop dominated training time.
    turned = torch.stack([torch.rot90(x, k, dims=(-2, -1)) for k in range(4)])
    return turned[turns, torch.arange(x.shape[0])]


def _split(config: Config) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    x, y = load_digits(flatten=False)
    # Fixed test set (same for every seed), the rest is the training pool.
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(12345))
    test, pool = order[: config.n_test], order[config.n_test :]
    return x[pool], y[pool], x[test], y[test]


def _stratified(y: Tensor, size: int, generator: torch.Generator) -> Tensor:
    per_class = [torch.nonzero(y == c).flatten() for c in range(10)]
    per_class = [idx[torch.randperm(idx.numel(), generator=generator)] for idx in per_class]
    picks = [idx[k] for k in range(max(map(len, per_class))) for idx in per_class if k < len(idx)]
    return torch.stack(picks[:size])


def _train(
    model: nn.Module, x: Tensor, y: Tensor, config: Config, seed: int, *, augment: bool
) -> None:
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.steps)
    batch = min(config.batch_size, x.shape[0])
    for _ in range(config.steps):
        index = torch.randint(x.shape[0], (batch,), generator=generator)
        inputs = x[index]
        if augment:
            inputs = _random_quarter_turns(inputs, generator, flip=False)
        loss = F.cross_entropy(model(inputs), y[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()


def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def _six_nine(model: nn.Module, x: Tensor, y: Tensor) -> tuple[float, float]:
    """``(confusion, accuracy_loss)`` of the 6 ↔ 9 mix-up on a test set.

    A 6 turned by 180° resembles a 9, so a quarter-turn invariant classifier could at worst be
    unable to tell them apart. ``confusion``: fraction of the test 6s and 9s labelled as the
    other; ``accuracy_loss``: those errors as a fraction of the whole test set, i.e. the most
    that resolving the 6/9 ambiguity could add to the accuracy.
    """
    with torch.no_grad():
        predicted = model(x).argmax(dim=1)
    swapped = ((y == 6) & (predicted == 9)) | ((y == 9) & (predicted == 6))
    sixes_nines = int(((y == 6) | (y == 9)).sum())
    return float(swapped.sum()) / max(sixes_nines, 1), float(swapped.float().mean())


# ----------------------------------------------------------------------------- part 2
class _ImageGCNN(nn.Module):
    """Image-to-image network: lift → group conv → group conv to one field → mean over G."""

    def __init__(self, group: FiniteGroup, fields: int) -> None:
        super().__init__()
        self.lift = LiftingConv2d(1, fields, 5, group)
        self.mid = GroupConv2d(fields, fields, 5, group)
        self.out = GroupConv2d(fields, 1, 5, group)
        self.pool = GroupPool(group, "mean")

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.out(F.relu(self.mid(F.relu(self.lift(x))))))


def _image_cnn(channels: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, channels, 5, padding=2),
        nn.ReLU(),
        nn.Conv2d(channels, channels, 5, padding=2),
        nn.ReLU(),
        nn.Conv2d(channels, 1, 5, padding=2),
    )


def _digits_28(count: int) -> Tensor:
    x, _ = load_digits(flatten=False, dtype=torch.float64)
    # 8×8 → 20×20 (bilinear), zero-padded to 28×28 so the digit lies inside the inscribed disc
    # and interpolated rotations lose nothing at the corners.
    big = F.interpolate(x[:count], size=(20, 20), mode="bilinear", align_corners=False)
    return F.pad(big, (4, 4, 4, 4))


def equivariance_sweep(config: Config) -> dict[str, list[float]]:
    """Mean relative equivariance error per rotation angle for C8, C4 and a plain CNN."""
    config.validate()
    steps = round(360 / config.angle_step_deg)
    grid = C(steps)
    x = _digits_28(8)
    curves: dict[str, list[float]] = {"angle_deg": [g.angle * 180 / math.pi for g in grid]}
    for name in ("C8", "C4", "cnn"):
        errors = np.zeros(steps)
        for seed in range(config.equivariance_seeds):
            torch.manual_seed(config.seed + seed)
            # equal channel budget: 16 channels = 16/N regular fields of C_N
            model = (
                _image_cnn(16)
                if name == "cnn"
                else _ImageGCNN(C(8) if name == "C8" else C4, 16 // int(name[1:]))
            ).double()
            with torch.no_grad():
                out = model(x)
                for i, g in enumerate(grid):
                    diff = model(act_image(g, x)) - act_image(g, out)
                    errors[i] += float(diff.norm() / out.norm()) / config.equivariance_seeds
        curves[name] = errors.tolist()
    return curves


# ----------------------------------------------------------------------------- run
def run(config: Config, out_dir: Path, progress: Progress) -> Result:
    """Train the four classifiers per size and seed; sweep the equivariance error."""
    start_run(config)
    progress.set_total(config.n_seeds * len(config.train_sizes) * len(MODELS) + 1)
    parameters = {name: _count(_build(name, config)) for name in MODELS}
    rows, trained, test_x = _train_all(config, progress)
    summary = {
        f"{name}@{size}": _summary_entry(
            [r for r in rows if r["model"] == name and r["n_train"] == size]
        )
        for name in MODELS
        for size in config.train_sizes
    }
    progress.describe("equivariance error against rotation angle")
    curves = equivariance_sweep(config)
    progress.advance()
    checks = _invariance_checks(trained, test_x[:32])
    metrics = _metrics(config, parameters, summary, curves, checks)
    result = Result(
        checks=checks,
        metrics=metrics,
        tables=_tables(config, parameters, summary, rows, curves),
    )
    result.figures = _figures(config, summary, curves, out_dir)
    result.notes = _notes(parameters, metrics)
    return result


@dataclass(frozen=True)
class _Unit:
    """One independent training run: a model kind, a training-set size and a seed."""

    config: Config
    name: str
    size: int
    seed: int
    train_x: Tensor
    train_y: Tensor
    evaluation: tuple[Tensor, Tensor, Tensor, Tensor]  # upright x, y, rotated, rotated+flipped


def _train_unit(unit: _Unit) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Train and score one model; return its row and its trained weights.

    Seeded by the unit alone, so it gives the same numbers in a worker process as in the loop.
    """
    test_x, test_y, rotated, rot_flip = unit.evaluation
    torch.manual_seed(unit.seed)
    model = _build(unit.name, unit.config)
    _train(
        model, unit.train_x, unit.train_y, unit.config, unit.seed, augment=unit.name == "cnn+aug"
    )
    model.eval()
    confusion, loss = _six_nine(model, rotated, test_y)
    row = {
        "model": unit.name,
        "n_train": unit.size,
        "seed": unit.seed,
        "acc_upright": _accuracy(model, test_x, test_y),
        "acc_rotated": _accuracy(model, rotated, test_y),
        "acc_rotated_flipped": _accuracy(model, rot_flip, test_y),
        "six_nine_confusion": confusion,
        "six_nine_accuracy_loss": loss,
    }
    return row, model.state_dict()


def _train_all(
    config: Config, progress: Progress
) -> tuple[list[dict[str, Any]], dict[str, nn.Module], Tensor]:
    """Measure: one row per (seed, size, model); the last trained model of each kind.

    The runs are independent units (:func:`~structdl.experiments.units.map_units`): in order
    here, or in worker processes under ``structdl run rotated-digits --jobs N``.
    """
    units: list[_Unit] = []
    for seed in range(config.seed, config.seed + config.n_seeds):
        pool_x, pool_y, test_x, test_y = _split(config)
        generator = torch.Generator().manual_seed(777)
        rotated = _random_quarter_turns(test_x, generator, flip=False)
        rot_flip = _random_quarter_turns(test_x, generator, flip=True)
        evaluation = (test_x, test_y, rotated, rot_flip)
        for size in config.train_sizes:
            index = _stratified(pool_y, size, torch.Generator().manual_seed(seed))
            units.extend(
                _Unit(config, name, size, seed, pool_x[index], pool_y[index], evaluation)
                for name in MODELS
            )

    def finished(index: int) -> None:
        unit = units[index]
        progress.describe(f"{unit.name}, {unit.size} images, seed {unit.seed}")
        progress.advance()

    outcomes = map_units(_train_unit, units, on_done=finished)
    last_weights = {unit.name: weights for unit, (_, weights) in zip(units, outcomes, strict=True)}
    trained: dict[str, nn.Module] = {}  # the last trained model of each kind, for the checks
    for name, weights in last_weights.items():
        model = _build(name, config)
        model.load_state_dict(weights)
        trained[name] = model.eval()
    return [row for row, _ in outcomes], trained, units[-1].evaluation[0]


def _metrics(
    config: Config,
    parameters: dict[str, int],
    summary: dict[str, dict[str, float]],
    curves: dict[str, list[float]],
    checks: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Tabulate: margins, the 6/9 cap, the bars, and the equivariance error by angle class."""
    margins = {
        str(s): summary[f"p4@{s}"]["rotated_mean"] - summary[f"cnn+aug@{s}"]["rotated_mean"]
        for s in config.train_sizes
    }
    metrics: dict[str, Any] = {
        "parameters": parameters,
        "summary": summary,
        "p4_margin_over_augmented_cnn": margins,
        # The 6/9 cap, measured: how often p4 swaps 6 and 9 on the rotated test set, and the
        # accuracy that costs (an upper bound on what breaking the invariance for 6/9 could add).
        "p4_six_nine_confusion": {
            str(s): summary[f"p4@{s}"]["six_nine_confusion_mean"] for s in config.train_sizes
        },
        "p4_six_nine_accuracy_loss": {
            str(s): summary[f"p4@{s}"]["six_nine_accuracy_loss_mean"] for s in config.train_sizes
        },
    }
    if 100 in config.train_sizes:
        metrics["p4_accuracy_at_100"] = summary["p4@100"]["rotated_mean"]
        metrics["bar_p4_at_100_ge_0.83"] = metrics["p4_accuracy_at_100"] >= 0.83
    # The claim the measurements support (the ≥ 10-point margin once hoped for does not hold
    # once every model gets batch norm: the augmented CNN learns quarter-turn invariance of
    # 8×8 digits nearly as well): p4 at least as accurate as the augmented CNN, in the mean
    # over seeds, at every training size.
    metrics["bar_p4_at_least_augmented_cnn_at_every_size"] = min(margins.values()) >= 0.0
    metrics["bar_trained_p4_p4m_exactly_invariant"] = all(
        checks[name]["ok"]
        for name in ("p4_logits_invariant_under_C4", "p4m_logits_invariant_under_D4")
    )
    angles = np.array(curves["angle_deg"])
    metrics["equivariance_error"] = {}
    for name in ("C8", "C4", "cnn"):
        values = np.array(curves[name])
        entry = {
            "at_90deg_multiples_max": float(np.max(values[angles % 90 == 0])),
            "at_45deg_odd_multiples_max": float(np.max(values[angles % 90 == 45])),
        }
        if np.any(angles % 45 != 0):
            entry["other_angles_mean"] = float(np.mean(values[angles % 45 != 0]))
        metrics["equivariance_error"][name] = entry
    return metrics


def _tables(
    config: Config,
    parameters: dict[str, int],
    summary: dict[str, dict[str, float]],
    rows: list[dict[str, Any]],
    curves: dict[str, list[float]],
) -> dict[str, list[dict[str, Any]]]:
    """Tabulate: every run, the per-(model, size) summary, the error against the angle."""
    return {
        "runs": rows,
        "summary": [
            {
                "model": name,
                "n_train": size,
                "parameters": parameters[name],
                "seeds": config.n_seeds,
                **summary[f"{name}@{size}"],
            }
            for name in MODELS
            for size in config.train_sizes
        ],
        "equivariance_vs_angle": [
            {"angle_deg": a, "C8": c8, "C4": c4, "cnn": cnn}
            for a, c8, c4, cnn in zip(
                curves["angle_deg"], curves["C8"], curves["C4"], curves["cnn"], strict=True
            )
        ],
    }


def _notes(parameters: dict[str, int], metrics: dict[str, Any]) -> str:
    """The result in words, with the claim that is checked and the one that is not made."""
    margins = metrics["p4_margin_over_augmented_cnn"]
    return (
        "Parameter counts: "
        + ", ".join(f"{k} {v}" for k, v in parameters.items())
        + ". Trained on upright digits, tested on digits rotated by random quarter turns. "
        "A 6 turned by 180° resembles a 9; accuracy p4 loses to 6 ↔ 9 swaps (points) by size: "
        + ", ".join(f"{k}: {100 * v:.1f}" for k, v in metrics["p4_six_nine_accuracy_loss"].items())
        + ". Margin of p4 over the augmented CNN (accuracy points) by size: "
        + ", ".join(f"{k}: {100 * v:+.1f}" for k, v in margins.items())
        + ". Claim checked: p4 is at least as accurate as the augmented CNN in the mean at every "
        "size ("
        + ("holds" if metrics["bar_p4_at_least_augmented_cnn_at_every_size"] else "FAILS")
        + "), and the trained p4 / p4m networks are exactly invariant to quarter turns (and "
        "mirrors for p4m) ("
        + ("holds" if metrics["bar_trained_p4_p4m_exactly_invariant"] else "FAILS")
        + "). A margin of 10 points is not claimed: with batch norm in every model the "
        "augmented CNN learns the invariance of 8×8 digits nearly as well (about +1 point)."
    )


def _summary_entry(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Mean (± std for the accuracies) over the seeds of one (model, size)."""

    def column(key: str) -> list[float]:
        return [run[key] for run in runs]

    return {
        "rotated_mean": float(np.mean(column("acc_rotated"))),
        "rotated_std": float(np.std(column("acc_rotated"))),
        "rotated_flipped_mean": float(np.mean(column("acc_rotated_flipped"))),
        "rotated_flipped_std": float(np.std(column("acc_rotated_flipped"))),
        "six_nine_confusion_mean": float(np.mean(column("six_nine_confusion"))),
        "six_nine_accuracy_loss_mean": float(np.mean(column("six_nine_accuracy_loss"))),
    }


def _invariance_checks(trained: dict[str, nn.Module], x: Tensor) -> dict[str, dict[str, Any]]:
    """Trained p4 / p4m logits exactly invariant; the augmented CNN's not (negative control).

    The augmented CNN is trained towards the same invariance, so its error is small but far
    above round-off: learned invariance is approximate, built-in invariance exact.
    """

    def unchanged(_g: object, y: Tensor) -> Tensor:
        return y

    p4 = check_equivariance(trained["p4"], C4, act_image, unchanged, x)
    p4m = check_equivariance(trained["p4m"], D4, act_image, unchanged, x)
    control = check_equivariance(trained["cnn+aug"], C4, act_image, unchanged, x)
    return {
        "p4_logits_invariant_under_C4": p4.as_dict(),
        "p4m_logits_invariant_under_D4": p4m.as_dict(),
        "cnn_aug_not_exactly_invariant (negative control)": control.as_negative_control(
            "the exact C4 check on the augmented CNN"
        ).as_dict(),
    }


def _figures(
    config: Config,
    summary: dict[str, dict[str, float]],
    curves: dict[str, list[float]],
    out_dir: Path,
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    sizes = sorted(config.train_sizes)
    for name in MODELS:
        ax.errorbar(
            sizes,
            [summary[f"{name}@{s}"]["rotated_mean"] for s in sizes],
            yerr=[summary[f"{name}@{s}"]["rotated_std"] for s in sizes],
            fmt="o-",
            capsize=3,
            label=name,
        )
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.minorticks_off()
    ax.set_xlabel("training images")
    ax.set_ylabel("accuracy on rotated test set")
    ax.legend(fontsize=8)
    names = [save_figure(fig, out_dir, "accuracy_vs_train_size.png")]

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name in ("C8", "C4", "cnn"):
        ax.semilogy(curves["angle_deg"], np.maximum(curves[name], 1e-17), "o-", ms=3, label=name)
    ax.set_xlabel("rotation angle (degrees)")
    ax.set_ylabel("relative equivariance error")
    ax.set_xticks(range(0, 361, 45))
    ax.legend(fontsize=8)
    names.append(save_figure(fig, out_dir, "equivariance_vs_angle.png"))
    return names


register(
    Experiment(
        name="rotated-digits",
        question=(
            "Do exactly invariant p4/p4m networks classify rotated digits better than a CNN "
            "(with or without rotation augmentation) at the same parameter count, and how does "
            "the equivariance error of C8 (interpolated) depend on the rotation angle?"
        ),
        config=Config,
        run=run,
    )
)
