"""Volume-preserving rearrangements: feature reversal, squeeze and Haar downsampling.

- :class:`Reverse`: ``z = x[:, ::-1]`` on axis 1 (lets alternating couplings reach every
  feature);
- :class:`Squeeze`: space-to-depth, each 2×2 block of a channel becomes 4 channels,
  ``(C, H, W) → (4C, H/2, W/2)`` (Dinh et al. 2017), a permutation;
- :class:`HaarDownsample`: the orthonormal Haar wavelet of each 2×2 block,
  ``(a, b, c, d) ↦ ½(a+b+c+d, a−b+c−d, a+b−c−d, a−b−c+d)``: channels ordered as
  average, horizontal, vertical and diagonal detail (Ardizzone et al. 2019).

All three are orthogonal maps: volume preserving and isometries (bi-Lipschitz 1 and 1).
"""

from __future__ import annotations

from typing import final

import torch
from torch import Tensor

from .._errors import ShapeError
from ..structure.declarations import Claim
from ._claims import bilipschitz_claim
from .base import Bijection

__all__ = ["HaarDownsample", "Reverse", "Squeeze"]


class _Isometry(Bijection):
    """An orthogonal rearrangement: log-determinant 0, Lipschitz 1 both ways."""

    volume_preserving = True

    def lipschitz_bounds(self) -> tuple[float, float]:
        """``(1, 1)``."""
        return 1.0, 1.0

    @property
    def claims(self) -> tuple[Claim, ...]:
        """``Invertible``, ``VolumePreserving`` and ``BiLipschitz(1, 1)``."""
        return (*super().claims, bilipschitz_claim(1.0, 1.0, "an orthogonal map"))

    def _zero(self, x: Tensor) -> Tensor:
        return x.new_zeros(x.shape[0])


@final
class Reverse(_Isometry):
    """``z = x`` with axis 1 reversed.

    Example:
        >>> Reverse()(torch.tensor([[1.0, 2.0, 3.0]])).tolist()
        [[3.0, 2.0, 1.0]]
    """

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        if x.dim() < 2:
            raise ShapeError(
                f"Reverse: wrong input shape — expected (batch, features, …) — received "
                f"{tuple(x.shape)} — add a feature axis"
            )
        return x.flip(1), self._zero(x)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return self._forward(z, context)


def _check_image(x: Tensor, owner: str) -> None:
    if x.dim() != 4 or x.shape[2] % 2 or x.shape[3] % 2:
        raise ShapeError(
            f"{owner}: wrong input shape — expected (batch, C, H, W) with even H and W — "
            f"received {tuple(x.shape)} — pad or crop the images to even sizes"
        )


def _check_squeezed(z: Tensor, owner: str) -> None:
    if z.dim() != 4 or z.shape[1] % 4:
        raise ShapeError(
            f"{owner}: wrong input of the inverse — expected (batch, 4C, H/2, W/2) — received "
            f"{tuple(z.shape)} — pass the output of the forward map"
        )


def _blocks(x: Tensor) -> Tensor:
    """``(B, C, H, W) → (B, C, 4, H/2, W/2)``: the 2×2 block entries (a, b; c, d) on axis 2."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(b, c, 4, h // 2, w // 2)


def _unblocks(x: Tensor) -> Tensor:
    b, c, _, h, w = x.shape
    x = x.reshape(b, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(b, c, 2 * h, 2 * w)


@final
class Squeeze(_Isometry):
    """Space-to-depth ``(B, C, H, W) → (B, 4C, H/2, W/2)``, channel ``4c + k`` = block entry k.

    Example:
        >>> Squeeze()(torch.arange(4.0).reshape(1, 1, 2, 2)).flatten().tolist()
        [0.0, 1.0, 2.0, 3.0]
    """

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        _check_image(x, "Squeeze")
        z = _blocks(x)
        return z.reshape(z.shape[0], -1, *z.shape[3:]), self._zero(x)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        _check_squeezed(z, "Squeeze")
        x = _unblocks(z.reshape(z.shape[0], -1, 4, *z.shape[2:]))
        return x, self._zero(z)


def _haar_matrix(like: Tensor) -> Tensor:
    return 0.5 * torch.tensor(
        [[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]],
        dtype=like.dtype,
        device=like.device,
    )


@final
class HaarDownsample(_Isometry):
    """Haar wavelet per 2×2 block: ``(B, C, H, W) → (B, 4C, H/2, W/2)``, orthonormal.

    Example:
        >>> HaarDownsample()(torch.ones(1, 1, 2, 2)).flatten().tolist()
        [2.0, 0.0, 0.0, 0.0]
    """

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        _check_image(x, "HaarDownsample")
        blocks = torch.einsum("kj,bcjhw->bckhw", _haar_matrix(x), _blocks(x))
        return blocks.reshape(x.shape[0], -1, *blocks.shape[3:]), self._zero(x)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        _check_squeezed(z, "HaarDownsample")
        blocks = z.reshape(z.shape[0], -1, 4, *z.shape[2:])
        # The Haar matrix is symmetric and orthogonal: its own inverse.
        x = _unblocks(torch.einsum("kj,bcjhw->bckhw", _haar_matrix(z), blocks))
        return x, self._zero(z)
