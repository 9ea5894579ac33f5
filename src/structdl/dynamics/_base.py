"""Abstract vector fields and integrators: *what* flows, and *how* it is discretised.

A state ``y`` is a tensor of shape ``(batch, dim)`` (images: ``(batch, C, H, W)``) or, for a
partitioned system, a pair ``(q, p)`` of such tensors. Vector fields declare the structure they
have through ``kinds`` (a set of strings from :data:`FIELD_KINDS`); integrators declare the kinds
they ``require`` and the properties they ``preserve``. ``Integrator.check_compatible`` runs
before any computation and names both sides when they do not fit.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn

from .._errors import IncompatibleSchemeError, ShapeError, StepSizeError
from ..structure.properties import Property

__all__ = [
    "FIELD_KINDS",
    "Integrator",
    "State",
    "VectorField",
    "all_finite",
    "state_add",
    "state_map",
    "state_scale",
]

State = Tensor | tuple[Tensor, Tensor]

#: The structural vocabulary of vector fields.
#: - "general": any ``f(t, y)`` on tensor states;
#: - "partitioned": the state is a pair ``(q, p)`` and ``forward`` returns ``(dq, dp)``;
#: - "gradient": ``f = −∇V`` with ``V`` convex; exposes ``potential(t, y)`` and
#:   ``lipschitz_bound()``;
#: - "hamiltonian": ``(q', p') = (∂_p H, −∂_q H)``; exposes ``energy``, ``grad_q``, ``grad_p``;
#: - "separable": hamiltonian with ``H = T(p) + V(q)`` (explicit symplectic methods apply);
#: - "energy": ``y' = S ∇E(y)`` on a tensor state with a known ``structure_matrix``;
#:   exposes ``energy(y)`` and ``grad_energy(y)`` (discrete-gradient methods apply);
#: - "lie": ``y' = ξ(t, y) · y`` on a homogeneous manifold; exposes ``xi`` and ``act``;
#: - "divergence_free": ``∇·f = 0``;
#: - "shear": exact flow available as ``exact_flow(t, y, h)``; "split": a sum of sub-fields.
FIELD_KINDS = frozenset(
    {
        "general",
        "partitioned",
        "gradient",
        "hamiltonian",
        "separable",
        "energy",
        "lie",
        "divergence_free",
        "shear",
        "split",
    }
)


def state_map(fn: Callable[[Tensor], Tensor], y: State) -> State:
    """Apply ``fn`` to a tensor state or to each part of a partitioned state."""
    if isinstance(y, tuple):
        return tuple(fn(part) for part in y)  # type: ignore[return-value]
    return fn(y)


def state_add(y: State, dy: State, scale: float | Tensor = 1.0) -> State:
    """``y + scale · dy`` for tensor or partitioned states."""
    if isinstance(y, tuple):
        return tuple(a + scale * b for a, b in zip(y, dy, strict=False))  # type: ignore[return-value]
    return y + scale * dy  # type: ignore[operator]


def state_scale(dy: State, scale: float | Tensor) -> State:
    """``scale · dy`` for tensor or partitioned states."""
    return state_map(lambda part: scale * part, dy)


class VectorField(nn.Module, ABC):
    """A (possibly time-dependent) vector field ``dy/dt = f(t, y)``.

    Subclasses set ``kinds`` to the structural kinds they satisfy and implement ``forward``.
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"general"})

    @abstractmethod
    def forward(self, t: float | Tensor, y: State) -> State:
        """Return ``dy/dt`` at time ``t`` and state ``y`` (same structure as ``y``)."""

    @property
    def name(self) -> str:
        """Class name, used in error messages."""
        return type(self).__name__


