"""Two-class 2-D toy data sets for ODE-network classification (docs/methods/dynamics.md).

Each generator draws ``n`` points, half per class (class 1 gets the odd one), from a
``numpy.random.Generator`` seeded with ``seed``, so the data are a pure function of the
arguments. Points are scaled to lie roughly in ``[-1, 1]²``. Returns ``(x, y)`` with ``x`` of
shape ``(n, 2)`` in ``dtype`` and ``y`` of shape ``(n,)`` (int64, values 0 and 1), shuffled.

- ``make_rings``: concentric rings ("donut"), radii 0.5 (class 0) and 1.0 (class 1), radial noise.
- ``make_spirals``: two interleaved Archimedean spirals ``r ∝ θ``, the second rotated by π.
- ``make_swiss_roll_2class``: one Swiss-roll curve ``r ∝ t``, ``t ∈ [1.5π, 4.5π]``, cut into
  ``segments`` pieces of equal parameter length with alternating labels.
- ``make_moons``: the two interleaved half circles of scikit-learn's ``make_moons``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from .._errors import ConfigError
from ..structure._validate import require_int
from ._split import Split, stratified_split
from ._validate import check_dtype, check_nonnegative, check_positive

__all__ = [
    "TOY_DATASETS",
    "make_moons",
    "make_rings",
    "make_spirals",
    "make_swiss_roll_2class",
    "make_toy",
    "toy_split",
]


def _class_sizes(n: int) -> tuple[int, int]:
    return n // 2, n - n // 2


def _finish(
    points: list[np.ndarray], rng: np.random.Generator, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    # Stack the per-class arrays, label them 0, 1 and shuffle so that batches are mixed.
    x = np.concatenate(points, axis=0)
    y = np.concatenate([np.full(len(p), label, dtype=np.int64) for label, p in enumerate(points)])
    order = rng.permutation(len(y))
    return torch.as_tensor(x[order], dtype=dtype), torch.as_tensor(y[order])


def _validate(n: int, noise: float, seed: int, dtype: torch.dtype) -> None:
    require_int(n, "n", minimum=4)
    check_nonnegative("noise", noise)
    require_int(seed, "seed", minimum=0)
    check_dtype(dtype)


def make_rings(
    n: int = 512, *, noise: float = 0.05, seed: int = 0, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor]:
    """Concentric rings: class ``c`` lies at radius ``0.5·(1 + c)`` plus Gaussian radial noise.

    Not linearly separable; a map that keeps the plane's topology needs an extra dimension
    (augmentation) to pull the inner ring out, which is what the experiment tests.
    """
    _validate(n, noise, seed, dtype)
    rng = np.random.default_rng(seed)
    points = []
    for label, size in enumerate(_class_sizes(n)):
        angle = rng.uniform(0.0, 2.0 * math.pi, size)
        radius = 0.5 * (1 + label) + noise * rng.standard_normal(size)
        points.append(np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1))
    return _finish(points, rng, dtype)


def make_spirals(
    n: int = 512,
    *,
    noise: float = 0.02,
    turns: float = 1.5,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """Two spirals ``r = θ / θ_max`` for ``θ ∈ [π/2, θ_max]``, ``θ_max = π/2 + 2π·turns``.

    Class 1 is class 0 rotated by π. The angle is drawn with density ∝ θ so that points are
    uniform in arc length; isotropic Gaussian noise of standard deviation ``noise`` is added.
    """
    _validate(n, noise, seed, dtype)
    check_positive("turns", turns)
    rng = np.random.default_rng(seed)
    start, stop = 0.5 * math.pi, 0.5 * math.pi + 2.0 * math.pi * turns
    points = []
    for label, size in enumerate(_class_sizes(n)):
        # Inverse-CDF sampling of the density ∝ θ on [start, stop].
        theta = np.sqrt(rng.uniform(start**2, stop**2, size))
        radius = theta / stop
        phase = theta + math.pi * label
        xy = np.stack([radius * np.cos(phase), radius * np.sin(phase)], axis=1)
        points.append(xy + noise * rng.standard_normal(xy.shape))
    return _finish(points, rng, dtype)


def make_swiss_roll_2class(
    n: int = 512,
    *,
    noise: float = 0.02,
    segments: int = 4,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """The 2-D Swiss roll ``t (cos t, sin t) / 4.5π``, ``t ∈ [1.5π, 4.5π]``, in labelled pieces.

    The parameter interval is cut into ``segments`` pieces of equal length; piece ``k`` has
    label ``k mod 2``. Each class gets half of the points, spread uniformly over its pieces.
    """
    _validate(n, noise, seed, dtype)
    require_int(segments, "segments", minimum=2)
    rng = np.random.default_rng(seed)
    lo, hi = 1.5 * math.pi, 4.5 * math.pi
    width = (hi - lo) / segments
    points = []
    for label, size in enumerate(_class_sizes(n)):
        pieces = np.arange(label, segments, 2)
        piece = rng.choice(pieces, size)
        t = lo + width * (piece + rng.uniform(0.0, 1.0, size))
        xy = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / hi
        points.append(xy + noise * rng.standard_normal(xy.shape))
    return _finish(points, rng, dtype)


def make_moons(
    n: int = 512, *, noise: float = 0.1, seed: int = 0, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor]:
    """Two interleaved half circles (class 0 upper, class 1 lower), centred and scaled by 1/1.5.

    Upper: ``(cos θ, sin θ)``; lower: ``(1 − cos θ, 0.5 − sin θ)``, ``θ ~ U[0, π]``, plus
    Gaussian noise of standard deviation ``noise`` before scaling.
    """
    _validate(n, noise, seed, dtype)
    rng = np.random.default_rng(seed)
    points = []
    for label, size in enumerate(_class_sizes(n)):
        theta = rng.uniform(0.0, math.pi, size)
        if label == 0:
            xy = np.stack([np.cos(theta), np.sin(theta)], axis=1)
        else:
            xy = np.stack([1.0 - np.cos(theta), 0.5 - np.sin(theta)], axis=1)
        xy = xy + noise * rng.standard_normal(xy.shape)
        # Centre the pair of moons at the origin; x spans [-1.5, 1.5] before scaling.
        points.append((xy - np.array([0.5, 0.25])) / 1.5)
    return _finish(points, rng, dtype)


_GENERATORS: dict[str, Callable[..., tuple[Tensor, Tensor]]] = {
    "rings": make_rings,
    "spirals": make_spirals,
    "swiss_roll": make_swiss_roll_2class,
    "moons": make_moons,
}

#: Names accepted by :func:`make_toy` and :func:`toy_split`.
TOY_DATASETS: tuple[str, ...] = tuple(_GENERATORS)


def make_toy(
    name: str, n: int = 512, *, seed: int = 0, dtype: torch.dtype = torch.float32, **options: float
) -> tuple[Tensor, Tensor]:
    """Generate the toy data set ``name`` (one of :data:`TOY_DATASETS`); options go to it.

    Raises:
        ConfigError: unknown name or invalid option.
    """
    if name not in _GENERATORS:
        raise ConfigError(
            f"unknown toy data set {name!r} — expected one of {', '.join(TOY_DATASETS)} — "
            f"got {name!r} — pick a name from structdl.data.toys.TOY_DATASETS"
        )
    try:
        return _GENERATORS[name](n, seed=seed, dtype=dtype, **options)
    except TypeError as error:  # unknown keyword: say which options exist
        raise ConfigError(
            f"invalid option for toy data set {name!r}: {error} — see the docstring of "
            f"{_GENERATORS[name].__name__} for its options"
        ) from None


def toy_split(
    name: str,
    n: int = 512,
    *,
    test_fraction: float = 0.25,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    **options: float,
) -> Split:
    """Generate ``name`` with ``n`` points and split it, stratified, into train and test sets."""
    x, y = make_toy(name, n, seed=seed, dtype=dtype, **options)
    return stratified_split(x, y, test_fraction=test_fraction, seed=seed)
