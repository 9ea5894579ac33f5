"""One Runge–Kutta step forward (its stages) and one adjoint step backward (its costates).

States are handled as tuples of parts (one part for a tensor state, two for ``(q, p)``) so the
same code runs plain and partitioned methods. The backward step is the adjoint partitioned
Runge–Kutta method written with the stage costates ``P_i``::

    P_i^p = λ₁^p + Σ_j (a^p_ji / b^p_i) · v_j^p,      v_j = D_Y f(Y_j)ᵀ μ_j,   μ_j^p = h b^p_j P_j^p
    λ₀^p  = λ₁^p + Σ_j v_j^p

(substituting ``v_j`` gives ``P_i = λ₁ + h Σ_j (b_j a_ji / b_i) J_jᵀ P_j``, i.e. the coefficients
``ā_ij = b_j − b_j a_ji / b_i`` read from ``λ₀``). ``v_j`` is a vector–Jacobian product of the
field at ONE stage; nothing differentiates through the network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .._errors import StepSizeError
from ..dynamics import VectorField
from ..dynamics.tableau import ButcherTableau

Parts = tuple[Tensor, ...]

#: Fixed-point iterations of implicit stage (and costate) equations.
MAX_ITER = 200


def as_parts(y: Tensor | tuple[Tensor, ...]) -> Parts:
    """A state as a tuple of parts."""
    return tuple(y) if isinstance(y, tuple) else (y,)


def from_parts(parts: Sequence[Tensor], *, partitioned: bool) -> Tensor | tuple[Tensor, ...]:
    """Back to the field's state layout."""
    return tuple(parts) if partitioned else parts[0]


def _eval(field: VectorField, t: float | Tensor, y: Parts, *, partitioned: bool) -> Parts:
    return as_parts(field(t, from_parts(y, partitioned=partitioned)))


def _combine(
    y: Parts, row: Sequence[Sequence[float]], ks: Sequence[Parts], h: float | Tensor
) -> Parts:
    """``y^p + h Σ_j row^p_j K_j^p`` for each part ``p`` (row per part)."""
    out = []
    for p, base in enumerate(y):
        acc = base
        for j, k in enumerate(ks):
            coeff = row[p][j]
            if coeff != 0.0:
                acc = acc + (h * coeff) * k[p]
        out.append(acc)
    return tuple(out)


def _gap(new: Sequence[Parts], old: Sequence[Parts]) -> float:
    worst = 0.0
    for a, b in zip(new, old, strict=True):
        for x, y in zip(a, b, strict=True):
            scale = 1.0 + float(x.detach().abs().max()) if x.numel() else 1.0
            worst = max(worst, float((x - y).detach().abs().max()) / scale if x.numel() else 0.0)
    return worst


def _tol(dtype: torch.dtype) -> float:
    return 4.0 * torch.finfo(dtype).eps


@dataclass
class StepRecord:
    """The stages of one forward step: what its adjoint step needs."""

    t: float | Tensor
    h: float | Tensor
    y: Parts
    stages: list[Parts]  # Y_i
    slopes: list[Parts]  # K_i = f(t + c_i h, Y_i)


