"""Input validation shared by the structure checks.

Public checks validate, private helpers implement: every function here raises the typed errors
of :mod:`structdl._errors` with the message template "what is wrong — what was expected — what
was received — how to fix it", naming the check that was called.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._errors import ConfigError, NonFiniteError, ShapeError, StepSizeError

__all__ = [
    "State",
    "as_batch",
    "as_state",
    "batch_size",
    "call_map",
    "finite_or_unknown",
    "require_callable",
    "require_flat_state",
    "require_float_tensor",
    "require_int",
    "resolve_tolerance",
    "state_max_abs_diff",
    "step_size",
    "validate_step_size",
]

#: A tensor state, or a partitioned state ``(q, p)`` given as a tuple of tensors.
State = Tensor | tuple[Tensor, ...]


def _describe(value: Any) -> str:
    """Short description of a received value for error messages."""
    if isinstance(value, Tensor):
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"


def require_callable(obj: Any, name: str, check: str) -> None:
    """Raise :class:`ConfigError` unless ``obj`` is callable."""
    if not callable(obj):
        raise ConfigError(
            f"{check}: `{name}` is not callable — expected a function or nn.Module mapping a "
            f"batch of states to a batch of states — received {_describe(obj)} — pass the map "
            f"itself, e.g. `{check}(layer, x)`"
        )


def require_float_tensor(x: Any, what: str, owner: str, layout: str = "(batch, …)") -> Tensor:
    """Raise :class:`ShapeError` unless ``x`` is a floating tensor with a batch axis.

    The one check, with one wording, that every batched entry point makes first (the structure
    checks, integrators, bijections); each adds what its own inputs need after it.

    Args:
        x: the candidate.
        what: what ``x`` is, for messages (``"input"``, ``"`x`"``).
        owner: who asks (a check, a class), for messages; empty when ``what`` names it.
        layout: the expected shape, for messages.

    Returns:
        ``x`` itself.
    """
    prefix = f"{owner}: " if owner else ""
    if not isinstance(x, Tensor):
        raise ShapeError(
            f"{prefix}{what} is not a tensor — expected a floating tensor of shape {layout} — "
            f"received {_describe(x)} — convert it with torch.as_tensor(…, dtype=torch.float64)"
        )
    if not x.is_floating_point():
        raise ShapeError(
            f"{prefix}{what} has a non-floating dtype — expected float32 or float64 — received "
            f"{_describe(x)} — cast it with `.double()` or `.float()`"
        )
    if x.ndim < 1:
        raise ShapeError(
            f"{prefix}{what} has no batch axis — expected shape {layout} — received a scalar "
            f"tensor — add a batch axis with `x.reshape(1, -1)`"
        )
    return x


def require_flat_state(z: Any, width: int, who: str) -> Tensor:
    """Raise :class:`ShapeError` unless ``z`` is a floating ``(batch, width)`` state ``(q, p)``."""
    require_float_tensor(z, "the state", who, f"(batch, {width})")
    if z.dim() != 2 or z.shape[1] != width:
        raise ShapeError(
            f"{who}: wrong state — expected a (batch, {width}) tensor z = (q, p) — received "
            f"{tuple(z.shape)} — concatenate q and p along dim 1"
        )
    return z


def as_batch(x: Any, name: str, check: str, *, flat: bool = False) -> Tensor:
    """Validate a batch of sample points and return it detached.

    Args:
        x: the candidate tensor; the first axis is the batch axis.
        name: argument name, used in messages.
        check: name of the calling check, used in messages.
        flat: require exactly two axes ``(batch, dim)``.

    Raises:
        ShapeError: not a tensor, not floating point, no batch axis or empty.
        NonFiniteError: NaN or infinite entries.
    """
    expected = "(batch, dim)" if flat else "(batch, …)"
    require_float_tensor(x, f"`{name}`", check, expected)
    if x.ndim < 2 or (flat and x.ndim != 2) or x.shape[0] == 0 or x[0].numel() == 0:
        raise ShapeError(
            f"{check}: `{name}` has the wrong shape — expected a non-empty batch of shape "
            f"{expected} — received {_describe(x)} — add a batch axis with `x.unsqueeze(0)`"
        )
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise NonFiniteError(
            f"{check}: `{name}` contains {bad} non-finite entries (NaN or inf) — expected "
            f"finite sample points — received {_describe(x)} — remove or replace those points"
        )
    return x.detach()


def as_state(y: Any, name: str, check: str) -> State:
    """Validate a tensor state or a partitioned state (tuple of tensors with one batch size)."""
    if isinstance(y, (tuple, list)):
        if len(y) == 0:
            raise ShapeError(
                f"{check}: `{name}` is an empty tuple — expected a tensor or a pair (q, p) of "
                f"tensors — received () — pass the state itself"
            )
        parts = tuple(as_batch(part, f"{name}[{i}]", check) for i, part in enumerate(y))
        sizes = {part.shape[0] for part in parts}
        if len(sizes) != 1:
            raise ShapeError(
                f"{check}: the parts of `{name}` have different batch sizes {sorted(sizes)} — "
                f"expected one batch size — received shapes "
                f"{[tuple(p.shape) for p in parts]} — pass parts of matching batch size"
            )
        return parts
    return as_batch(y, name, check)


def batch_size(y: State) -> int:
    """Batch size of a tensor or partitioned state."""
    return (y[0] if isinstance(y, tuple) else y).shape[0]


def state_max_abs_diff(a: Any, b: State, check: str, what: str) -> float:
    """``max |a − b|`` over every entry of two states of the same structure.

    ``a`` comes from user code (a map's output), so its structure and shapes are validated.
    Non-finite entries give ``inf`` (a failed check, not an error: the map blew up).
    """
    a_parts = tuple(a) if isinstance(a, (tuple, list)) else (a,)
    b_parts = b if isinstance(b, tuple) else (b,)
    shapes_ok = len(a_parts) == len(b_parts) and all(
        isinstance(pa, Tensor) and pa.shape == pb.shape
        for pa, pb in zip(a_parts, b_parts, strict=True)
    )
    if not shapes_ok:
        raise ShapeError(
            f"{check}: {what} does not have the structure of the input — expected "
            f"{[tuple(p.shape) for p in b_parts]} — received "
            f"{[_describe(p) for p in a_parts]} — make the map return a state shaped like "
            f"its input"
        )
    worst = 0.0
    for pa, pb in zip(a_parts, b_parts, strict=True):
        diff = (pa.detach().to(pb.dtype) - pb).abs()
        if not bool(torch.isfinite(diff).all()):
            return math.inf
        worst = max(worst, float(diff.max()))
    return worst


def call_map(fn: Callable[[Tensor], Any], x: Tensor, check: str, name: str = "map") -> Tensor:
    """Call a batched map and validate that it returns a finite tensor with x's batch size."""
    y = fn(x)
    if not isinstance(y, Tensor) or y.ndim < 1 or y.shape[0] != x.shape[0]:
        raise ShapeError(
            f"{check}: `{name}` did not return a batch — expected a tensor with batch size "
            f"{x.shape[0]} — received {_describe(y)} — make `{name}` map (batch, …) tensors "
            f"to (batch, …) tensors"
        )
    if not bool(torch.isfinite(y).all()):
        raise NonFiniteError(
            f"{check}: `{name}` returned non-finite values (NaN or inf) on finite inputs — "
            f"expected finite outputs — received {_describe(y)} — check the map's parameters "
            f"and step size"
        )
    return y


def resolve_tolerance(value: Any, default: float, name: str, check: str) -> float:
    """Return ``default`` when ``value`` is None, else ``value`` validated as a float ≥ 0."""
    if value is None:
        return float(default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(
            f"{check}: `{name}` is not a number — expected a float ≥ 0 or None for the dtype "
            f"default — received {_describe(value)} — pass e.g. {name}=1e-8"
        )
    if not math.isfinite(value) or value < 0:
        raise ConfigError(
            f"{check}: `{name}` is invalid — expected a finite float ≥ 0 — received {value} — "
            f"pass a non-negative tolerance or None for the dtype default"
        )
    return float(value)


def require_int(value: Any, name: str, owner: str = "", minimum: int = 1) -> int:
    """The one validator of an integer option: ``value`` if it is an ``int ≥ minimum``.

    Every package validates its integer hyper-parameters (widths, depths, step counts, seeds)
    here, so that one rule and one wording hold everywhere: a ``bool`` is not an integer, and a
    float with an integral value is refused rather than silently truncated.

    Args:
        value: the received option.
        name: its name, as the user spells the argument.
        owner: the class or function that received it (prefixes the message when given).
        minimum: the smallest valid value.

    Raises:
        ConfigError: not an ``int`` (or a ``bool``), or below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        where = f"{owner}: " if owner else ""
        raise ConfigError(
            f"{where}{name} must be an integer ≥ {minimum} — received {_describe(value)} — "
            f"pass e.g. {name}={max(minimum, 2)}"
        )
    return value


def step_size(h: Any, who: str) -> float | Tensor:
    """The one validator of a step size: a finite non-zero number, or a one-element tensor.

    Negative steps are valid (they integrate backwards; symmetric methods invert that way). A
    tensor stays a tensor (gradients may flow through a learned step); inside ``torch.func``
    transforms its value is not inspected (no data-dependent branch there).

    Raises:
        StepSizeError: not a number, a tensor of more than one element, NaN/inf, or zero.
    """
    if isinstance(h, Tensor):
        if h.numel() != 1:
            raise StepSizeError(
                f"{who}: the step size h is not one number — expected a float or a one-element "
                f"tensor — received {_describe(h)} — take one step per step size"
            )
        readable = _read_scalar(h)
        if readable is None:  # inside a torch.func transform or a compiled graph
            return h
        value = readable
    elif isinstance(h, (int, float)) and not isinstance(h, bool):
        value = float(h)
    else:
        raise StepSizeError(
            f"{who}: the step size h is not a number — expected a finite non-zero float — "
            f"received {_describe(h)} — pass e.g. h=0.1"
        )
    if not math.isfinite(value):
        raise StepSizeError(
            f"{who}: the step size h is not finite — expected a finite non-zero number — "
            f"received h={value} — check the time grid or the learned step sizes for NaN/inf"
        )
    if value == 0.0:
        raise StepSizeError(
            f"{who}: the step size h is zero — expected a non-zero number (a zero step does "
            f"nothing) — received h={h!r} — remove repeated points from the time grid"
        )
    return h


def _read_scalar(x: Tensor) -> float | None:
    """The value of a one-element tensor, or ``None`` where values cannot be read.

    Inside ``torch.func.vmap`` reading a value (``.item()``) is an error, and inside
    ``torch.compile`` it breaks the graph: value checks are skipped there (shapes and dtypes are
    still checked), as torch's own modules do.
    """
    if torch.compiler.is_compiling():
        return None
    try:
        return float(x.detach().reshape(()).item())
    except RuntimeError:
        return None


def finite_or_unknown(x: Tensor) -> bool | None:
    """Whether every entry of ``x`` is finite; ``None`` where values cannot be read.

    Screened by one sum: a sum is finite only if every entry is (a NaN propagates, an infinite
    entry makes the sum ±inf or NaN), and it reads ``x`` once and writes nothing — several
    times cheaper than ``torch.isfinite(x).all()``, which writes a boolean tensor of ``x``'s
    size, and 3–5× cheaper than a min/max pass on a layer's input. Only a sum that is not
    finite (a non-finite entry, or finite entries whose sum overflows) is settled exactly, by
    one fused min/max reduction: ``min`` and ``max`` propagate NaN and an infinite entry is the
    min or the max.
    """
    if x.numel() == 0 or not (x.is_floating_point() or x.is_complex()):
        return True
    if torch.compiler.is_compiling() or x.device.type == "meta":
        return None
    try:
        # Summed in place: a strided view (one channel of a layer's output) is not copied.
        values = x.detach()
        if cmath.isfinite(values.sum().item()):
            return True
        low, high = torch.aminmax(values.reshape(-1))  # complex values have no order: None below
        return math.isfinite(low.item()) and math.isfinite(high.item())
    except RuntimeError:  # values cannot be read inside torch.func transforms
        return None


def validate_step_size(h: Any, check: str) -> float:
    """:func:`step_size` as a Python float (for the checks, which compare maps at one ``h``)."""
    return float(step_size(h, check))
