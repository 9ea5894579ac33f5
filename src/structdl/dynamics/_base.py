"""Abstract vector fields and integrators: *what* flows, and *how* it is discretised.

A state ``y`` is a tensor of shape ``(batch, dim)`` (images: ``(batch, C, H, W)``) or, for a
partitioned system, a pair ``(q, p)`` of such tensors. Vector fields declare the structure they
have through ``kinds`` (a set of strings from :data:`FIELD_KINDS`) and the data their kinds
promise; integrators declare the kinds they ``accept``, their coefficients (a ``tableau``) and
their ``claims``, from which :func:`structdl.structure.guarantees` derives what a step keeps.

The integrator contract: a subclass implements :meth:`Integrator.advance` (one step on
validated inputs) and, where an exact inverse exists, :meth:`Integrator.advance_inverse`. The
public entry points :meth:`Integrator.step` and :meth:`Integrator.inverse_step` validate once
(compatibility, step size, state) before calling them, and refuse a non-finite result.
``advance`` is the public unchecked path for callers that validated the inputs themselves
(:class:`~structdl.dynamics.ODENet` does, once per forward pass).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from torch import Tensor, nn

from .._errors import IncompatibleSchemeError, NonFiniteError, ShapeError, StepSizeError
from ..structure._validate import finite_or_unknown, require_float_tensor, step_size
from ..structure.declarations import Claim, accepts
from ..structure.guarantees import require_compatible

__all__ = [
    "FIELD_KINDS",
    "Integrator",
    "State",
    "VectorField",
    "all_finite",
    "check_finite_result",
    "check_state",
    "state_add",
    "state_map",
    "validate_state",
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
#: - "lie": ``y' = ξ(t, y) · y`` on a homogeneous manifold; exposes ``xi``, ``act`` and
#:   ``manifold``;
#: - "divergence_free": ``∇·f = 0``;
#: - "shear": exact flow available as ``exact_flow(t, y, h)``; "split": a sum of ``parts``.
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


def all_finite(x: Tensor) -> bool:
    """Whether every entry of the floating tensor ``x`` is finite (no NaN, no ±inf).

    Inside ``torch.func`` transforms and ``torch.compile``, where values cannot be read, the
    answer is ``True`` (the check is skipped there; shapes and dtypes are still validated).
    """
    return finite_or_unknown(x) is not False


def check_state(y: State, what: str = "state") -> None:
    """Raise unless ``y`` is a floating tensor (pair) of rank ≥ 1 with finite values.

    Raises:
        ShapeError: not a tensor, an integer dtype, a scalar, or a tensor on the meta device.
        NonFiniteError: NaN or infinite entries.
    """
    parts = y if isinstance(y, tuple) else (y,)
    for part in parts:
        require_float_tensor(part, what, "", "(batch, dim)")
        if part.device.type == "meta":
            raise ShapeError(
                f"{what} is on the meta device — expected a tensor with data — received a "
                f"meta tensor of shape {tuple(part.shape)} — materialise it (e.g. .to('cpu') "
                f"after filling it) before integrating"
            )
        if not all_finite(part):
            raise NonFiniteError(
                f"{what} contains NaN or infinite values — expected finite entries — received "
                f"a tensor of shape {tuple(part.shape)} — clean the input first"
            )


def validate_state(field: Any, y: State, what: str) -> None:
    """Validate ``y`` as a state of ``field``: the field's own ``validate`` if it has one."""
    validate = getattr(field, "validate", None)
    if callable(validate):
        validate(y, what)
    else:
        check_state(y, what)


def check_finite_result(y: State, who: str, h: float | Tensor) -> None:
    """Raise :class:`NonFiniteError` if a step from a finite state returned NaN or inf."""
    for part in y if isinstance(y, tuple) else (y,):
        if not all_finite(part):
            raise NonFiniteError(
                f"{who}: the step returned NaN or infinite values from a finite state — "
                f"expected a finite result — received a non-finite state after h="
                f"{float(h) if not isinstance(h, Tensor) or h.numel() == 1 else h} — use a "
                f"smaller step size, or check the field for a singularity (e.g. q = 0 in Kepler)"
            )