def forward_step(
    field: VectorField,
    tabs: Sequence[ButcherTableau],
    t: float | Tensor,
    y: Parts,
    h: float | Tensor,
    *,
    partitioned: bool,
    name: str = "step",
) -> tuple[Parts, StepRecord]:
    """One Runge–Kutta step; returns ``y₁`` and the stage record.

    Explicit methods are evaluated stage by stage; implicit ones by fixed-point iteration on the
    slopes to a few ulp (raising :class:`StepSizeError` if it does not converge).
    """
    s = tabs[0].stages
    nodes = tabs[0].c
    explicit = all(tab.is_explicit for tab in tabs)
    rows = [[tab.a[i] for tab in tabs] for i in range(s)]
    if explicit:
        stages: list[Parts] = []
        slopes: list[Parts] = []
        for i in range(s):
            stage = _combine(y, [r[:i] for r in rows[i]], slopes, h)
            stages.append(stage)
            slopes.append(_eval(field, t + nodes[i] * h, stage, partitioned=partitioned))
    else:
        k0 = _eval(field, t, y, partitioned=partitioned)
        slopes = [k0] * s
        tol = _tol(y[0].dtype)
        for _ in range(MAX_ITER):
            stages = [_combine(y, rows[i], slopes, h) for i in range(s)]
            new = [
                _eval(field, t + nodes[i] * h, stages[i], partitioned=partitioned) for i in range(s)
            ]
            gap = _gap(new, slopes)
            slopes = new
            if gap <= tol:
                break
        else:
            raise StepSizeError(
                f"{name}: the implicit stage equations did not converge in {MAX_ITER} "
                f"fixed-point iterations (last change {gap:.2e}) — expected |h|·Lip(f) small "
                f"enough for a contraction — received h={float(h):.4g}; use smaller steps"
            )
        stages = [_combine(y, rows[i], slopes, h) for i in range(s)]
    weights = [[tab.b for tab in tabs]]
    y1 = _combine(y, weights[0], slopes, h)
    return y1, StepRecord(t, h, y, stages, slopes)


@dataclass
class AdjointStep:
    """The result of one adjoint step: ``λ₀``, the stage costates and the local gradients."""

    costate: Parts
    stage_costates: list[Parts]
    parameter_grads: tuple[Tensor | None, ...]
    step_grad: Tensor
    time_grad: Tensor


