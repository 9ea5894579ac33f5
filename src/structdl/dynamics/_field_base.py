"""The abstract base of the neural vector fields: state validation written once (STYLE habit 12).

Every concrete field of :mod:`structdl.dynamics.fields` calls :meth:`StructuredField.validate`
at its public entry points (``forward``, ``potential``, ``grad_q`` …), so a bad state — wrong
type, integer dtype, wrong width, a dtype different from the parameters', NaN — is reported
once, in one wording, before any arithmetic.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import ClassVar

import torch
from torch import Tensor, nn

from .._errors import ConfigError, ShapeError
from ._base import State, VectorField, check_state

__all__ = [
    "StructuredField",
    "check_option",
    "finite_nonnegative",
    "linear_weight",
    "positive_int",
]


def linear_weight(rows: int, cols: int) -> nn.Parameter:
    """A ``rows×cols`` weight with nn.Linear's scale (uniform in ±1/√cols), so ‖A‖ = O(1)."""
    bound = 1.0 / math.sqrt(cols)
    return nn.Parameter(torch.empty(rows, cols).uniform_(-bound, bound))


def finite_nonnegative(value: object, what: str) -> float:
    """Return ``value`` as a float if it is a finite number ≥ 0, else raise :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigError(f"{what} must be a finite number ≥ 0, got {value!r}; pass e.g. 0.01")
    if not math.isfinite(value):
        raise ConfigError(f"{what} must be finite, got {value!r}; pass e.g. 0.01")
    return float(value)


def positive_int(value: object, what: str) -> int:
    """Return ``value`` if it is a positive ``int`` (not a bool); else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}; pass e.g. {what}=4")
    return value


def _under_functorch(x: Tensor) -> bool:
    # Inside torch.func transforms (vmap, jacrev) a data-dependent `if` on the tensor's values is
    # an error, so the finiteness test is skipped there (shapes and dtypes are still checked).
    probe = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", None)
    return bool(probe(x)) if probe is not None else False


class StructuredField(VectorField):
    """Abstract base of the neural fields: ``forward`` validates, ``_evaluate`` computes.

    Subclasses set ``dim`` (the width of a state, or of each half ``q``, ``p`` of a partitioned
    state), ``partitioned`` (whether a state is a pair ``(q, p)``) and implement ``_evaluate``.
    """

    partitioned: ClassVar[bool] = False
    dim: int

    def forward(self, t: float | Tensor, y: State) -> State:
        """Return ``dy/dt`` at ``(t, y)``; ``y`` is ``(batch, dim)`` or a pair of those."""
        self.validate(y)
        return self._evaluate(t, y)

    @abstractmethod
    def _evaluate(self, t: float | Tensor, y: State) -> State:
        """The vector field on a validated state."""

    def _parameter_dtype(self) -> torch.dtype | None:
        # The first parameter, as self.parameters() would yield it; the module's own parameters
        # come first, so look there before walking the submodules (a generator per call).
        for parameter in self._parameters.values():
            if parameter is not None:
                return parameter.dtype
        return next((parameter.dtype for parameter in self.parameters()), None)

    def validate(self, y: State, what: str = "state") -> None:
        """Raise :class:`ShapeError` unless ``y`` is a valid state of this field.

        A valid state is a floating tensor of shape ``(batch, dim)`` (a pair of two equal-shape
        such tensors for a partitioned field) with finite entries and the parameters' dtype.
        """
        self._validate(y, what, scan=True)

    def validate_layout(self, y: State, what: str = "state") -> None:
        """:meth:`validate` without the scan of the values for NaN/inf.

        For a caller that scans the state once itself and checks it against several fields
        (:class:`~structdl.dynamics.ODENet` with per-layer fields).
        """
        self._validate(y, what, scan=False)

    def _validate(self, y: State, what: str, *, scan: bool) -> None:
        where = f"{self.name}: {what}"
        if self.partitioned != isinstance(y, tuple):
            expected = "a pair (q, p) of tensors" if self.partitioned else "a single tensor"
            fix = "split the state into (q, p)" if self.partitioned else "pass one tensor"
            raise ShapeError(
                f"{where} has the wrong structure — expected {expected} — got "
                f"{type(y).__name__}; {fix}"
            )
        parts = y if isinstance(y, tuple) else (y,)
        if self.partitioned and len(parts) != 2:
            raise ShapeError(f"{where} must be a pair (q, p), got a tuple of {len(parts)} parts")
        dtype = self._parameter_dtype()
        for part in parts:
            self._check_part(part, where, dtype, scan=scan)
        if self.partitioned and parts[0].shape != parts[1].shape:
            raise ShapeError(
                f"{where}: q and p must have the same shape, got {tuple(parts[0].shape)} and "
                f"{tuple(parts[1].shape)}"
            )

    def _check_part(
        self, part: object, where: str, dtype: torch.dtype | None, *, scan: bool
    ) -> None:
        if not isinstance(part, Tensor):
            raise ShapeError(f"{where} must hold torch.Tensors, got {type(part).__name__}")
        if part.dim() < 1 or part.shape[-1] != self.dim:
            raise ShapeError(
                f"{where} has the wrong shape — expected (batch, {self.dim}) — got "
                f"{tuple(part.shape)}; reshape the input or build the field with dim="
                f"{part.shape[-1] if part.dim() else '…'}"
            )
        if not part.is_floating_point():
            raise ShapeError(
                f"{where} must have a floating dtype (float32 or float64), got {part.dtype}; "
                "convert with .double() or .float()"
            )
        if scan and not _under_functorch(part):  # inside vmap/jacrev only shapes and dtypes
            check_state(part, where)
        if dtype is not None and part.dtype != dtype:
            raise ShapeError(
                f"{where} has dtype {part.dtype} but the field's parameters are {dtype}; "
                f"convert one of them, e.g. field.to({part.dtype})"
            )

    def validate_part(self, x: Tensor, what: str) -> None:
        """Validate one half ``q`` or ``p`` of a partitioned state (or a whole tensor state)."""
        if self.partitioned:
            # One half alone: the pair checks (structure, equal shapes) hold trivially, so the
            # half is checked — and scanned for NaN — once, not once per copy of (x, x).
            self._check_part(x, f"{self.name}: {what}", self._parameter_dtype(), scan=True)
        else:
            self.validate(x, what)


def check_option(value: object, allowed: tuple[object, ...], what: str) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``allowed``."""
    if not isinstance(value, (str, type(None))) or value not in allowed:
        raise ConfigError(
            f"unknown {what} {value!r} — expected one of {list(allowed)}; pick one of those"
        )
