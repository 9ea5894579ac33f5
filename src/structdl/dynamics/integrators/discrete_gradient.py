"""Discrete-gradient methods: exact energy conservation or dissipation (McLachlan–Quispel–Robidoux).

For ``y' = S ∇E(y)`` the step is ``y₁ = y₀ + h S ∇̄E(y₀, y₁)``, where the *discrete gradient*
``∇̄E`` satisfies ``E(y₁) − E(y₀) = ∇̄E(y₀, y₁)ᵀ (y₁ − y₀)``. Hence::

    E(y₁) − E(y₀) = h ∇̄Eᵀ S ∇̄E   = 0   if S is skew-symmetric,
                                  ≤ 0   if S + Sᵀ is negative semidefinite,

for every step size ``h > 0``, up to the residual of the implicit solve. Two discrete gradients:

* :class:`AVF` — average vector field ``∇̄E = ∫₀¹ ∇E((1−ξ) y₀ + ξ y₁) dξ`` by Gauss–Legendre
  quadrature (exact for polynomial ``E`` of degree ≤ 2·``nodes``); order 2, symmetric;
* :class:`ItohAbe` — coordinate increments ``∇̄_i = [E(w_i) − E(w_{i−1})] / (y₁ᵢ − y₀ᵢ)`` with
  ``w_i = (y₁₁, …, y₁ᵢ, y₀ᵢ₊₁, …)``; derivative-free (energy values only); order 1.

Fields: kind ``"energy"`` (tensor state, ``energy(y)``, ``structure_matrix`` ``S`` of shape
``(d, d)``, optional ``grad_energy(y)``), or a partitioned Hamiltonian field (``S = J``, state
``(q, p)``, ``energy(q, p)``).
"""

from __future__ import annotations

import math
from typing import ClassVar, final

import numpy as np
import torch
from torch import Tensor

from ..._errors import ConfigError
from ...structure._validate import require_int
from ...structure.declarations import (
    ALWAYS,
    AllOf,
    AnyOf,
    AttributeEquals,
    Claim,
    Condition,
    FieldAtMost,
    OfField,
    StepPositive,
)
from ...structure.properties import Dissipative, EnergyConserving
from .._base import Integrator, State, VectorField
from ._common import (
    energy_gradient,
    fixed_point,
    hamiltonian_gradients,
    solver_options,
    solver_tolerance,
    state_dtype,
)

__all__ = ["AVF", "ItohAbe"]

_ENERGY = frozenset({"energy"})
_HAMILTONIAN = frozenset({"hamiltonian", "partitioned"})


_SKEW = OfField(AttributeEquals("energy_structure", "skew"))
_DISSIPATIVE = OfField(AttributeEquals("energy_structure", "dissipative"))


def _energy_claims(exact: Condition) -> tuple[Claim, ...]:
    """``E(y₁) − E(y₀) = h ∇̄EᵀS∇̄E``: zero for skew ``S``, ``≤ 0`` for ``S + Sᵀ ⪯ 0`` and
    ``h > 0`` — when ``exact`` says the discrete gradient is exact for this field."""
    return (
        Claim(
            EnergyConserving(),
            when=AllOf((_SKEW, exact)),
            reason="E(y₁) − E(y₀) = h ∇̄EᵀS∇̄E = 0 for skew S (McLachlan–Quispel–Robidoux 1999)",
        ),
        Claim(
            Dissipative(),
            when=AllOf((AnyOf((_SKEW, AllOf((_DISSIPATIVE, StepPositive())))), exact)),
            reason="E(y₁) − E(y₀) = h ∇̄EᵀS∇̄E ≤ 0 for S + Sᵀ ⪯ 0 and h > 0",
        ),
    )


def _any(mask: Tensor) -> bool:
    """``mask.any()``, or ``True`` where values cannot be read (vmap, compile): the caller then
    takes the branch that is correct either way."""
    if torch.compiler.is_compiling():
        return True
    try:
        return bool(mask.any())
    except RuntimeError:
        return True


