"""Runge–Kutta methods driven by a validated :class:`~structdl.dynamics.tableau.ButcherTableau`."""

from __future__ import annotations

from typing import final

import torch
from torch import Tensor

from ..._errors import ConfigError
from ...structure.properties import Property, Reversible, Symplectic
from .._base import Integrator, State, VectorField
from ..tableau import ButcherTableau, PartitionedTableau, lobatto_3a_3b, rk4
from ..tableau import tableau as lookup_tableau
from ._common import (
    Evaluator,
    field_evaluator,
    fixed_point,
    solver_options,
    solver_tolerance,
    state_dtype,
    validate_inputs,
)

__all__ = ["PartitionedRungeKutta", "RungeKutta"]


def _axpy(out: Tensor, k: Tensor, h: float | Tensor, coeff: float) -> Tensor:
    """``out + (h·coeff)·k`` as ONE fused op (no separate scaling of ``k``, no 0-d ``h·coeff``).

    ``torch.add(…, alpha=)`` needs a Python number, so a tensor step size goes through
    ``addcmul`` (``out + coeff·h·k``, ``h`` broadcast as a 0-d tensor; differentiable in ``h``).
    """
    if isinstance(h, Tensor):
        return torch.addcmul(out, h, k, value=coeff)
    return torch.add(out, k, alpha=h * coeff)


def _combine(y: State, coeffs: tuple[float, ...], ks: list[State], h: float | Tensor) -> State:
    """``y + h Σ_j coeffs_j k_j``, skipping zero coefficients (explicit stages stay cheap).

    One fused op per nonzero coefficient (see :func:`_axpy`): RK4 needs 3 + 4 = 7 per step.
    """
    out = y
    for coeff, k in zip(coeffs, ks, strict=True):
        if coeff != 0.0:
            if isinstance(out, tuple):
                out = tuple(_axpy(a, b, h, coeff) for a, b in zip(out, k, strict=True))
            else:
                out = _axpy(out, k, h, coeff)  # type: ignore[arg-type]
    return out


def _flatten(ks: list[State]) -> tuple[Tensor, ...]:
    flat: list[Tensor] = []
    for k in ks:
        flat.extend(k if isinstance(k, tuple) else (k,))
    return tuple(flat)


def _unflatten(flat: tuple[Tensor, ...], stages: int) -> list[State]:
    width = len(flat) // stages
    if width == 1:
        return list(flat)
    return [tuple(flat[i * width : (i + 1) * width]) for i in range(stages)]  # type: ignore[misc]


@final
def _derived_preserves(tableau: ButcherTableau | PartitionedTableau) -> frozenset[Property]:
    """What the coefficients alone guarantee: symplectic tableaux (``b_i a_ij + b_j a_ji =
    b_i b_j``) preserve symplecticity, symmetric ones are time-reversible."""
    derived: set[Property] = set()
    if tableau.is_symplectic:
        derived.add(Symplectic())
    if tableau.is_symmetric:
        derived.add(Reversible())
    return frozenset(derived)


