"""Memory-efficient backpropagation through chains of bijections.

Plain autograd stores every block's activations: memory grows linearly with depth. For a chain
``y = f_K ∘ … ∘ f_1(x)`` of bijections only the output is needed: the backward pass walks the
chain backwards, recovers each block's input by its inverse ``x_k = f_k⁻¹(x_{k+1})``,
recomputes the block with a graph and back-propagates through it (RevNets, Gomez et al. 2017;
i-RevNet; MemCNN). Activation memory is O(1) in depth; the cost is about one extra forward pass
(less for blocks with a fused :meth:`~structdl.invertible.RevNetBlock.reverse_vjp`).

What plain training does happens exactly once: BatchNorm running statistics are updated by the
forward pass only (they are restored after every inversion and recomputation), dropout masks
and other random draws are replayed from the RNG states captured in the forward pass, and the
power iteration of an i-ResNet block does not advance during recomputation.

Blocks that are not bijections fall back to checkpointing (their input is stored). Inverses
that are not exact (iterative, or float32 round-off through many blocks) drift; the optional
drift monitor measures each block's round-trip error in the forward pass and stores an anchor
(a checkpoint of the activation) whenever the accumulated error exceeds a threshold.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, final

import torch
from torch import Tensor, nn

from .._errors import ConfigError, IncompatibleSchemeError, ShapeError
from ..structure.declarations import Claim, EveryPart
from ..structure.properties import Invertible, VolumePreserving
from . import _recompute
from .base import Bijection
from .revnet import RevNetBlock

__all__ = ["DriftReport", "ReversibleSequential"]


@dataclass
class DriftReport:
    """What the drift monitor saw in the last forward/backward pass.

    Attributes:
        block_errors: per block, ``max |f⁻¹(f(x)) − x|`` measured in the forward pass (NaN for
            checkpointed blocks).
        anchors: indices of blocks whose input was stored as an anchor (not reconstructed).
        anchor_drift: per anchor, the accumulated round-trip error that triggered it.
    """

    block_errors: list[float] = field(default_factory=list)
    anchors: list[int] = field(default_factory=list)
    anchor_drift: dict[int, float] = field(default_factory=dict)


@final
class ReversibleSequential(Bijection):
    """A chain of blocks trained without storing activations.

    ``forward_and_logdet(x)`` returns what :class:`~structdl.invertible.Compose` returns (the
    output and the summed log-determinants) with the same gradients, but its autograd graph
    holds only the output (plus the inputs of non-invertible blocks and any drift anchors).

    Structure: ``Invertible`` (and ``VolumePreserving``) when every block guarantees it,
    derived from the blocks' own claims; a chain with a non-invertible block claims nothing and
    its :meth:`inverse` raises :class:`~structdl.IncompatibleSchemeError`.

    Exact gradients in float32: reconstructed activations carry the rounding of the forward
    additions, amplified along the chain, and so do the gradients. RevNet blocks built with
    ``fixed_point`` (:class:`~structdl.invertible.FixedPoint`) add exactly on a grid, so the
    backward pass reconstructs every activation bit for bit and the gradients are those of
    plain backprop through the same blocks; the chain's input must then lie on the grid
    (``FixedPoint.round``; checked, :class:`~structdl.ConfigError` otherwise).

    Args:
        blocks: bijections (inverted in the backward pass) or any modules (checkpointed).
        drift_threshold: when set, the forward pass measures every block's round trip
            ``max|f⁻¹(f(x)) − x|`` (one extra inverse per block), adds them up from the last
            anchor, and once the sum exceeds this value stores that block's input (an anchor:
            the backward pass uses it instead of reconstructing it, and the sum restarts);
            ``None`` (default) stores nothing extra.

    Example:
        >>> from structdl.invertible import RevNetBlock
        >>> net = ReversibleSequential(
        ...     *[RevNetBlock(nn.Linear(2, 2), nn.Linear(2, 2)) for _ in range(8)]
        ... ).double()
        >>> x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
        >>> net(x).square().sum().backward()
        >>> x.grad.shape
        torch.Size([5, 4])
    """

    def __init__(self, *blocks: nn.Module, drift_threshold: float | None = None) -> None:
        super().__init__()
        if len(blocks) == 1 and isinstance(blocks[0], (list, tuple, nn.ModuleList)):
            blocks = tuple(blocks[0])
        if not blocks or not all(isinstance(b, nn.Module) for b in blocks):
            raise ConfigError(
                f"ReversibleSequential: expected one or more nn.Module blocks — received "
                f"{[type(b).__name__ for b in blocks]} — pass e.g. RevNetBlock(f, g), …"
            )
        if drift_threshold is not None and not (
            isinstance(drift_threshold, (int, float))
            and not isinstance(drift_threshold, bool)
            and drift_threshold > 0
        ):
            raise ConfigError(
                f"ReversibleSequential: drift_threshold must be a positive number or None — "
                f"received {drift_threshold!r}"
            )
        self.blocks = nn.ModuleList(blocks)
        self.drift_threshold = drift_threshold
        self.drift_report = DriftReport()
        for block in self.blocks:
            for module in block.modules():
                if isinstance(module, _recompute.DROPOUTS):
                    module.register_forward_pre_hook(_recompute.dropout_pre_hook)

    # -- structure -----------------------------------------------------------------------------

    @property
    def invertible_blocks(self) -> bool:
        """Whether every block is a :class:`Bijection` (else some are checkpointed)."""
        return all(isinstance(b, Bijection) for b in self.blocks)

    @property
    def claims(self) -> tuple[Claim, ...]:
        """The claims of :class:`Compose`, when every block is a bijection; else none."""
        if not self.invertible_blocks:
            return ()
        return (
            Claim(Invertible(), EveryPart("blocks", Invertible()), "a chain of bijections"),
            Claim(
                VolumePreserving(),
                EveryPart("blocks", VolumePreserving()),
                "log-determinants add",
            ),
        )

    # -- the two directions -------------------------------------------------------------------

    def _params(self) -> list[Tensor]:
        return [p for p in self.parameters() if p.requires_grad]

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """The chain's output (any blocks; non-bijections are checkpointed)."""
        self._validate(x, "input")
        return self._run(x, context)[0]

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        if not self.invertible_blocks:
            raise IncompatibleSchemeError(self._not_invertible("forward_and_logdet"))
        return self._run(x, context)

    def _run(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        if context is not None and not isinstance(context, Tensor):
            raise ShapeError(
                f"ReversibleSequential: context must be a tensor or None — received "
                f"{type(context).__name__}"
            )
        needs_graph = torch.is_grad_enabled() and (
            x.requires_grad
            or (context is not None and context.requires_grad)
            or any(p.requires_grad for p in self.parameters())
        )
        if not needs_graph:
            return _plain_chain(self, x, context)
        ctx_tensor = context if context is not None else x.new_zeros(0)
        y, logdet = _ReversibleFunction.apply(
            self, context is not None, x, ctx_tensor, *self._params()
        )
        return y, logdet

    def _not_invertible(self, what: str) -> str:
        bad = [
            f"{i} ({type(b).__name__})"
            for i, b in enumerate(self.blocks)
            if not isinstance(b, Bijection)
        ]
        return (
            f"ReversibleSequential.{what}: block {bad[0]} is not invertible — expected every "
            f"block to be a Bijection — received {len(bad)} non-invertible block(s): "
            f"{', '.join(bad)} — replace them by bijections, or call forward(x) only"
        )

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        if not self.invertible_blocks:
            raise IncompatibleSchemeError(self._not_invertible("inverse"))
        total = z.new_zeros(z.shape[0])
        for block in reversed(self.blocks):
            z, logdet = block.inverse_and_logdet(z, context)
            total = total + logdet
        return z, total


def _apply_block(block: nn.Module, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
    if isinstance(block, Bijection):
        return block.forward_and_logdet(x, context)
    return block(x), x.new_zeros(x.shape[0])


def _plain_chain(
    container: ReversibleSequential, x: Tensor, context: Tensor | None
) -> tuple[Tensor, Tensor]:
    total = x.new_zeros(x.shape[0])
    for block in container.blocks:
        x, logdet = _apply_block(block, x, context)
        total = total + logdet
    return x, total


@dataclass
class _Record:
    """What the forward pass keeps for one block (usually nothing)."""

    stored_input: int | None = None  # index into saved tensors (checkpoint or drift anchor)
    two_stream: bool = False  # ran on the parts (x₁, x₂) kept apart
    rng: _recompute.RngReplay | None = None


class _ReversibleFunction(torch.autograd.Function):
    """Forward without a graph; backward by inversion and per-block recomputation."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        container: ReversibleSequential,
        has_context: bool,  # noqa: FBT001  (autograd.Function.apply takes positionals)
        x: Tensor,
        context_tensor: Tensor,
        *params: Tensor,
    ) -> tuple[Tensor, Tensor]:
        context = context_tensor if has_context else None
        records: list[_Record] = []
        saved: list[Tensor] = []
        dropout_states: dict = {}
        report = DriftReport()
        drift = 0.0
        h = x.detach()
        total = h.new_zeros(h.shape[0])
        halves: tuple[Tensor, Tensor] | None = None  # two-stream state between RevNet blocks
        grid: int | None = None  # fraction bits of the grid the state is known to lie on
        for i, block in enumerate(container.blocks):
            record = _Record()
            grid = _require_grid(block, i, h, halves, grid)
            if _two_stream(container, block, context):
                halves = _regroup(block, h, halves)
                record.two_stream = True
                with _recompute.dropout_session("record", dropout_states, h.device):
                    halves = block.forward_halves(*halves)
                records.append(record)
                continue
            if halves is not None:
                h, halves = torch.cat(halves, 1), None
            if _recompute.uses_rng(block):
                record.rng = _recompute.RngReplay(h.device)
            invertible = isinstance(block, Bijection)
            if not invertible:
                record.stored_input = len(saved)
                saved.append(h)
            with _recompute.dropout_session("record", dropout_states, h.device):
                out, logdet = _apply_block(block, h, context)
            total = total + logdet
            if container.drift_threshold is not None:
                error = _round_trip_error(block, h, out, context, record, dropout_states)
                report.block_errors.append(error)
                drift += 0.0 if error != error else error
                if drift > container.drift_threshold and record.stored_input is None:
                    # Anchor: keep this block's input instead of reconstructing it.
                    record.stored_input = len(saved)
                    saved.append(h)
                    report.anchors.append(i)
                    report.anchor_drift[i] = drift
                    drift = 0.0
            records.append(record)
            h = out
        if halves is not None:
            h = torch.cat(halves, 1)
        container.drift_report = report
        ctx.container, ctx.records, ctx.has_context = container, records, has_context
        ctx.dropout_states = dropout_states
        ctx.n_params = len(params)
        ctx.save_for_backward(h, context_tensor, *saved)
        return h, total

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor, grad_logdet: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        container: ReversibleSequential = ctx.container
        y, context_tensor, *saved = ctx.saved_tensors
        context = context_tensor if ctx.has_context else None
        params = container._params()
        grads: dict[int, Tensor] = {}
        grad_context = torch.zeros_like(context_tensor) if ctx.has_context else None
        y = y.detach()
        halves: tuple[Tensor, Tensor] | None = None
        grad_halves: tuple[Tensor, Tensor] | None = None
        for i in reversed(range(len(container.blocks))):
            block, record = container.blocks[i], ctx.records[i]
            block_params = [p for p in block.parameters() if p.requires_grad]
            if record.two_stream:
                halves, grad_halves = _regroup_pair(block, y, grad_y, halves, grad_halves)
                with (
                    _recompute.recomputing(),
                    _recompute.frozen_statistics(block),
                    _recompute.dropout_session("replay", ctx.dropout_states, y.device),
                ):
                    x1, x2, g1, g2, block_grads = block.reverse_vjp_halves(
                        *halves, *grad_halves, block_params
                    )
                halves, grad_halves = (x1, x2), (g1, g2)
                _accumulate(grads, block_params, block_grads)
                continue
            if halves is not None and grad_halves is not None:
                y, grad_y = torch.cat(halves, 1), torch.cat(grad_halves, 1)
                halves = grad_halves = None
            x, grad_y, block_grads, grad_c = _block_backward(
                block,
                record,
                saved,
                y,
                grad_y,
                grad_logdet,
                context,
                block_params,
                ctx.dropout_states,
            )
            _accumulate(grads, block_params, block_grads)
            if grad_c is not None and grad_context is not None:
                grad_context = grad_context + grad_c
            y = x
        if grad_halves is not None:
            grad_y = torch.cat(grad_halves, 1)
        param_grads = [grads.get(id(p)) for p in params]
        return (None, None, grad_y, grad_context, *param_grads)


def _two_stream(container: ReversibleSequential, block: nn.Module, context: Any) -> bool:
    """Whether ``block`` runs on the two parts kept apart (RevNet blocks, nothing to monitor).

    Consecutive RevNet blocks then pass ``(x₁, x₂)`` to each other instead of concatenating
    and re-splitting the state at every block: fewer copies, the same arithmetic.
    """
    return (
        isinstance(block, RevNetBlock)
        and context is None
        and container.drift_threshold is None
        and not _recompute.uses_rng(block)
    )


def _require_grid(
    block: nn.Module,
    index: int,
    h: Tensor,
    halves: tuple[Tensor, Tensor] | None,
    grid: int | None,
) -> int | None:
    """The fraction bits of the grid ``block``'s output lies on (``None``: no known grid).

    A fixed-point RevNet block is inverted exactly only from an input on its grid, inside its
    range; its output then lies on that grid (it checks the range itself), so only the first
    block of a run of them checks its input: once per forward pass, at the chain's input.
    """
    fixed = block.fixed_point if isinstance(block, RevNetBlock) else None
    if fixed is None:
        return None
    if grid is None or grid > fixed.fraction_bits:
        parts = halves if halves is not None else (h,)
        if not all(fixed.on_grid(p) for p in parts):
            k = fixed.fraction_bits
            raise ConfigError(
                f"ReversibleSequential: the input of block {index} (RevNetBlock with "
                f"fixed_point={k}) is not on its grid 2^-{k} — expected grid inputs, which the "
                f"backward pass reconstructs bit for bit — received entries between grid "
                f"points — round the input first: x = FixedPoint({k}).round(x) (a "
                f"straight-through gradient)"
            )
        fixed.check(parts, f"ReversibleSequential (input of block {index})")
    return fixed.fraction_bits


def _regroup(
    block: RevNetBlock, h: Tensor, halves: tuple[Tensor, Tensor] | None
) -> tuple[Tensor, Tensor]:
    """The two parts for ``block``: split ``h``, or re-split the parts if its split differs."""
    if halves is None:
        return block.split_halves(h)
    width = halves[0].shape[1] + halves[1].shape[1]
    if block.split_size(width) == halves[0].shape[1]:
        return halves
    return block.split_halves(torch.cat(halves, 1))


def _regroup_pair(
    block: RevNetBlock,
    y: Tensor,
    grad_y: Tensor,
    halves: tuple[Tensor, Tensor] | None,
    grad_halves: tuple[Tensor, Tensor] | None,
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    if halves is None or grad_halves is None:
        return block.split_halves(y), block.split_halves(grad_y)
    return _regroup(block, y, halves), _regroup(block, grad_y, grad_halves)


def _accumulate(grads: dict[int, Tensor], params: list[Tensor], found: list[Tensor | None]) -> None:
    for p, grad in zip(params, found, strict=True):
        if grad is not None:
            grads[id(p)] = grads[id(p)] + grad if id(p) in grads else grad


def _round_trip_error(
    block: nn.Module,
    x: Tensor,
    out: Tensor,
    context: Tensor | None,
    record: _Record,
    dropout_states: dict,
) -> float:
    if not isinstance(block, Bijection):
        return float("nan")
    with (
        _recompute.recomputing(),
        _recompute.frozen_statistics(block),
        _recompute.dropout_session("replay", dropout_states, x.device),
    ):
        back = _inverse_only(block, out, context)
    return float((back - x).abs().max())


def _inverse_only(block: Bijection, y: Tensor, context: Tensor | None) -> Tensor:
    """``f⁻¹(y)`` without a graph, leaving the global RNG untouched (as plain backward does).

    An i-ResNet block is solved directly, skipping the log-determinant of its inverse.
    """
    devices = [y.device] if y.device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        solve = getattr(block, "solve_inverse", None)
        if callable(solve) and context is None:
            return solve(y).x
        return block.inverse_and_logdet(y, context)[0]


def _block_backward(
    block: nn.Module,
    record: _Record,
    saved: list[Tensor],
    y: Tensor,
    grad_y: Tensor,
    grad_logdet: Tensor,
    context: Tensor | None,
    block_params: list[Tensor],
    dropout_states: dict,
) -> tuple[Tensor, Tensor, list[Tensor | None], Tensor | None]:
    """Recover the block's input and back-propagate ``grad_y`` (and ``grad_logdet``) through it."""
    with (
        _recompute.recomputing(),
        _recompute.frozen_statistics(block),
        _recompute.dropout_session("replay", dropout_states, y.device),
    ):
        fused = getattr(block, "reverse_vjp", None)
        if record.stored_input is None and context is None and callable(fused):
            # Volume-preserving blocks with a fused inverse + vjp: grad_logdet does not enter.
            x, grad_x, block_grads = fused(y, grad_y, block_params)
            return x, grad_x, block_grads, None
        if record.stored_input is not None:
            x = saved[record.stored_input]
        else:
            x = _inverse_only(block, y, context)
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            replay = record.rng.replay() if record.rng is not None else contextlib.nullcontext()
            with replay:
                out, logdet = _apply_block(block, leaf, context)
            outputs, seeds = [out], [grad_y]
            if logdet.requires_grad:
                outputs.append(logdet)
                seeds.append(grad_logdet)
            inputs = [leaf, *block_params]
            wants_context = context is not None and context.requires_grad
            if wants_context:
                inputs.append(context)
            grads = torch.autograd.grad(outputs, inputs, seeds, allow_unused=True)
    grad_x = grads[0] if grads[0] is not None else torch.zeros_like(leaf)
    n = len(block_params)
    grad_c = grads[1 + n] if wants_context else None
    return x.detach(), grad_x, list(grads[1 : 1 + n]), grad_c