def _format_bytes(count: int) -> str:
    """``count`` bytes in the largest binary unit that keeps the number ≥ 1 (e.g. 7.28 TiB)."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024.0 or unit == "TiB":
            return f"{value:.2f} {unit}"
        value /= 1024.0
    return f"{value:.2f} TiB"


class _DiscreteGradient(Integrator):
    """Shared machinery: field adaptation (energy or Hamiltonian) and the implicit solve."""

    #: Either alternative suffices: an "energy" field, or a partitioned Hamiltonian field (S = J).
    accepts: ClassVar[tuple[frozenset[str], ...]] = (_ENERGY, _HAMILTONIAN)

    def __init__(self, max_iter: int, tol: float | None) -> None:
        self.max_iter, self.tol = solver_options(self.name, max_iter, tol)

    @property
    def is_implicit(self) -> bool:
        """Discrete-gradient steps solve ``y₁ = y₀ + hS∇̄E(y₀, y₁)``."""
        return True

    # -- the state as one flat vector z, with the energy, its gradient and S on it ----------

    @staticmethod
    def _pack(y: State) -> Tensor:
        return torch.cat(y, dim=-1) if isinstance(y, tuple) else y

    @staticmethod
    def _unpack(z: Tensor, like: State) -> State:
        if isinstance(like, tuple):
            d = like[0].shape[-1]
            return z[..., :d], z[..., d:]
        return z

    @staticmethod
    def _energy(field: VectorField, z: Tensor, like: State) -> Tensor:
        if isinstance(like, tuple):
            d = like[0].shape[-1]
            return field.energy(z[..., :d], z[..., d:])
        return field.energy(z)

    @staticmethod
    def _apply_s(field: VectorField, g: Tensor, like: State) -> Tensor:
        """``S g`` for row vectors ``g`` of shape ``(batch, n)``."""
        if isinstance(like, tuple):
            d = like[0].shape[-1]
            return torch.cat((g[..., d:], -g[..., :d]), dim=-1)  # J = [[0, I], [−I, 0]]
        s = torch.as_tensor(field.structure_matrix, dtype=g.dtype, device=g.device)
        return g @ s.T

    def _discrete_gradient(
        self, field: VectorField, t: float | Tensor, z0: Tensor, z1: Tensor, like: State
    ) -> Tensor:
        raise NotImplementedError

    def advance(self, field: VectorField, t: float | Tensor, y: State, h: float | Tensor) -> State:
        """One discrete-gradient step ``y₁ = y₀ + h S ∇̄E(y₀, y₁)`` on validated inputs."""
        z0 = self._pack(y)

        def update(z1: Tensor) -> Tensor:
            g = self._discrete_gradient(field, t, z0, z1, y)
            return z0 + h * self._apply_s(field, g, y)

        tol = self.tol if self.tol is not None else self._default_tol(state_dtype(y))
        # Explicit Euler predictor: a better start than z0 saves an iteration or two.
        start = update(z0)
        z1 = fixed_point(update, start, tol=tol, max_iter=self.max_iter, who=self.name, h=h)
        return self._unpack(z1, y)

    def _default_tol(self, dtype: torch.dtype) -> float:
        return solver_tolerance(dtype)


@final
class AVF(_DiscreteGradient):
    """Average-vector-field method ``y₁ = y₀ + h S ∫₀¹ ∇E((1−ξ)y₀ + ξy₁) dξ``.

    The integral is computed with ``nodes``-point Gauss–Legendre quadrature (exact when ``∇E`` is a
    polynomial of degree ≤ ``2·nodes − 1``; otherwise the quadrature error is
    ``O(‖y₁ − y₀‖^{2·nodes})``), and the implicit equation by fixed-point iteration. Order 2,
    symmetric. When the quadrature is exact — the field declares ``energy_gradient_degree`` at
    most ``exact_degree = 2·nodes − 1`` — energy is conserved for skew ``S`` (Hamiltonian
    fields: ``S = J``) and non-increasing for negative-semidefinite ``S``, for every ``h > 0``
    (up to the solve's residual). For any other energy (a pendulum's ``cos q``, a network's
    ``tanh``) the drift is the quadrature error, and nothing is claimed.

    Args:
        nodes: number of Gauss–Legendre nodes, 1 to 64 (more are never needed: 64 nodes are
            exact for polynomial gradients of degree 127).
        max_iter: maximum fixed-point iterations (non-convergence raises ``ConvergenceError``).
        tol: relative tolerance of the solve (default: 8 ulp of the state dtype).
    """

    order: ClassVar[int] = 2
    is_symmetric: ClassVar[bool] = True
    claims = _energy_claims(FieldAtMost("energy_gradient_degree", "exact_degree"))
    #: Most quadrature nodes: the batched quadrature holds ``nodes × batch`` states at once.
    MAX_NODES: ClassVar[int] = 64

    def __init__(self, nodes: int = 3, *, max_iter: int = 100, tol: float | None = None) -> None:
        super().__init__(max_iter, tol)
        require_int(nodes, "nodes")
        if nodes > self.MAX_NODES:
            needed = _format_bytes(8 * nodes * nodes)
            raise ConfigError(
                f"AVF: too many quadrature nodes — expected at most {self.MAX_NODES} (exact for "
                f"polynomial gradients of degree {2 * self.MAX_NODES - 1}) — received nodes="
                f"{nodes}, whose Gauss–Legendre rule needs a {nodes}×{nodes} eigenproblem "
                f"({needed} in float64) and {nodes} gradient evaluations per state — pass e.g. "
                f"nodes=3"
            )
        x, w = np.polynomial.legendre.leggauss(nodes)
        self.nodes = nodes
        #: The largest polynomial degree of ``∇E`` the quadrature integrates exactly.
        self.exact_degree = 2 * nodes - 1
        self._xi = tuple(float(v) for v in 0.5 * (x + 1.0))  # map [-1, 1] → [0, 1]
        self._w = tuple(float(v) for v in 0.5 * w)

    def _discrete_gradient(
        self, field: VectorField, t: float | Tensor, z0: Tensor, z1: Tensor, like: State
    ) -> Tensor:
        m, batch = len(self._xi), z0.shape[0]
        xi = torch.tensor(self._xi, dtype=z0.dtype, device=z0.device)
        w = torch.tensor(self._w, dtype=z0.dtype, device=z0.device)
        shape = (m,) + (1,) * z0.dim()
        # All quadrature points in one batched call: (m · batch, n).
        points = (z0 + xi.view(shape) * (z1 - z0)).reshape(m * batch, *z0.shape[1:])
        if isinstance(like, tuple):
            d = like[0].shape[-1]
            gq, gp = hamiltonian_gradients(field, t, points[..., :d], points[..., d:])
            grads = torch.cat((gq, gp), dim=-1)
        else:
            grads = energy_gradient(field, points)
        return (w.view(shape) * grads.reshape(m, *z0.shape)).sum(dim=0)


@final
class ItohAbe(_DiscreteGradient):
    """Itoh–Abe (coordinate-increment) discrete-gradient method ``y₁ = y₀ + h S ∇̄E(y₀, y₁)``.

    ``∇̄_i = [E(w_i) − E(w_{i−1})] / (y₁ᵢ − y₀ᵢ)`` with ``w_i`` equal to ``y₁`` in coordinates
    ``1..i`` and to ``y₀`` after; the sum telescopes, so ``E(y₁) − E(y₀) = ∇̄ᵀ(y₁ − y₀)`` exactly.
    Only energy *values* are used (derivative-free): when an increment is below ``δ`` (round-off
    would swamp the quotient) the coordinate's quotient is replaced by a central difference of
    width ``δ`` around the midpoint, whose contribution to the energy balance is ``O(δ³)``.
    The energy differences are taken coordinate by coordinate (all ``n + 1`` intermediate points in
    one batched energy call); the implicit equation couples the coordinates through ``S``, so it
    is solved for the whole vector by fixed-point iteration (a sequential scalar solve is only
    possible for triangular ``S``). Order 1; energy conserved for skew ``S``, non-increasing for
    negative-semidefinite ``S``, up to the solve residual. The quotients make the solve noisier
    than AVF's, so its default tolerance is ``1e-11`` in float64 (8 ulp in float32, where a
    solve at a very large step raises :class:`~structdl.ConvergenceError` rather than return a
    state whose energy error exceeds round-off).

    Args:
        max_iter: maximum fixed-point iterations (non-convergence raises ``ConvergenceError``).
        tol: relative tolerance of the solve.
    """

    order: ClassVar[int] = 1
    claims = _energy_claims(ALWAYS)

    def __init__(self, *, max_iter: int = 200, tol: float | None = None) -> None:
        super().__init__(max_iter, tol)

    def _default_tol(self, dtype: torch.dtype) -> float:
        # float64: the quotients' round-off (ε·|E|/δ with δ = ε^(1/3)) sits near 1e-11; float32:
        # a few ulp, so that a solve whose quotient noise exceeds round-off (a very large step)
        # raises ConvergenceError instead of returning a state that breaks the energy balance.
        return 1e-11 if dtype == torch.float64 else solver_tolerance(dtype)

    def _discrete_gradient(
        self, field: VectorField, t: float | Tensor, z0: Tensor, z1: Tensor, like: State
    ) -> Tensor:
        n = z0.shape[-1]
        delta = math.pow(torch.finfo(z0.dtype).eps, 1.0 / 3.0) * (1.0 + z0.detach().abs())
        # w_0 = z0, w_i = z1 in the first i coordinates: all n + 1 points in one batched call.
        mask = torch.tril(torch.ones(n + 1, n, dtype=torch.bool, device=z0.device), diagonal=-1)
        points = torch.where(mask.unsqueeze(1), z1.unsqueeze(0), z0.unsqueeze(0))  # (n+1, B, n)
        energies = self._energy(field, points.reshape(-1, n), like).reshape(n + 1, -1)
        incr = z1 - z0
        small = incr.detach().abs() < delta
        safe_incr = torch.where(small, torch.ones_like(incr), incr)
        quotient = (energies[1:] - energies[:-1]).T / safe_incr
        if _any(small):
            # Central difference at the coordinate's midpoint, other coordinates as in w_{i-1}.
            eye = torch.eye(n, dtype=z0.dtype, device=z0.device)
            mid = points[:-1] + 0.5 * eye.unsqueeze(1) * incr.unsqueeze(0)  # (n, B, n)
            step = eye.unsqueeze(1) * delta.unsqueeze(0)
            e_plus = self._energy(field, (mid + step).reshape(-1, n), like).reshape(n, -1)
            e_minus = self._energy(field, (mid - step).reshape(-1, n), like).reshape(n, -1)
            central = (e_plus - e_minus).T / (2.0 * delta)
            quotient = torch.where(small, central, quotient)
        return quotient
