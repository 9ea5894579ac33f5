"""Runge–Kutta methods driven by a validated :class:`~structdl.dynamics.tableau.ButcherTableau`."""

from __future__ import annotations

from typing import final

import torch
from torch import Tensor

from ..._errors import ConfigError
from ...structure.declarations import AllOf, AnyOf, AttributeEquals, Claim, HasKinds, OfField
from ...structure.properties import Symplectic, VolumePreserving
from .._base import Integrator, State, VectorField
from ..tableau import ButcherTableau, PartitionedTableau, lobatto_3a_3b, rk4
from ..tableau import tableau as lookup_tableau
from ._claims import INVERTIBLE, REVERSIBLE, RUNGE_KUTTA_CLAIMS
from ._common import (
    Evaluator,
    field_evaluator,
    fixed_point,
    solver_options,
    solver_tolerance,
    state_dtype,
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
class RungeKutta(Integrator):
    """Runge–Kutta method ``k_i = f(t + c_i h, y + h Σ_j a_ij k_j)``, ``y₁ = y + h Σ_i b_i k_i``.

    Everything structural is derived from the tableau: ``order`` is the tree order of the
    coefficients, and the Runge–Kutta claims read its properties (symplectic on Hamiltonian
    fields when ``b_i a_ij + b_j a_ji = b_i b_j``, reversible when symmetric, non-expansive on
    gradient flows by circle contractivity or algebraic stability), evaluated by
    :func:`structdl.structure.guarantees`.
    Explicit tableaux are evaluated stage by stage; implicit ones solve the stage equations by
    fixed-point iteration to a few units of round-off, raising :class:`StepSizeError` if the
    iteration does not converge within ``max_iter`` (:class:`~structdl.ConvergenceError`: the step
    is too large for the field's Lipschitz constant).

    Args:
        tableau: a :class:`ButcherTableau` or the name of one (``"rk4"``, ``"gauss4"``, …).
        max_iter: maximum fixed-point iterations of an implicit solve.
        tol: relative tolerance of the implicit solve (default: 8 ulp of the state dtype).

    Example:
        >>> RungeKutta("gauss4").order, RungeKutta("gauss4").is_symmetric
        (4, True)
    """

    claims = RUNGE_KUTTA_CLAIMS

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

    @property
    def name(self) -> str:
        """``RungeKutta(<tableau name>)``."""
        return f"RungeKutta({self.tableau.name})"

    @property
    def is_symmetric(self) -> bool:  # type: ignore[override]
        """Whether the tableau is symmetric (its own adjoint)."""
        return self.tableau.is_symmetric

    def advance(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """One step on validated inputs."""
        f = field_evaluator(field)
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

    def advance_inverse(
        self, field: VectorField, t: float | Tensor, y_next: State, h: float | Tensor
    ) -> State:
        """Return ``y`` with ``step(field, t, y, h) = y_next`` (symmetric tableaux only)."""
        if not self.tableau.is_symmetric:
            return super().advance_inverse(field, t, y_next, h)  # raises
        return self.advance(field, t + h, y_next, -h)


_PAIR_SYMPLECTIC = AnyOf(
    (
        AllOf(
            (
                AttributeEquals("tableau.is_symplectic", True),
                OfField(HasKinds(frozenset({"hamiltonian"}))),
            )
        ),
        AllOf(
            (
                AttributeEquals("tableau.is_symplectic_separable", True),
                OfField(HasKinds(frozenset({"hamiltonian", "separable"}))),
            )
        ),
    )
)
_PAIR_REASON = (
    "b_i â_ij + b̂_j a_ji = b_i b̂_j: symplectic on separable Hamiltonians, and on every "
    "Hamiltonian when also b = b̂ (Sun 1993; Hairer–Lubich–Wanner VI.4)"
)


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

    ``order`` and the claims are derived from the pair: :class:`Symplectic` on Hamiltonian fields
    when ``b_i â_ij + b̂_j a_ji = b_i b̂_j`` and ``b = b̂``, and on separable Hamiltonians when
    only the first condition holds (e.g. symplectic Euler); :class:`Reversible` when both parts
    are symmetric.

    Args:
        tableau: a :class:`PartitionedTableau` (default: Lobatto IIIA–IIIB = Störmer–Verlet).
        max_iter: maximum fixed-point iterations of an implicit solve.
        tol: relative tolerance of the solve (default: 8 ulp of the state dtype).
    """

    accepts = (frozenset({"partitioned"}),)
    claims = (
        Claim(Symplectic(), when=_PAIR_SYMPLECTIC, reason=_PAIR_REASON),
        Claim(VolumePreserving(), when=_PAIR_SYMPLECTIC, reason="symplectic ⇒ det DΦ = 1"),
        REVERSIBLE,
        INVERTIBLE,
    )

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

    @property
    def name(self) -> str:
        """``PartitionedRungeKutta(<pair name>)``."""
        return f"PartitionedRungeKutta({self.tableau.name})"

    @property
    def is_symmetric(self) -> bool:  # type: ignore[override]
        """Whether both tableaux of the pair are symmetric."""
        return self.tableau.is_symmetric

    def _stage(
        self, i: int, y: State, fs: list[Tensor], gs: list[Tensor], h: float | Tensor, *, full: bool
    ) -> tuple[Tensor, Tensor]:
        first, second = self.tableau.first, self.tableau.second
        width = len(fs) if full else i
        q = _combine(y[0], first.a[i][:width], fs, h)
        p = _combine(y[1], second.a[i][:width], gs, h)
        return q, p  # type: ignore[return-value]

    def advance(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """Advance ``(q, p)`` from ``t`` to ``t + h`` on validated inputs."""
        return self._advance_pair(field_evaluator(field), t, y, h)

    def _advance_pair(
        self, field: Evaluator, t: float | Tensor, y: State, h: float | Tensor
    ) -> State:
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

    def advance_inverse(
        self, field: VectorField, t: float | Tensor, y_next: State, h: float | Tensor
    ) -> State:
        """Return ``(q, p)`` with ``step(field, t, (q, p), h) = y_next`` (symmetric pairs only)."""
        if not self.tableau.is_symmetric:
            return super().advance_inverse(field, t, y_next, h)  # raises
        return self.advance(field, t + h, y_next, -h)