def adjoint_step(
    field: VectorField,
    tabs: Sequence[ButcherTableau],
    record: StepRecord,
    lam: Parts,
    params: Sequence[Tensor],
    *,
    partitioned: bool,
    coefficients: Sequence[Sequence[Sequence[float]]] | None = None,
    create_graph: bool = False,
    name: str = "adjoint step",
) -> AdjointStep:
    """The adjoint partitioned Runge–Kutta step from ``λ₁ = lam`` back to ``λ₀``.

    Args:
        coefficients: per part, the matrix ``W_ij`` in ``P_i = λ₁ + Σ_j W_ij v_j``; default the
            adjoint ``W_ij = a_ji / b_i``. Any other choice is NOT the adjoint (negative control).
        create_graph: keep the result differentiable with respect to the record and ``lam``.

    Returns:
        ``λ₀``, the stage costates ``P_i``, ``∂L/∂θ`` of this step (aligned with ``params``),
        ``∂L/∂h`` with the stage times held fixed, and ``∂L/∂t`` of the step's start time.
    """
    s = tabs[0].stages
    nodes = tabs[0].c
    h = record.h
    dtype = lam[0].dtype
    if coefficients is None:
        coefficients = [
            [[tab.a[j][i] / tab.b[i] for j in range(s)] for i in range(s)] for tab in tabs
        ]
    weights = [tab.b for tab in tabs]
    # One small graph per stage: f(t_j, Y_j) with Y_j (and t_j) as leaves.
    graphs = []
    with torch.enable_grad():
        for j in range(s):
            if create_graph:
                # A fresh alias per stage: a stage that is an ancestor of another stage (Y_1 = y
                # feeds Y_2) must not collect the other stage's path in its own derivative.
                leaves = tuple(
                    part.view_as(part) if part.requires_grad else part.detach().requires_grad_(True)
                    for part in record.stages[j]
                )
            else:
                leaves = tuple(part.detach().requires_grad_(True) for part in record.stages[j])
            t_j = record.t + nodes[j] * h
            t_leaf = (
                torch.as_tensor(float(t_j) if not create_graph else t_j, dtype=dtype)
                .detach()
                .requires_grad_(True)
            )
            out = _eval(field, t_leaf, leaves, partitioned=partitioned)
            graphs.append((leaves, t_leaf, out))

    def vjp(j: int, stage_costate: Parts, *, with_params: bool) -> tuple:
        leaves, t_leaf, out = graphs[j]
        mu = tuple((h * weights[p][j]) * stage_costate[p] for p in range(len(out)))
        inputs = (*leaves, t_leaf, *params) if with_params else leaves
        grads = torch.autograd.grad(
            out,
            inputs,
            grad_outputs=mu,
            retain_graph=True,
            allow_unused=True,
            create_graph=create_graph,
        )
        return tuple(
            g if g is not None else torch.zeros_like(x) for g, x in zip(grads, inputs, strict=True)
        )

    upper = all(
        coefficients[p][i][j] == 0.0
        for p in range(len(tabs))
        for i in range(s)
        for j in range(i + 1)
    )
    stage_costates: list[Parts] = [tuple(lam)] * s
    vs: list[Parts] = [tuple(torch.zeros_like(x) for x in lam)] * s
    if upper:
        # Explicit adjoint: P_i needs only v_j for j > i, so one reverse sweep is exact.
        for i in reversed(range(s)):
            stage_costates[i] = _combine_v(lam, coefficients, i, vs)
            vs[i] = vjp(i, stage_costates[i], with_params=False)[: len(lam)]
    else:
        tol = _tol(dtype)
        vs = [vjp(i, stage_costates[i], with_params=False)[: len(lam)] for i in range(s)]
        for _ in range(MAX_ITER):
            new = [_combine_v(lam, coefficients, i, vs) for i in range(s)]
            gap = _gap(new, stage_costates)
            stage_costates = new
            vs = [vjp(i, stage_costates[i], with_params=False)[: len(lam)] for i in range(s)]
            if gap <= tol:
                break
        else:
            raise StepSizeError(
                f"{name}: the implicit costate equations did not converge in {MAX_ITER} "
                f"iterations (last change {gap:.2e}); use smaller steps"
            )
    # Final pass with the converged stage costates: v_j, parameter and time cotangents.
    parts = len(lam)
    costate = list(lam)
    param_grads: list[Tensor | None] = [None] * len(params)
    step_grad = torch.zeros((), dtype=dtype)
    time_grad = torch.zeros((), dtype=dtype)
    full = [vjp(j, stage_costates[j], with_params=True) for j in range(s)]
    for j in range(s):
        v, g_t, g_theta = full[j][:parts], full[j][parts], full[j][parts + 1 :]
        for p in range(parts):
            costate[p] = costate[p] + v[p]
        for n, g in enumerate(g_theta):
            param_grads[n] = g if param_grads[n] is None else param_grads[n] + g
        time_grad = time_grad + g_t
        # h enters the stage time t + c_j h and the stage Y_j = y + h Σ_i a_ji K_i.
        step_grad = step_grad + nodes[j] * g_t
        for p in range(parts):
            incr = sum(
                (tabs[p].a[j][i] * record.slopes[i][p] for i in range(s) if tabs[p].a[j][i] != 0.0),
                torch.zeros_like(lam[p]),
            )
            step_grad = step_grad + (v[p] * incr).sum()
    # ... and the update y₁ = y + h Σ_i b_i K_i.
    for p in range(parts):
        incr = sum(
            (weights[p][i] * record.slopes[i][p] for i in range(s)), torch.zeros_like(lam[p])
        )
        step_grad = step_grad + (lam[p] * incr).sum()
    return AdjointStep(tuple(costate), stage_costates, tuple(param_grads), step_grad, time_grad)


def _combine_v(lam: Parts, coefficients, i: int, vs: list[Parts]) -> Parts:  # noqa: ANN001
    out = []
    for p, base in enumerate(lam):
        acc = base
        for j, v in enumerate(vs):
            w = coefficients[p][i][j]
            if w != 0.0:
                acc = acc + w * v[p]
        out.append(acc)
    return tuple(out)


def finite(x: float) -> bool:
    """Whether ``x`` is a finite float."""
    return math.isfinite(x)