class RungeKutta(Integrator):
    """Runge–Kutta method ``k_i = f(t + c_i h, y + h Σ_j a_ij k_j)``, ``y₁ = y + h Σ_i b_i k_i``.

    Everything structural is derived from the tableau: ``order`` is the tree order of the
    coefficients; ``preserves`` contains :class:`Symplectic` when ``b_i a_ij + b_j a_ji = b_i b_j``
    (symplectic *for Hamiltonian fields*, the condition that
    :func:`structdl.structure.guarantees` adds) and :class:`Reversible` when the tableau is
    symmetric.
    Explicit tableaux are evaluated stage by stage; implicit ones solve the stage equations by
    fixed-point iteration to a few units of round-off, raising :class:`StepSizeError` if the
    iteration does not converge within ``max_iter`` (the step is too large for the field's
    Lipschitz constant).

    Args:
        tableau: a :class:`ButcherTableau` or the name of one (``"rk4"``, ``"gauss4"``, …).
        max_iter: maximum fixed-point iterations of an implicit solve.
        tol: relative tolerance of the implicit solve (default: 8 ulp of the state dtype).

    Example:
        >>> RungeKutta("gauss4").order, sorted(map(str, RungeKutta("gauss4").preserves))
        (4, ['Reversible', 'Symplectic'])
    """

    requires = frozenset()

    def __init__(
        self,
        tableau: ButcherTableau | str = rk4,
        *,
        max_iter: int = 100,
        tol: float | None = None,
    ) -> None:
        if isinstance(tableau, str):
            tableau = lookup_tableau(tableau)
        if not isinstance(tableau, ButcherTableau):
            raise ConfigError(
                f"RungeKutta needs a ButcherTableau or a tableau name, got "
                f"{type(tableau).__name__}; pass e.g. RungeKutta('rk4')"
            )
        self.max_iter, self.tol = solver_options("RungeKutta", max_iter, tol)
        self.tableau = tableau
        self.order = tableau.order
        self.preserves = _derived_preserves(tableau)

    @property
    def name(self) -> str:
        """``RungeKutta(<tableau name>)``."""
        return f"RungeKutta({self.tableau.name})"

    def step(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """Advance ``y`` from ``t`` to ``t + h``."""
        validate_inputs(self, field, y, h)
        return self._advance(field, field_evaluator(field, checked=True), t, y, h)

    def _step(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """:meth:`step` without validation (inputs validated by the caller)."""
        return self._advance(field, field_evaluator(field, checked=False), t, y, h)

    def _advance(
        self, field: VectorField, f: Evaluator, t: float | Tensor, y: State, h: float | Tensor
    ) -> State:
        tab = self.tableau
        if tab.is_explicit:
            ks: list[State] = []
            for i in range(tab.stages):
                # A zero node evaluates at t itself (t + 0·h = t) without a 0-d tensor op.
                stage_t = t if tab.c[i] == 0.0 else t + tab.c[i] * h
                ks.append(f(stage_t, _combine(y, tab.a[i][:i], ks, h)))
        else:
            ks = self._solve_stages(f, t, y, h)
        return _combine(y, tab.b, ks, h)

    def _solve_stages(
        self, field: Evaluator, t: float | Tensor, y: State, h: float | Tensor
    ) -> list[State]:
        tab = self.tableau
        s = tab.stages

        def update(flat: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
            ks = _unflatten(flat, s)
            return _flatten(
                [field(t + tab.c[i] * h, _combine(y, tab.a[i], ks, h)) for i in range(s)]
            )

        start = _flatten([field(t, y)] * s)
        tol = self.tol if self.tol is not None else solver_tolerance(state_dtype(y))
        flat = fixed_point(update, start, tol=tol, max_iter=self.max_iter, who=self.name, h=h)
        return _unflatten(flat, s)  # type: ignore[arg-type]

    def has_inverse(self) -> bool:
        """A symmetric tableau is its own adjoint, so ``Φ_h⁻¹ = Φ_{−h}`` started at ``t + h``."""
        return self.tableau.is_symmetric

    def inverse_step(
        self, field: VectorField, t: float | Tensor, y_next: State, h: float | Tensor
    ) -> State:
        """Return ``y`` with ``step(field, t, y, h) = y_next`` (symmetric tableaux only)."""
        if not self.tableau.is_symmetric:
            raise NotImplementedError(
                f"{self.name} has no exact inverse step: its tableau is not symmetric; use a "
                "symmetric method (gauss2, gauss4) or a fixed-point inverse"
            )
        return self.step(field, t + h, y_next, -h)


@final
class PartitionedRungeKutta(Integrator):
    """Partitioned Runge–Kutta method for ``q' = f(t, q, p)``, ``p' = g(t, q, p)``.

    ``Q_i = q₀ + h Σ_j a_ij f_j``, ``P_i = p₀ + h Σ_j â_ij g_j`` with
    ``(f_j, g_j) = field(t + c_j h, (Q_j, P_j))``, then ``q₁ = q₀ + h Σ b_i f_i``,
    ``p₁ = p₀ + h Σ b̂_i g_i``. Stage times use the nodes ``c`` of the first (``q``) tableau.
    Explicit pairs are evaluated stage by stage; others by fixed-point iteration on the stage
    derivatives (for separable fields and Lobatto IIIA–IIIB it terminates after a few sweeps).
    With the default Lobatto IIIA–IIIB pair it reproduces kick–drift–kick Störmer–Verlet, and
    with ``symplectic_euler_prk`` drift–kick symplectic Euler.

    ``order`` and ``preserves`` are derived from the pair: :class:`Symplectic` when
    ``b_i â_ij + b̂_j a_ji = b_i b̂_j`` and ``b = b̂``; :class:`Reversible` when both parts are
    symmetric. A pair that satisfies only the first condition (e.g. symplectic Euler) is
    symplectic for separable Hamiltonians: :meth:`preserves_for` reports it per field.

    Args:
        tableau: a :class:`PartitionedTableau` (default: Lobatto IIIA–IIIB = Störmer–Verlet).
        max_iter: maximum fixed-point iterations of an implicit solve.
        tol: relative tolerance of the solve (default: 8 ulp of the state dtype).
    """

    requires = frozenset({"partitioned"})

    def __init__(
        self,
        tableau: PartitionedTableau = lobatto_3a_3b,
        *,
        max_iter: int = 100,
        tol: float | None = None,
    ) -> None:
        if not isinstance(tableau, PartitionedTableau):
            raise ConfigError(
                f"PartitionedRungeKutta needs a PartitionedTableau, got {type(tableau).__name__}; "
                "pass e.g. PartitionedTableau(tableau_q, tableau_p)"
            )
        self.max_iter, self.tol = solver_options("PartitionedRungeKutta", max_iter, tol)
        self.tableau = tableau
        self.order = tableau.order
        self.preserves = _derived_preserves(tableau)

    @property
    def name(self) -> str:
        """``PartitionedRungeKutta(<pair name>)``."""
        return f"PartitionedRungeKutta({self.tableau.name})"

    def preserves_for(self, field: VectorField) -> frozenset[Property]:
        """``preserves``, plus :class:`Symplectic` on separable fields for such pairs."""
        if "separable" in field.kinds and self.tableau.is_symplectic_separable:
            return self.preserves | {Symplectic()}
        return self.preserves

    def _stage(
        self, i: int, y: State, fs: list[Tensor], gs: list[Tensor], h: float | Tensor, *, full: bool
    ) -> tuple[Tensor, Tensor]:
        first, second = self.tableau.first, self.tableau.second
        width = len(fs) if full else i
        q = _combine(y[0], first.a[i][:width], fs, h)
        p = _combine(y[1], second.a[i][:width], gs, h)
        return q, p  # type: ignore[return-value]

    def step(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """Advance ``(q, p)`` from ``t`` to ``t + h``."""
        validate_inputs(self, field, y, h)
        return self._advance(field_evaluator(field, checked=True), t, y, h)

    def _step(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """:meth:`step` without validation (inputs validated by the caller)."""
        return self._advance(field_evaluator(field, checked=False), t, y, h)

    def _advance(self, field: Evaluator, t: float | Tensor, y: State, h: float | Tensor) -> State:
        first, second = self.tableau.first, self.tableau.second
        s = self.tableau.stages
        if self.tableau.is_explicit:
            fs: list[Tensor] = []
            gs: list[Tensor] = []
            for i in range(s):
                stage_t = t if first.c[i] == 0.0 else t + first.c[i] * h
                f, g = field(stage_t, self._stage(i, y, fs, gs, h, full=False))
                fs.append(f)
                gs.append(g)
        else:

            def update(flat: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
                fs_, gs_ = list(flat[:s]), list(flat[s:])
                pairs = [
                    field(t + first.c[i] * h, self._stage(i, y, fs_, gs_, h, full=True))
                    for i in range(s)
                ]
                return tuple(f for f, _ in pairs) + tuple(g for _, g in pairs)

            f0, g0 = field(t, y)
            tol = self.tol if self.tol is not None else solver_tolerance(state_dtype(y))
            flat = fixed_point(
                update, (f0,) * s + (g0,) * s, tol=tol, max_iter=self.max_iter, who=self.name, h=h
            )
            fs, gs = list(flat[:s]), list(flat[s:])
        return _combine(y[0], first.b, fs, h), _combine(y[1], second.b, gs, h)

    def has_inverse(self) -> bool:
        """Symmetric pairs invert by ``−h`` started at ``t + h``."""
        return self.tableau.is_symmetric

    def inverse_step(
        self, field: VectorField, t: float | Tensor, y_next: State, h: float | Tensor
    ) -> State:
        """Return ``(q, p)`` with ``step(field, t, (q, p), h) = y_next`` (symmetric pairs only)."""
        if not self.tableau.is_symmetric:
            raise NotImplementedError(
                f"{self.name} has no exact inverse step: its pair is not symmetric"
            )
        return self.step(field, t + h, y_next, -h)
