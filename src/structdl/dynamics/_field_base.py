"""The abstract base of the neural vector fields: state validation written once.

Every concrete field of :mod:`structdl.dynamics.fields` calls :meth:`StructuredField.validate`
at its public entry points (``forward``, ``potential``, ``grad_q`` …), so a bad state — wrong
type, integer dtype, wrong width, a dtype or device different from the parameters', NaN — is
reported once, in one wording, before any arithmetic. ``evaluate`` is the public unchecked
path: the field on a state its caller validated.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import ClassVar

import torch
from torch import Tensor, nn

from .._errors import ConfigError, ShapeError
from ..structure.declarations import ALWAYS, Claim
from ..structure.properties import Invertible, Reversible, VolumePreserving
from ._base import State, VectorField, check_state

__all__ = [
    "SHEAR_FLOW_CLAIMS",
    "StructuredField",
    "check_option",
    "finite_nonnegative",
    "linear_weight",
]


#: What the exact flow of a shear keeps: ``s`` is constant along it, so the flow
#: ``x ↦ x + h g(s)`` is explicit, undone by the flow for ``−h``, and has ``det = 1``. A field with
#: an ``exact_flow`` declares these claims (a splitting method reads them for its sub-steps).
SHEAR_FLOW_CLAIMS = (
    Claim(Invertible(), ALWAYS, "the exact flow of a shear is undone by the flow for −h"),
    Claim(Reversible(), ALWAYS, "an exact autonomous flow satisfies φ_{−h} = φ_h⁻¹"),
    Claim(VolumePreserving(), ALWAYS, "a shear x ↦ x + h g(s) with s constant has det = 1"),
)


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


class StructuredField(VectorField):
    """Abstract base of the neural fields: ``forward`` validates, ``evaluate`` computes.

    Subclasses set ``dim`` (the width of a state, or of each half ``q``, ``p`` of a partitioned
    state), ``partitioned`` (whether a state is a pair ``(q, p)``) and implement ``evaluate``.
    """

    partitioned: ClassVar[bool] = False
    dim: int

    def forward(self, t: float | Tensor, y: State) -> State:
        """Return ``dy/dt`` at ``(t, y)``; ``y`` is ``(batch, dim)`` or a pair of those."""
        self.validate(y)
        return self.evaluate(t, y)

    @abstractmethod
    def evaluate(self, t: float | Tensor, y: State) -> State:
        """The vector field on a validated state (the public unchecked path)."""

    def parameter_dtype(self) -> torch.dtype | None:
        """The dtype of the field's parameters (``None`` for a field without parameters)."""
        first = self._first_parameter()
        return None if first is None else first.dtype

    def _first_parameter(self) -> Tensor | None:
        return next(self.parameters(), None)

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
        parameter = self._first_parameter()
        for part in parts:
            self._check_part(part, where, parameter, scan=scan)
        if self.partitioned and parts[0].shape != parts[1].shape:
            raise ShapeError(
                f"{where}: q and p must have the same shape, got {tuple(parts[0].shape)} and "
                f"{tuple(parts[1].shape)}"
            )

    def _check_part(
        self, part: object, where: str, parameter: Tensor | None, *, scan: bool
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
        if parameter is not None and parameter.device != part.device:
            raise ShapeError(
                f"{where} is on another device than the field — expected {parameter.device} "
                f"(the parameters') — received {part.device} — move one of them, e.g. "
                f"field.to({str(part.device)!r})"
                + (
                    " after materialising the meta parameters (to_empty)"
                    if parameter.is_meta
                    else ""
                )
            )
        if scan:  # NaN/inf scan; skipped where values cannot be read (vmap, torch.compile)
            check_state(part, where)
        if parameter is not None and part.dtype != parameter.dtype:
            raise ShapeError(
                f"{where} has the wrong dtype — expected the parameters' {parameter.dtype} — "
                f"received {part.dtype} — convert one of them, e.g. field.to({part.dtype})"
            )

    def validate_part(self, x: Tensor, what: str) -> None:
        """Validate one half ``q`` or ``p`` of a partitioned state (or a whole tensor state)."""
        if self.partitioned:
            # One half alone: the pair checks (structure, equal shapes) hold trivially, so the
            # half is checked — and scanned for NaN — once, not once per copy of (x, x).
            self._check_part(x, f"{self.name}: {what}", self._first_parameter(), scan=True)
        else:
            self.validate(x, what)


def check_option(value: object, allowed: tuple[object, ...], what: str) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``allowed``."""
    if not isinstance(value, (str, type(None))) or value not in allowed:
        raise ConfigError(
            f"unknown {what} {value!r} — expected one of {list(allowed)}; pick one of those"
        )
