"""Runge–Kutta methods driven by a validated :class:`~structdl.dynamics.tableau.ButcherTableau`."""

from __future__ import annotations

from typing import final

from torch import Tensor

from ..._errors import ConfigError
from ...structure.properties import Property, Reversible, Symplectic
from .._base import Integrator, State, VectorField, state_add
from ..tableau import ButcherTableau, rk4
from ..tableau import tableau as lookup_tableau
from ._common import fixed_point, solver_tolerance, state_dtype, validate_inputs

__all__ = ["RungeKutta"]


def _combine(y: State, coeffs: tuple[float, ...], ks: list[State], h: float | Tensor) -> State:
    """``y + h Σ_j coeffs_j k_j``, skipping zero coefficients (explicit stages stay cheap)."""
    out = y
    for coeff, k in zip(coeffs, ks, strict=True):
        if coeff != 0.0:
            out = state_add(out, k, h * coeff)
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
        if not isinstance(max_iter, int) or max_iter < 1:
            raise ConfigError(f"RungeKutta: max_iter must be a positive int, got {max_iter!r}")
        if tol is not None and not (0.0 < tol < 1.0):
            raise ConfigError(f"RungeKutta: tol must lie in (0, 1), got {tol!r}")
        self.tableau = tableau
        self.max_iter = max_iter
        self.tol = tol
        self.order = tableau.order
        derived: set[Property] = set()
        if tableau.is_symplectic:
            derived.add(Symplectic())
        if tableau.is_symmetric:
            derived.add(Reversible())
        self.preserves = frozenset(derived)

    @property
    def name(self) -> str:
        """``RungeKutta(<tableau name>)``."""
        return f"RungeKutta({self.tableau.name})"

    def step(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """Advance ``y`` from ``t`` to ``t + h``."""
        validate_inputs(self, field, y, h)
        tab = self.tableau
        if tab.is_explicit:
            ks: list[State] = []
            for i in range(tab.stages):
                ks.append(field(t + tab.c[i] * h, _combine(y, tab.a[i][:i], ks, h)))
        else:
            ks = self._solve_stages(field, t, y, h)
        return _combine(y, tab.b, ks, h)

    def _solve_stages(
        self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor
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
