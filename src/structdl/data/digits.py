"""The 8×8 handwritten digits of scikit-learn (1797 images, 10 classes), shipped with sklearn.

No download: :func:`sklearn.datasets.load_digits` reads a file inside the scikit-learn package.
Pixels (integers 0–16) are divided by 16 so that features lie in ``[0, 1]``; an image is a row
of 64 features (``flatten=True``) or a ``(1, 8, 8)`` tensor.
"""

from __future__ import annotations

import torch

from ..structure._validate import require_int
from ._split import Split, stratified_split
from ._validate import check_dtype

__all__ = ["load_digits", "digits_split"]

#: Largest pixel value in the sklearn digits (4-bit grey levels).
_MAX_PIXEL = 16.0


def load_digits(
    *, flatten: bool = True, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as ``(x, y)``; ``x`` in ``[0, 1]``, shape ``(1797, 64)`` or ``(1797, 1, 8, 8)``.

    Raises:
        ConfigError: ``dtype`` is not float32/float64.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    check_dtype(dtype)
    bunch = _sk_load_digits()
    x = torch.as_tensor(bunch.data, dtype=dtype) / _MAX_PIXEL
    y = torch.as_tensor(bunch.target, dtype=torch.long)
    if not flatten:
        x = x.reshape(-1, 1, 8, 8)
    return x, y


def digits_split(
    *,
    test_fraction: float = 0.25,
    seed: int = 0,
    n_per_class: int | None = None,
    flatten: bool = True,
    dtype: torch.dtype = torch.float32,
) -> Split:
    """Stratified train/test split of the digits; ``n_per_class`` keeps only that many per class.

    The subset (if any) and the split are drawn from generators seeded with ``seed``.

    Raises:
        ConfigError: ``test_fraction`` not in (0, 1), ``n_per_class`` < 2, bad ``dtype``.
    """
    x, y = load_digits(flatten=flatten, dtype=dtype)
    if n_per_class is not None:
        require_int(n_per_class, "n_per_class", minimum=2)
        generator = torch.Generator().manual_seed(seed)
        keep = []
        for label in range(10):
            members = torch.nonzero(y == label).flatten()
            order = torch.randperm(members.numel(), generator=generator)
            keep.append(members[order[:n_per_class]])
        index = torch.cat(keep)
        x, y = x[index], y[index]
    return stratified_split(x, y, test_fraction=test_fraction, seed=seed)
