"""Random-ellipse phantoms and low-dose Poisson CT data, generated, no download.

Method notes: docs/methods/tomography.md.

A phantom is a sum of indicator functions of ellipses on ``[-1, 1]²``: one background ellipse
of intensity 0.1 plus 10–15 ellipses of intensity ``U(0, 0.2)`` with random axes, centres and
orientations. Measurements follow the Beer–Lambert law with Poisson photon counts:
``counts ~ Poisson(N_in exp(−μ_max A x))`` and ``y = −log(counts / N_in) / μ_max``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .._errors import ConfigError, ShapeError
from ..structure._validate import require_int

__all__ = ["ellipse_phantom", "poisson_sinogram", "random_ellipses"]


def ellipse_phantom(
    ellipses: np.ndarray, size: int, *, supersample: int = 1, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Rasterise ellipses on an ``size × size`` grid over ``[-1, 1]²`` (pixel centres).

    Args:
        ellipses: array ``(m, 6)`` of rows ``(intensity, a, b, x0, y0, angle)``; the point
            ``p`` lies in the ellipse iff ``(u/a)² + (v/b)² ≤ 1`` with ``(u, v)`` the
            coordinates of ``p − (x0, y0)`` rotated by ``−angle``.
        size: side of the image in pixels.
        supersample: evaluate on a ``supersample``-times finer grid and average (anti-aliasing).
        dtype: output dtype.

    Returns:
        ``(size, size)`` tensor, the sum of the intensities of the ellipses covering each pixel.
    """
    require_int(size, "size", minimum=2)
    require_int(supersample, "supersample", minimum=1)
    ellipses = np.asarray(ellipses, dtype=np.float64)
    if ellipses.ndim != 2 or ellipses.shape[1] != 6:
        raise ShapeError(
            f"wrong ellipse table — expected an array (m, 6) of (intensity, a, b, x0, y0, angle) "
            f"— got shape {ellipses.shape} — build rows with those six numbers"
        )
    fine = size * supersample
    centres = (np.arange(fine) + 0.5) * (2.0 / fine) - 1.0
    # Row index grows downwards; y is the row coordinate, x the column (grid_sample's order).
    y, x = np.meshgrid(centres, centres, indexing="ij")
    image = np.zeros((fine, fine))
    for intensity, a, b, x0, y0, angle in ellipses:
        c, s = math.cos(angle), math.sin(angle)
        u = (x - x0) * c + (y - y0) * s
        v = -(x - x0) * s + (y - y0) * c
        image += intensity * ((u / a) ** 2 + (v / b) ** 2 <= 1.0)
    if supersample > 1:
        image = image.reshape(size, supersample, size, supersample).mean(axis=(1, 3))
    return torch.as_tensor(image, dtype=dtype)


def _random_table(rng: np.random.Generator) -> np.ndarray:
    # Background: a large, slightly eccentric ellipse of intensity 0.1, so the object sits inside
    # the field of view. Then 10–15 inner ellipses of intensity U(0, 0.2) with random axes,
    # centres (inside the background) and orientations.
    rows = [
        (
            0.1,
            rng.uniform(0.7, 0.9),
            rng.uniform(0.7, 0.9),
            rng.uniform(-0.05, 0.05),
            rng.uniform(-0.05, 0.05),
            rng.uniform(0.0, math.pi),
        )
    ]
    for _ in range(int(rng.integers(10, 16))):
        radius, direction = rng.uniform(0.0, 0.6), rng.uniform(0.0, 2.0 * math.pi)
        rows.append(
            (
                rng.uniform(0.0, 0.2),
                rng.uniform(0.05, 0.35),
                rng.uniform(0.05, 0.35),
                radius * math.cos(direction),
                radius * math.sin(direction),
                rng.uniform(0.0, math.pi),
            )
        )
    return np.array(rows)


def random_ellipses(
    n: int, size: int, *, seed: int = 0, supersample: int = 2, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Draw ``n`` random-ellipse phantoms ``(n, 1, size, size)``; deterministic given ``seed``.

    Args:
        n: number of phantoms.
        size: image side in pixels.
        seed: seed of the numpy generator (same seed → identical phantoms).
        supersample: anti-aliasing factor (see :func:`ellipse_phantom`).
        dtype: output dtype.

    Example:
        >>> x = random_ellipses(2, 16, seed=1)
        >>> tuple(x.shape), bool((x >= 0).all())
        ((2, 1, 16, 16), True)
    """
    require_int(n, "n", minimum=1)
    require_int(size, "size", minimum=2)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"invalid seed — expected an int — got {seed!r} — pass e.g. seed=0")
    rng = np.random.default_rng(seed)
    images = [
        ellipse_phantom(_random_table(rng), size, supersample=supersample, dtype=dtype)
        for _ in range(n)
    ]
    return torch.stack(images)[:, None]


def poisson_sinogram(
    clean: Tensor, *, photons: float = 1e4, mu_max: float = 81.35858, seed: int = 0
) -> Tensor:
    r"""Low-dose CT data from a clean sinogram (Beer–Lambert law with Poisson counts).

    .. math:: \text{counts} \sim \text{Poisson}(N_{in} e^{-μ_{max} A x}),\qquad
              y = -\log(\max(\text{counts}, 1) / N_{in}) / μ_{max}.

    Zero counts are raised to one photon so that the log stays finite (the usual convention
    for photon-starved rays).

    Args:
        clean: noise-free sinogram ``A x`` (any shape), non-negative line integrals.
        photons: incident photons per ray ``N_in`` (> 0).
        mu_max: attenuation scale ``μ_max`` (> 0).
        seed: seed of the Poisson draw.
    """
    for name, value in (("photons", photons), ("mu_max", mu_max)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"invalid {name} — expected a float > 0 — got {value!r} — pass 1e4")
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(
                f"invalid {name} — expected a finite value > 0 — got {value} — pass a positive "
                f"number, e.g. {name}={'1e4' if name == 'photons' else '81.36'}"
            )
    if not isinstance(clean, Tensor) or not torch.isfinite(clean).all():
        raise ShapeError(
            "invalid clean sinogram — expected a finite tensor — got non-finite values or a "
            "non-tensor — compute it with RadonTransform on a finite image"
        )
    generator = torch.Generator(device=clean.device).manual_seed(seed)
    rate = photons * torch.exp(-mu_max * clean.detach().to(torch.float64))
    counts = torch.poisson(rate, generator=generator).clamp_min(1.0)
    return (-torch.log(counts / photons) / mu_max).to(clean.dtype)