class VectorField(nn.Module, ABC):
    """A (possibly time-dependent) vector field ``dy/dt = f(t, y)``.

    Subclasses set ``kinds`` to the structural kinds they satisfy and implement ``forward``.
    ``evaluate`` is the field on a state that the caller already validated: the same values as
    ``forward``; fields that validate in ``forward`` override it to skip that validation.
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"general"})
    #: The polynomial degree of ``∇E`` (energy and Hamiltonian fields), ``None`` when ``∇E`` is
    #: not a polynomial: a quadrature-based discrete gradient (AVF) is exact up to some degree.
    energy_gradient_degree: ClassVar[int | None] = None

    @abstractmethod
    def forward(self, t: float | Tensor, y: State) -> State:
        """Return ``dy/dt`` at time ``t`` and state ``y`` (same structure as ``y``)."""

    def evaluate(self, t: float | Tensor, y: State) -> State:
        """``f(t, y)`` on a validated state (default: the module call, hooks included)."""
        return self(t, y)

    @property
    def name(self) -> str:
        """Class name, used in error messages."""
        return type(self).__name__

    @property
    def energy_structure(self) -> str:
        """``"skew"``, ``"dissipative"`` or ``"none"``: the structure matrix of ``y' = S∇E``.

        Partitioned Hamiltonian fields have ``S = J`` (skew); an "energy" field classifies its
        ``structure_matrix``; every other field is ``"none"``.
        """
        from ._energy import classify_structure_matrix  # local: keeps _base free of numerics

        if {"hamiltonian", "partitioned"} <= self.kinds:
            return "skew"
        if "energy" not in self.kinds:
            return "none"
        return classify_structure_matrix(self.structure_matrix)


class Integrator(ABC):
    """A one-step method ``y_{k+1} = Φ_h(y_k)`` for a vector field.

    Its structure is declared data (class attributes or properties), listed below.

    Attributes:
        order: the classical order of accuracy.
        accepts: alternative sets of field kinds; a field is accepted when its ``kinds``
            contain one of them (``(frozenset(),)``: every field).
        tableau: the Butcher tableau (or pair) of a Runge–Kutta-type method, else ``None``.
        is_symmetric: ``Φ_{−h} = Φ_h⁻¹`` (time-reversible) for every field.
        claims: :class:`~structdl.structure.Claim` s — what a step preserves, and when.
    """

    order: ClassVar[int]
    accepts: ClassVar[tuple[frozenset[str], ...]] = (frozenset(),)
    tableau: Any = None
    is_symmetric: ClassVar[bool] = False
    claims: ClassVar[tuple[Claim, ...]] = ()

    @property
    def name(self) -> str:
        """Class name, used in error messages."""
        return type(self).__name__

    @property
    def contractivity_radius(self) -> float:
        """Circle-contractivity radius ``r`` of the tableau (0 without a tableau)."""
        radius = getattr(self.tableau, "contractivity_radius", None)
        return float(radius) if radius is not None else 0.0

    @property
    def is_implicit(self) -> bool:
        """Whether a step solves an implicit equation (its results hold to the solve's residual)."""
        return self.tableau is not None and not self.tableau.is_explicit

    def accepts_field(self, field: VectorField) -> bool:
        """Whether this integrator accepts ``field`` (no exception)."""
        return accepts(self, field)

    def check_compatible(self, field: VectorField) -> None:
        """Raise :class:`IncompatibleSchemeError` unless ``field`` has an accepted set of kinds."""
        require_compatible(self, field)

    def _validate(self, field: VectorField, y: State, h: float | Tensor, what: str) -> None:
        self.check_compatible(field)
        step_size(h, self.name)
        validate_state(field, y, f"{self.name}: {what}")

    def step(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """Advance ``y`` from time ``t`` to ``t + h``, validating everything once.

        Raises:
            IncompatibleSchemeError: the integrator does not accept the field.
            StepSizeError: ``h`` is not one finite non-zero number.
            ShapeError: ``y`` is not a valid state of the field.
            NonFiniteError: ``y`` holds NaN/inf, or the step returned NaN/inf.
            ConvergenceError: an implicit solve did not converge.
        """
        self._validate(field, y, h, "state")
        out = self.advance(field, t, y, h)
        check_finite_result(out, self.name, h)
        return out

    @abstractmethod
    def advance(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """One step on inputs the caller validated (the public unchecked path)."""

    def has_inverse(self) -> bool:
        """Whether an exact inverse step is implemented (``advance_inverse``)."""
        return type(self).advance_inverse is not Integrator.advance_inverse

    def advance_inverse(
        self, field: VectorField, t: float | Tensor, y_next: State, h: float | Tensor
    ) -> State:
        """The exact inverse step on validated inputs, where one exists."""
        raise IncompatibleSchemeError(
            f"{self.name} has no exact inverse step — expected an integrator with an explicit "
            f"or symmetric inverse — received {self.name} — use StormerVerlet, SymplecticEuler, "
            f"ImplicitMidpoint or a splitting of exact shears"
        )

    def inverse_step(
        self, field: VectorField, t: float | Tensor, y_next: State, h: float | Tensor
    ) -> State:
        """Return ``y`` such that ``step(field, t, y, h) == y_next``, where an inverse exists.

        Raises:
            IncompatibleSchemeError: no exact inverse step (or the field is not accepted).
        """
        if not self.has_inverse():
            return self.advance_inverse(field, t, y_next, h)  # raises, naming the integrator
        self._validate(field, y_next, h, "state to invert")
        out = self.advance_inverse(field, t, y_next, h)
        check_finite_result(out, f"{self.name} (inverse)", h)
        return out

    def integrate(
        self, field: VectorField, y0: State, times: Sequence[float] | Tensor
    ) -> list[State]:
        """Integrate over a time grid; returns the states at every grid point (``y0`` first)."""
        self.check_compatible(field)
        grid = [float(t) for t in times]
        if len(grid) < 2:
            raise StepSizeError(
                f"{self.name}.integrate: the time grid is too short — expected at least two "
                f"points — received {len(grid)} — pass e.g. [0.0, 1.0]"
            )
        states = [y0]
        for t0, t1 in zip(grid[:-1], grid[1:], strict=False):
            states.append(self.step(field, t0, states[-1], t1 - t0))
        return states
