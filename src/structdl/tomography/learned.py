"""Learned proximal-gradient (learned forward–backward) reconstruction (docs/methods/tomography.md).

Unrolled iterations ``k = 0..K−1`` starting from ``x_0 = 0`` (the original protocol) or from the
filtered back-projection ``x_0 = FBP(y)`` (``init="fbp"``, which lets a short training run
start from a sensible image), with memory ``s_0 = 0``::

    g_k            = Aᵀ(A x_k − y) / ‖A‖²                 (gradient of the data term)
    (Δx_k, s_{k+1}) = Prox_k(concat[x_k, g_k, s_k])
    x_{k+1}        = x_k + Δx_k

The gradient is divided by ``‖A‖²`` so that a unit step is the classical step size ``1/L`` and
the block inputs are of order one whatever the units of the sinogram. The proximal blocks are
not shared between iterations. ``Prox_k`` returns the *increment* of ``x`` (a residual
parameterisation of the learned proximal operator): it can represent the same maps as a block
returning ``x_{k+1}`` itself, since ``x_k`` is one of its inputs, and trains faster.

Structure: if every ``Prox_k`` is equivariant to a group ``G`` acting on images (trivial
fields) and the forward operator satisfies ``A T_g = P_g A`` for a permutation ``P_g`` of the
sinogram (parallel beam with an angle set closed under the rotations in ``G``), then the whole
reconstruction map ``y ↦ x_K`` is ``G``-equivariant: ``R(A T_g x) = T_g R(A x)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .._errors import ConfigError, ShapeError
from ..equivariant._declare import DeclaresEquivariance
from ..equivariant.actions import TrivialRep
from ..equivariant.conv import GroupConv2d, LiftingConv2d
from ..equivariant.groups import FiniteGroup, require_group
from ..equivariant.pooling import GroupPool
from .fbp import fbp
from .radon import RadonTransform

__all__ = ["LearnedProximalGradient", "ProximalCNN", "ProximalGCNN"]


class ProximalCNN(nn.Module):
    """Ordinary proximal block: conv → LeakyReLU → zero-init residual → conv.

    ``Conv(2c + m → width)`` · LeakyReLU(0.01) · ``z + LeakyReLU(Conv(width → width) z)`` ·
    ``Conv(width → c + m)``; all 3×3 with replicate padding. The residual convolution starts at
    zero so that the block starts as a shallow network.

    Args:
        in_channels: image channels ``c``.
        n_memory: memory channels ``m``.
        width: hidden channels.
    """

    def __init__(self, in_channels: int, n_memory: int, width: int) -> None:
        super().__init__()
        conv = {"kernel_size": 3, "padding": 1, "padding_mode": "replicate"}
        self.conv_in = nn.Conv2d(2 * in_channels + n_memory, width, **conv)
        self.conv_mid = nn.Conv2d(width, width, **conv)
        self.conv_out = nn.Conv2d(width, in_channels + n_memory, **conv)
        self.act = nn.LeakyReLU(0.01)
        nn.init.zeros_(self.conv_mid.weight)
        nn.init.zeros_(self.conv_mid.bias)

    def forward(self, z: Tensor) -> Tensor:
        """``(B, 2c + m, H, W) -> (B, c + m, H, W)``."""
        h = self.act(self.conv_in(z))
        h = h + self.act(self.conv_mid(h))
        return self.conv_out(h)


class ProximalGCNN(DeclaresEquivariance, nn.Module):
    """Group-equivariant proximal block: the topology of :class:`ProximalCNN` with G-convolutions.

    ``LiftingConv2d(2c + m → F fields)`` · LeakyReLU(0.01) · ``z + LeakyReLU(GroupConv2d(F → F) z)``
    (zero-initialised) · ``GroupConv2d(F → c + m)`` followed by the mean over the group axis.
    Inputs and outputs are trivial fields (images), intermediate features ``F`` regular fields of
    ``G``, i.e. ``F·|G|`` channels: with ``F = width / |G|`` the channel budget equals that of a
    :class:`ProximalCNN` of the same ``width``. A pointwise LeakyReLU commutes with the
    permutation action on regular fields, and averaging a regular field over its group axis is
    the invariant projection, so the block satisfies ``Φ(T_g z) = T_g Φ(z)`` exactly for
    ``C2, C4, D4`` (replicate padding commutes with quarter turns and mirrors of a square grid)
    and approximately for groups acting by interpolation (``C8``, …).

    Args:
        in_channels: image channels ``c``.
        n_memory: memory channels ``m``.
        fields: regular fields ``F`` per hidden layer.
        group: the symmetry group ``G``.

    Declares ``Equivariant(group)`` between images (``in_rep = out_rep = TrivialRep()``) when
    ``group.exact`` — the claim :func:`structdl.structure.guarantees` derives and
    ``assert_preserves`` checks.
    """

    def __init__(self, in_channels: int, n_memory: int, fields: int, group: FiniteGroup) -> None:
        super().__init__()
        conv = {"padding": 1, "padding_mode": "replicate"}
        self.group = require_group(group, "ProximalGCNN")
        self.in_rep = self.out_rep = TrivialRep()
        self.fields = fields
        self.in_channels = in_channels
        self.n_memory = n_memory
        self.lift = LiftingConv2d(2 * in_channels + n_memory, fields, 3, group, **conv)
        self.conv_mid = GroupConv2d(fields, fields, 3, group, **conv)
        self.conv_out = GroupConv2d(fields, in_channels + n_memory, 3, group, **conv)
        self.pool = GroupPool(group, "mean")
        self.act = nn.LeakyReLU(0.01)
        with torch.no_grad():
            self.conv_mid.weight.zero_()
            if self.conv_mid.bias is not None:
                self.conv_mid.bias.zero_()

    def forward(self, z: Tensor) -> Tensor:
        """``(B, 2c + m, H, W) -> (B, c + m, H, W)``."""
        h = self.act(self.lift(z))
        h = h + self.act(self.conv_mid(h))
        return self.pool(self.conv_out(h))

    @torch.no_grad()
    def export(self) -> ProximalCNN:
        """The same map as an ordinary :class:`ProximalCNN` of width ``F·|G|`` (test-time form).

        The expanded filter banks become plain convolutions and the final group average is
        folded into the last convolution (mean of its weight rows over the group axis), so the
        exported block has exactly the cost of an ordinary block with the same channel budget.
        """
        order = self.group.order
        width = self.fields * order
        plain = ProximalCNN(self.in_channels, self.n_memory, width)
        plain = plain.to(device=self.lift.weight.device, dtype=self.lift.weight.dtype)
        for target, source in ((plain.conv_in, self.lift), (plain.conv_mid, self.conv_mid)):
            exported = source.export()
            target.weight.copy_(exported.weight)
            target.bias.copy_(exported.bias)
        last = self.conv_out.export()
        out_channels = self.in_channels + self.n_memory
        plain.conv_out.weight.copy_(
            last.weight.reshape(out_channels, order, width, 3, 3).mean(dim=1)
        )
        plain.conv_out.bias.copy_(last.bias.reshape(out_channels, order).mean(dim=1))
        return plain


BlockFactory = Callable[[int, int], nn.Module]


class LearnedProximalGradient(nn.Module):
    """Unrolled learned proximal-gradient reconstruction (see the module docstring).

    Args:
        op: forward operator ``A`` (a :class:`RadonTransform`).
        make_block: ``make_block(in_channels, n_memory) -> nn.Module`` mapping
            ``(B, 2c + m, H, W) -> (B, c + m, H, W)``; called once per iteration (not shared).
        iterations: number of unrolled iterations ``K``.
        n_memory: memory channels ``m``.
        in_channels: image channels ``c``.
        init: ``"zero"`` (``x_0 = 0``) or ``"fbp"`` (``x_0 = FBP(y)``).

    Example:
        >>> op = RadonTransform(16, 8)
        >>> net = LearnedProximalGradient(op, lambda c, m: ProximalCNN(c, m, 8), iterations=2)
        >>> net(torch.zeros(3, 1, 8, op.n_detectors)).shape
        torch.Size([3, 1, 16, 16])
    """

    def __init__(
        self,
        op: RadonTransform,
        make_block: BlockFactory,
        *,
        iterations: int = 8,
        n_memory: int = 5,
        in_channels: int = 1,
        init: str = "zero",
    ) -> None:
        super().__init__()
        if init not in ("zero", "fbp"):
            raise ConfigError(
                f"unknown init — expected 'zero' or 'fbp' — got {init!r} — pass init='zero' "
                "(the original protocol) or init='fbp'"
            )
        self.init = init
        for name, value, minimum in (
            ("iterations", iterations, 1),
            ("n_memory", n_memory, 0),
            ("in_channels", in_channels, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(
                    f"invalid {name} — expected an int ≥ {minimum} — got {value!r} — "
                    f"pass e.g. {name}={max(minimum, 1)}"
                )
        if not isinstance(op, RadonTransform):
            raise ConfigError(
                f"invalid operator — expected a RadonTransform — got {type(op).__name__} — "
                "build one with RadonTransform(image_size, angles)"
            )
        self.op = op
        self.n_memory = n_memory
        self.in_channels = in_channels
        self.blocks = nn.ModuleList(make_block(in_channels, n_memory) for _ in range(iterations))
        self._scale = 1.0 / op.operator_norm() ** 2

    def forward(self, y: Tensor) -> Tensor:
        """Reconstruct images ``(B, c, n, n)`` from sinograms ``(B, c, n_angles, n_det)``."""
        if not isinstance(y, Tensor) or y.dim() != 4 or y.shape[1] != self.in_channels:
            shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
            raise ShapeError(
                f"wrong sinogram batch — expected (B, {self.in_channels}, {self.op.n_angles}, "
                f"{self.op.n_detectors}) — got {shape} — add batch/channel axes"
            )
        n = self.op.image_size
        batch = y.shape[0]
        x = fbp(self.op, y) if self.init == "fbp" else y.new_zeros(batch, self.in_channels, n, n)
        memory = y.new_zeros(batch, self.n_memory, n, n)
        for block in self.blocks:
            gradient = self.op.data_gradient(x, y) * self._scale
            out = block(torch.cat([x, gradient, memory], dim=1))
            x = x + out[:, : self.in_channels]
            memory = out[:, self.in_channels :]
        return x

    def export(self) -> LearnedProximalGradient:
        """A copy whose equivariant blocks are replaced by their plain-convolution export."""
        import copy

        clone = copy.deepcopy(self)
        clone.blocks = nn.ModuleList(
            block.export() if isinstance(block, ProximalGCNN) else block for block in clone.blocks
        )
        return clone