class Integrator(ABC):
    """A one-step method ``y_{k+1} = Φ_h(y_k)`` for a vector field.

    Class attributes:
        order: the classical order of accuracy.
        requires: field kinds that a field must all have for this method to apply.
        preserves: properties the method preserves whenever ``requires`` holds
            (conditional rules live in :func:`structdl.structure.guarantees`).
    """

    order: ClassVar[int]
    requires: ClassVar[frozenset[str]] = frozenset()
    preserves: ClassVar[frozenset[Property]] = frozenset()

    @property
    def name(self) -> str:
        """Class name, used in error messages."""
        return type(self).__name__

    def check_compatible(self, field: VectorField) -> None:
        """Raise :class:`IncompatibleSchemeError` unless ``field`` has every required kind."""
        kinds = getattr(field, "kinds", frozenset())
        missing = self.requires - kinds
        if missing:
            from .integrators import compatible_integrators  # local: avoid an import cycle

            suggestions = ", ".join(compatible_integrators(field)) or "none registered"
            raise IncompatibleSchemeError(
                f"{self.name} cannot integrate {type(field).__name__}: it requires a field of "
                f"kind {sorted(self.requires)}, but {type(field).__name__} is of kind "
                f"{sorted(kinds)} (missing {sorted(missing)}); compatible integrators: "
                f"{suggestions}"
            )

    @abstractmethod
    def step(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """Advance ``y`` from time ``t`` to ``t + h``."""

    def _step(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """``step`` without its per-call validation, for callers that validated once up front.

        :class:`~structdl.dynamics.ODENet` checks compatibility when it is built, its input once
        per forward pass and its step sizes once per forward pass, then advances through this
        method: the same arithmetic as :meth:`step` (bit for bit) without the per-step scans of
        the state for NaN, which otherwise cost more than the arithmetic of a small layer. The
        built-in integrators override it (and their ``step`` is validation + ``_step``); the
        default keeps a third-party integrator correct by running its validated ``step``.
        """
        return self.step(field, t, y, h)

    def has_inverse(self) -> bool:
        """Whether ``inverse_step`` is implemented exactly (explicitly, or by the method itself)."""
        return type(self).inverse_step is not Integrator.inverse_step

    def inverse_step(
        self, field: VectorField, t: float | Tensor, y_next: State, h: float | Tensor
    ) -> State:
        """Return ``y`` such that ``step(field, t, y, h) == y_next``, where an inverse exists."""
        raise NotImplementedError(f"{self.name} has no explicit inverse step")

    def integrate(
        self, field: VectorField, y0: State, times: Sequence[float] | Tensor
    ) -> list[State]:
        """Integrate over a time grid; returns the states at every grid point (``y0`` first)."""
        self.check_compatible(field)
        grid = [float(t) for t in times]
        if len(grid) < 2:
            raise StepSizeError(
                f"a time grid needs at least two points, got {len(grid)}; pass e.g. [0.0, 1.0]"
            )
        states = [y0]
        for t0, t1 in zip(grid[:-1], grid[1:], strict=False):
            h = t1 - t0
            if not (h == h) or h == 0.0:  # NaN or zero step
                raise StepSizeError(
                    f"time grid steps must be non-zero and finite, got h={h} between {t0} and {t1}"
                )
            states.append(self.step(field, t0, states[-1], h))
        return states


def check_state(y: State, what: str = "state") -> None:
    """Raise :class:`ShapeError` for a state that is not a floating tensor (pair) of rank ≥ 1,
    or that holds non-finite values."""
    parts = y if isinstance(y, tuple) else (y,)
    for part in parts:
        if not isinstance(part, Tensor):
            raise ShapeError(f"{what} must be a torch.Tensor, got {type(part).__name__}")
        if not part.is_floating_point():
            raise ShapeError(
                f"{what} must have a floating dtype (float32 or float64), got {part.dtype}; "
                "convert with .double() or .float()"
            )
        if part.dim() < 1:
            raise ShapeError(f"{what} must have a batch axis, got a scalar tensor")
        if not all_finite(part):
            raise ShapeError(f"{what} contains NaN or infinite values; clean the input first")


def all_finite(x: Tensor) -> bool:
    """Whether every entry of the floating tensor ``x`` is finite (no NaN, no ±inf).

    One fused min/max reduction read back as two Python floats: ``min`` and ``max`` propagate
    NaN, and an infinite entry is the min or the max, so both are finite exactly when every
    entry is. This is several times cheaper than ``torch.isfinite(x).all()``, which writes a
    boolean tensor of ``x``'s size and then reduces it — it runs on every validated state.
    """
    if x.numel() == 0:
        return True
    low, high = torch.aminmax(x.detach())
    return math.isfinite(low.item()) and math.isfinite(high.item())
