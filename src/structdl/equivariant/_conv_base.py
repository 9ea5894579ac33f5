"""Shared machinery of the group convolutions: validation, symmetric sampling, export.

A group convolution is an ordinary :func:`torch.nn.functional.conv2d` with an *expanded filter
bank* built at forward time from one base filter tensor by transforming it with every group
element. Data layout (drawn once)::

    field  (B, C, |G|, H, W)  --reshape-->  (B, C·|G|, H, W)     channel index c·|G| + g
    bank   (C_out·|G|, C_in·|G_in|, k, k)  rows (c_out, g_out), columns (c_in, g_in)

so the layer is exactly ``conv2d(x.reshape(B, -1, H, W), bank)`` and :meth:`export` can return
a plain :class:`torch.nn.Conv2d`.

On CUDA, TF32 convolutions (``torch.backends.cudnn.allow_tf32``, on by default) keep only about
three decimal digits, far above the float32 equivariance tolerance; turn TF32 off when checking
exactness on a GPU. (Only the CPU path has been measured.)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .._errors import ConfigError, ShapeError
from ..structure._validate import require_int
from . import _validate as v
from ._declare import DeclaresEquivariance
from ._interp import MARGIN, disc_mask, rotate_filter, rotation_matrix
from ._sampling import AxisPlan, axis_plan, uncached_axis_plan, widen_kernel
from .actions import Representation, act_image, permute_regular, regular_permutation
from .groups import FiniteGroup, GroupElement


class _GatherPlan(NamedTuple):
    """Where each bank entry comes from: ``bank = source.view(rows, -1)[:, index].view(shape)``.

    ``rows`` is the number of leading blocks (output channels) that the transforms never mix:
    every row ``r`` of the bank is gathered from row ``r`` of the source by the SAME small
    ``index`` (``|G|·C_in·|G_in|·k²`` entries instead of ``C_out`` times as many), which
    reads far less index memory than one flat gather; ``rows = 1`` is the flat gather.
    """

    index: torch.Tensor
    shape: tuple[int, ...]
    rows: int


def _gather(source: torch.Tensor, index: torch.Tensor, rows: int, shape: tuple) -> torch.Tensor:
    """One ``index_select`` on a 2-d view; its adjoint is autograd's own ``index_add``.

    Of the forms measured on CPU (forward + backward), this gather with its native backward is
    the cheapest. ``benchmarks/group_conv.py --forms``: a precomputed permutation matrix
    applied as a matmul costs 1.5–1.8× as much, stacking ``rot90``/``flip`` copies 5–8×, and a
    hand-written gather-and-sum backward in a Python ``autograd.Function`` is cheaper in its raw
    operations but loses that to the Function's Python dispatch (1.02–1.05×). One-off timings:
    ``take`` or one flat index over the whole bank 1.6–1.9×, a scatter forward (whose backward
    is a gather) 1.5×. Being one native operation, it also works unchanged under ``torch.func``
    transforms and ``torch.compile``.
    """
    return source.reshape(rows, -1).index_select(1, index).view(shape)


class GroupConvBase(DeclaresEquivariance, nn.Module):
    """Abstract base of lifting, group and relaxed group convolutions (not for direct use).

    Args:
        in_channels: number of input fields ``C_in``.
        out_channels: number of output fields ``C_out``.
        kernel_size: spatial size ``k`` of the square base filter (odd or even).
        group: the finite group ``G``.
        in_rep: representation of the input fields.
        out_rep: representation of the output fields.
        stride: spatial stride ``s ≥ 1``.
        padding: ``"same"`` (``(k−1)//2``), ``"valid"`` (0) or a nominal padding ``p ≥ 0``; the
            layer pads symmetrically by the smallest ``p' ≥ p`` that centres the sampling grid
            (see :mod:`structdl.equivariant._sampling`), so outputs are exactly equivariant for
            odd and even input sizes. For interpolated groups the filter bank is
            ``(k+2) × (k+2)`` (see :mod:`structdl.equivariant._interp`) and the padding grows by
            one, so output sizes equal those of an exact layer with the same arguments.
        padding_mode: ``"zeros"``, ``"replicate"``, ``"reflect"`` or ``"circular"``.
        bias: add one learnable bias per output field (shared over the group axis, which keeps
            equivariance).
        require_exact: raise :class:`IncompatibleSchemeError` if ``group`` acts only
            approximately (interpolated rotations).
    """

    weight: nn.Parameter  # the base filter, defined by each layer

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        group: FiniteGroup,
        *,
        in_rep: Representation,
        out_rep: Representation,
        stride: int = 1,
        padding: int | str = "same",
        padding_mode: str = "zeros",
        bias: bool = True,
        require_exact: bool = False,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.group = v.require_group(group, owner)
        v.require_exactness(self.group, owner, require_exact=require_exact)
        self.in_channels = require_int(in_channels, "in_channels")
        self.out_channels = require_int(out_channels, "out_channels")
        self.kernel_size = require_int(kernel_size, "kernel_size")
        # Interpolated groups evaluate the rotated filters with a margin (see _interp), so the
        # bank is larger than the base filter; the padding grows by the margin to keep sizes.
        margin = 0 if self.group.exact else MARGIN
        self.bank_size = self.kernel_size + 2 * margin
        self.stride = require_int(stride, "stride")
        self.padding = v.nominal_padding(padding, self.kernel_size) + margin
        self.padding_mode = v.padding_mode(padding_mode)
        self.in_rep = in_rep
        self.out_rep = out_rep
        self.exact = self.group.exact
        self.bias = nn.Parameter(torch.zeros(self.out_channels)) if bias else None
        if bias:
            # Bias b_c of output channel c·|G| + g: one gather of the C_out biases (a
            # non-persistent geometry buffer, like the bank's positions).
            repeats = self.out_rep.size or 1
            positions = torch.arange(self.out_channels).repeat_interleave(repeats)
            self.register_buffer("bias_index", positions, persistent=False)
        if not self.group.exact:
            # Rotated by arbitrary angles, the corners of a square kernel would leave the grid;
            # keeping only the weights in the inscribed disc keeps every rotated copy inside.
            self.register_buffer("disc", disc_mask(self.kernel_size), persistent=False)
        else:
            self.disc = None

    def filter_bank(self) -> torch.Tensor:
        """The expanded bank ``(C_out·|G|, C_in·|G_in|, k', k')``, ``k' = bank_size``.

        Row ``c·|G| + g`` is the base filter ``ψ_c`` transformed by ``g``: ``T_g ψ_c`` from
        images (lifting), ``L_g ψ_c`` (spatial transform and Cayley permutation of the input
        group axis) from regular fields.
        """
        return self._transformed_stack(self._masked(self.weight))

    # -- shared -----------------------------------------------------------------------------
    def _kernel_taps(self) -> int:
        """Spatial weights per base filter that reach the bank: ``k²``, or the disc's count.

        For interpolated groups only the weights in the inscribed disc are used (``disc``), so
        the fan-in of the He initialisation counts those: ``C_in·|G_in|·taps``.
        """
        if self.disc is None:
            return self.kernel_size * self.kernel_size
        return int(self.disc.sum().item())

    def _new_filter(self, *leading: int, regular: bool) -> nn.Parameter:
        """A He-uniform base filter ``(*leading, C_out, C_in[, |G|], k, k)``.

        ``regular``: the input is a regular field, so the filter has an input group axis.
        He-uniform keeps activations of ReLU networks at unit scale through depth. With
        unit-mass interpolation bumps (see _interp) each base weight keeps its mass in every
        rotated copy, so the fan-in of an interpolated bank is the count of base weights used
        (``C_in·|G_in|·``:meth:`_kernel_taps`), exactly as for an exact group.
        """
        k = self.kernel_size
        in_axis = (self.in_channels, self.group.order) if regular else (self.in_channels,)
        weight = torch.empty(*leading, self.out_channels, *in_axis, k, k)
        bound = math.sqrt(6.0 / (math.prod(in_axis) * self._kernel_taps()))
        with torch.no_grad():
            weight.uniform_(-bound, bound)
        return nn.Parameter(weight)

    def _masked(self, weight: torch.Tensor) -> torch.Tensor:
        return weight if self.disc is None else weight * self.disc

    def transform_filter(
        self, g: GroupElement, weight: torch.Tensor, *, regular: bool
    ) -> torch.Tensor:
        """``L_g`` on a filter: exact rot90/flip for exact groups, Gaussian interpolation else.

        Args:
            g: group element.
            weight: ``(..., |G|, k, k)`` if ``regular`` (the group axis is permuted too), else
                ``(..., k, k)``.
            regular: whether the filter has an input group axis.
        """
        if regular:
            weight = permute_regular(g, weight, self.group)
        if self.group.exact:
            return act_image(g, weight)
        return rotate_filter(g, weight)

    def _prepare_bank(
        self, source_shape: tuple[int, ...], *, regular: bool, per_element: bool = False
    ) -> None:
        """Work out, once at construction, how the bank is made from a source of this shape.

        Called by each layer after it has created its weights. The geometry is kept in
        non-persistent buffers (derived from the group, not state: not in ``state_dict``, but
        moved by ``.to()``), so the forward pass only reads tensors: nothing is built or
        looked up in a cache there, which keeps it traceable by ``torch.compile``.

        * exact groups: the gather plan (:class:`_GatherPlan`) — buffer ``bank_index``;
        * interpolated groups: ``bank_rotations`` ``(|G|, k'², k²)``, one Gaussian-interpolation
          matrix per element with the mirror folded in, and ``bank_permutations``
          ``(|G|, |G|)``, the regular permutation of each element (for regular inputs).
        """
        self._bank_regular, self._bank_per_element = regular, per_element
        if self.group.exact:
            plan = self._gather_plan(source_shape, regular=regular, per_element=per_element)
            self.register_buffer("bank_index", plan.index, persistent=False)
            self._bank_shape, self._bank_rows = plan.shape, plan.rows
            return
        k = source_shape[-1]
        flipped = torch.arange(k * k).view(k, k).flip(-1).reshape(-1)
        matrices = []
        for g in self.group.elements():
            matrix = rotation_matrix(k, g.angle, dtype=torch.float64, device=torch.device("cpu"))
            # Mirroring the filter's last axis first permutes the matrix's columns.
            matrices.append(matrix[:, flipped] if g.flip else matrix)
        dtype = torch.get_default_dtype()
        self.register_buffer("bank_rotations", torch.stack(matrices).to(dtype), persistent=False)
        perms = [regular_permutation(self.group, g) for g in self.group.elements()]
        self.register_buffer("bank_permutations", torch.tensor(perms), persistent=False)

    def _transformed_stack(self, source: torch.Tensor) -> torch.Tensor:
        """The bank ``(C_out·|G|, C_in·|G_in|, k', k')``: ``stack([transform_filter(g, s_g)])``.

        ``s_g = source`` for every ``g`` (a shared base filter), or ``s_g = source[i]`` for the
        ``i``-th element when the layer prepared a per-element bank (``source`` then has a
        leading ``|G|`` axis); the stack over ``g`` (axis 1) is flattened into the bank's two
        channel axes. The transforms of an exact group (axis permutation, flip, rot90) only
        move entries, so the positions they move them to were computed once — by applying the
        very same transforms to a tensor of entry numbers — and the bank is one gather by
        them, bit for bit equal to the stack. Interpolated groups apply one matrix per element.
        """
        if not self.group.exact:
            stack = self._interpolated_stack(source)
            return stack.reshape(stack.shape[0] * stack.shape[1], -1, *stack.shape[-2:])
        return _gather(source, self.bank_index, self._bank_rows, self._bank_shape)

    def _interpolated_stack(self, source: torch.Tensor) -> torch.Tensor:
        n, k = self.group.order, source.shape[-1]
        # One source block per element: (|G|, ..., k, k).
        blocks = source if self._bank_per_element else source.expand(n, *source.shape)
        if self._bank_regular:
            # Element g reads its input group axis (axis -3) permuted by bank_permutations[g].
            moved = blocks.movedim(-3, 1)  # (|G|, |G_in|, ..., k, k)
            rows = torch.arange(n, device=source.device)[:, None]
            blocks = moved[rows, self.bank_permutations].movedim(1, -3)
        flat = blocks.reshape(n, -1, k * k)
        rotated = torch.bmm(flat, self.bank_rotations.transpose(1, 2))
        size = self.bank_size
        return rotated.view(n, *blocks.shape[1:-2], size, size).movedim(0, 1)

    def _gather_plan(
        self, source_shape: tuple[int, ...], *, regular: bool, per_element: bool
    ) -> _GatherPlan:
        # Positions depend on shapes only: worked out on the CPU, moved with the module.
        if per_element:
            # Element i transforms its own block source[i]: one flat index over everything.
            ids = torch.arange(math.prod(source_shape)).reshape(source_shape)
            blocks = [ids[i] for i in range(self.group.order)]
            rows = 1
        else:
            # A shared base filter: the transforms act within each output channel's block and
            # never mix blocks, so one small index, worked out on a single block and shared by
            # all C_out rows, describes the whole gather (C_out times less index memory).
            ids = torch.arange(math.prod(source_shape[1:])).reshape(1, *source_shape[1:])
            blocks = [ids] * self.group.order
            rows = source_shape[0]
        parts = [
            self.transform_filter(g, block, regular=regular)
            for g, block in zip(self.group.elements(), blocks, strict=True)
        ]
        index = torch.stack(parts, dim=1)  # (C_out or 1, |G|, C_in[, |G_in|], k, k)
        # Gathered straight into the bank's final 4-d shape: no reshape (and no view node in
        # the autograd graph) after the gather.
        k = index.shape[-1]
        shape = (index.shape[0] * rows * index.shape[1], math.prod(index.shape[2:-2]), k, k)
        return _GatherPlan(index.reshape(-1), shape, rows)

    def _expanded_bias(self) -> torch.Tensor | None:
        if self.bias is None:
            return None
        # b_c repeated over the group axis (c·|G| + g) by one index_select: one autograd node
        # (backward: index_add), cheaper than expand + reshape or repeat_interleave (three).
        return self.bias.index_select(0, self.bias_index)

    def sampling_plan(self, height: int, width: int) -> tuple[AxisPlan, AxisPlan]:
        """Effective window, symmetric padding and output size along each axis."""
        # The cached plan in eager mode (asked on every forward); the plain function while
        # torch.compile traces, which would otherwise trace through the cache wrapper.
        plan = uncached_axis_plan if torch.compiler.is_compiling() else axis_plan
        return (
            plan(height, self.bank_size, self.stride, self.padding),
            plan(width, self.bank_size, self.stride, self.padding),
        )

    def _bank_for(self, plan_h: AxisPlan, plan_w: AxisPlan) -> torch.Tensor:
        bank = self.filter_bank()
        return widen_kernel(
            bank,
            rows=plan_h.window > self.bank_size,
            cols=plan_w.window > self.bank_size,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the group convolution to a field of ``in_rep``; returns a field of ``out_rep``."""
        owner = type(self).__name__
        # At stride 1 every input entry lies in a window of every output channel, so a NaN or
        # inf anywhere in x reaches output channel 0: screening that channel (1/(C_out·|G|) of
        # the output) replaces a pass over the whole input, which at 32×32 maps cost about 1 %
        # of the layer's forward + backward. With a stride, some entries may be skipped.
        screen_output = self.stride == 1
        v.check_field(
            x,
            self.in_rep,
            self.in_channels,
            self.group,
            owner,
            device=self.weight.device,
            finite=not screen_output,
        )
        b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        plan_h, plan_w = self.sampling_plan(h, w)
        # Channel count spelled out (not -1): an empty batch has no size to infer it from.
        flat = x.reshape(b, self.in_channels * (self.in_rep.size or 1), h, w)
        bank = self._bank_for(plan_h, plan_w)
        if bank.dtype != flat.dtype:
            raise ShapeError(
                f"{owner}: input dtype {flat.dtype} differs from the parameters' "
                f"{bank.dtype} — expected equal dtypes — call module.to({flat.dtype}) or cast x"
            )
        bias = self._expanded_bias()
        if self.padding_mode == "zeros":
            out = F.conv2d(flat, bank, bias, self.stride, (plan_h.padding, plan_w.padding))
        else:
            # F.pad needs padding < size for reflect and padding <= size for circular.
            limit = {"reflect": 0, "circular": 1}.get(self.padding_mode)
            if limit is not None and max(plan_h.padding - h, plan_w.padding - w) >= limit:
                raise ShapeError(
                    f"{owner}: {self.padding_mode} padding of {plan_h.padding}×"
                    f"{plan_w.padding} pixels needs a larger input — expected H, W ≥ padding "
                    f"(> for reflect) — received {h}×{w} — use a larger input or "
                    "padding_mode='replicate'"
                )
            pads = (plan_w.padding, plan_w.padding, plan_h.padding, plan_h.padding)
            out = F.conv2d(F.pad(flat, pads, mode=self.padding_mode), bank, bias, self.stride)
        if screen_output:
            v.require_finite_behind(out.detach().select(1, 0), x, owner)
        size = self.out_rep.size
        shape = (b, self.out_channels) + ((size,) if size else ()) + tuple(out.shape[-2:])
        return out.reshape(shape)

    @torch.no_grad()
    def export(self, input_size: int | tuple[int, int] | None = None) -> nn.Conv2d:
        """A plain :class:`torch.nn.Conv2d` with the expanded bank, for inference.

        It acts on the flattened layout ``(B, C_in·|G_in|, H, W)`` and returns
        ``(B, C_out·|G|, H', W')``; reshape to recover the field. With ``stride > 1`` the
        symmetric padding depends on the input size, so ``input_size`` (``N`` or ``(H, W)``) is
        required and the exported module is valid for that size only.
        """
        if input_size is None:
            if self.stride > 1:
                raise ConfigError(
                    f"export of a strided {type(self).__name__} needs input_size — expected the "
                    f"(H, W) the exported conv will see (padding depends on it when stride > 1) "
                    f"— received None — call export(input_size=(H, W))"
                )
            input_size = (self.bank_size, self.bank_size)
        if isinstance(input_size, int):
            input_size = (input_size, input_size)
        plan_h, plan_w = self.sampling_plan(*input_size)
        bank = self._bank_for(plan_h, plan_w).detach()
        conv = nn.Conv2d(
            bank.shape[1],
            bank.shape[0],
            (plan_h.window, plan_w.window),
            stride=self.stride,
            padding=(plan_h.padding, plan_w.padding),
            padding_mode=self.padding_mode,
            bias=self.bias is not None,
            device=bank.device,
            dtype=bank.dtype,
        )
        conv.weight.copy_(bank)
        if self.bias is not None:
            conv.bias.copy_(self._expanded_bias())
        return conv

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"group={self.group.name}, stride={self.stride}, padding={self.padding}, "
            f"padding_mode={self.padding_mode!r}, in_rep={self.in_rep!r}, "
            f"out_rep={self.out_rep!r}, exact={self.exact}"
        )
