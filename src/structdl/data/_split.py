"""A labelled train/test split and the stratified splitter used by the data modules."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .._errors import ConfigError, ShapeError
from ..structure._validate import require_int
from ._validate import check_fraction

__all__ = ["Split", "stratified_split"]


@dataclass(frozen=True)
class Split:
    """Features and integer labels of a train and a test set.

    Attributes:
        x_train: ``(n_train, d)`` floating features.
        y_train: ``(n_train,)`` int64 labels.
        x_test: ``(n_test, d)`` floating features.
        y_test: ``(n_test,)`` int64 labels.
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor

    @property
    def n_classes(self) -> int:
        """Number of classes (largest label + 1)."""
        return int(torch.cat([self.y_train, self.y_test]).max().item()) + 1


def stratified_split(x: Tensor, y: Tensor, *, test_fraction: float = 0.25, seed: int = 0) -> Split:
    """Split ``(x, y)`` into train and test sets with the same class proportions in each.

    Every class contributes ``round(test_fraction · n_class)`` points to the test set (at least
    one, and at least one stays in training), drawn by a generator seeded with ``seed``, so the
    split is a pure function of its arguments.

    Raises:
        ShapeError: ``x`` and ``y`` disagree in length, or ``y`` is not a 1-D integer tensor.
        ConfigError: ``test_fraction`` not in (0, 1), a class with fewer than two points.
    """
    check_fraction("test_fraction", test_fraction)
    require_int(seed, "seed", minimum=0)
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise ShapeError(
            f"x and y must be tensors — got {type(x).__name__} and {type(y).__name__} — "
            "convert with torch.as_tensor"
        )
    if y.dim() != 1 or y.is_floating_point() or x.shape[0] != y.shape[0]:
        raise ShapeError(
            "labels must be a 1-D integer tensor with one label per row of x — got x of shape "
            f"{tuple(x.shape)} and y of shape {tuple(y.shape)}, dtype {y.dtype} — "
            "pass y as torch.long of length x.shape[0]"
        )
    rng = np.random.default_rng(seed)
    labels = y.cpu().numpy()
    test_idx: list[np.ndarray] = []
    train_idx: list[np.ndarray] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if members.size < 2:
            raise ConfigError(
                f"class {label} has {members.size} point — expected at least 2 per class to "
                "split — generate more points"
            )
        members = rng.permutation(members)
        n_test = int(np.clip(round(test_fraction * members.size), 1, members.size - 1))
        test_idx.append(members[:n_test])
        train_idx.append(members[n_test:])
    train = torch.as_tensor(rng.permutation(np.concatenate(train_idx)))
    test = torch.as_tensor(rng.permutation(np.concatenate(test_idx)))
    return Split(x[train], y[train], x[test], y[test])
