"""Inverses of ``F(x) = x + g(x)`` with ``Lip(g) < 1``: fixed point, Newton, Anderson.

Every solver returns an :class:`InverseResult` — the solution, the final residual
``max_i ‖x_i + g(x_i) − y_i‖_∞`` and the iteration count — and raises
:class:`~structdl.InverseError` carrying the residual when it does not reach the tolerance.
Solvers run without building an autograd graph; the block attaches the gradient afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .._errors import ConfigError, InverseError

__all__ = [
    "INVERSE_METHODS",
    "InverseResult",
    "batch_jacobian",
    "small_matrices",
    "solve_residual_inverse",
]

INVERSE_METHODS = ("fixed_point", "newton", "anderson")


@dataclass
class InverseResult:
    """The outcome of an iterative inverse.

    Attributes:
        x: the solution, shape of ``y``.
        residual: ``max |x + g(x) − y|`` over the batch at the returned ``x``.
        iterations: iterations performed (evaluations of ``g`` after the first).
        converged: whether ``residual ≤ tol``.
        method: the solver's name.
        history: the residual after every iteration (``history[0]`` is that of the start).
    """

    x: Tensor
    residual: float
    iterations: int
    converged: bool
    method: str
    history: list[float] = field(default_factory=list)


@contextlib.contextmanager
def small_matrices() -> Iterator[None]:
    """Run batched LAPACK calls on many tiny ``d×d`` matrices on one thread.

    torch splits a batch of small factorisations across its threads matrix by matrix; when a
    core is busy (a shared machine) every call then waits for it, measured 500× slower for
    512 3×3 solves on 2 threads than on 1. One thread is never slower for such sizes.
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def batch_jacobian(g: Callable[[Tensor], Tensor], x: Tensor, *, create_graph: bool) -> Tensor:
    """Per-sample Jacobians ``∂g(x_b)/∂x_b``, shape ``(batch, d, d)``, for ``g`` acting row-wise.

    One evaluation of ``g`` on ``d`` stacked copies of the batch and one vector–Jacobian
    product with the basis vectors: rows of ``J`` are ``e_iᵀ J``.
    """
    batch, dim = x.shape
    with torch.enable_grad():
        # Keep the graph to x only when asked (training); otherwise differentiate a copy.
        source = x if create_graph and x.requires_grad else x.detach().requires_grad_(True)
        stacked = source.unsqueeze(0).expand(dim, batch, dim).reshape(dim * batch, dim)
        out = g(stacked)
        basis = torch.eye(dim, dtype=x.dtype, device=x.device)
        seeds = basis.unsqueeze(1).expand(dim, batch, dim).reshape(dim * batch, dim)
        (rows,) = torch.autograd.grad(out, stacked, seeds, create_graph=create_graph)
    # rows[i*batch + b] = e_iᵀ J_b
    return rows.reshape(dim, batch, dim).transpose(0, 1)


def _residual(g: Callable[[Tensor], Tensor], x: Tensor, y: Tensor) -> tuple[Tensor, float]:
    r = x + g(x) - y
    return r, float(r.abs().max()) if r.numel() else 0.0


def _fixed_point(g, y, x, tol, max_iterations, history):  # noqa: ANN001, ANN202
    r, res = _residual(g, x, y)
    history.append(res)
    k = 0
    while res > tol and k < max_iterations and res == res:
        x = x - r  # = y − g(x)
        r, res = _residual(g, x, y)
        history.append(res)
        k += 1
    return x, res, k


def _newton(g, y, x, tol, max_iterations, history):  # noqa: ANN001, ANN202
    r, res = _residual(g, x, y)
    history.append(res)
    k = 0
    eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    while res > tol and k < max_iterations and res == res:
        jac = batch_jacobian(g, x, create_graph=False)
        with small_matrices():
            step = torch.linalg.solve(eye + jac, r.unsqueeze(-1)).squeeze(-1)
        x = x - step
        r, res = _residual(g, x, y)
        history.append(res)
        k += 1
    return x, res, k


def _least_squares(a: Tensor, b: Tensor) -> Tensor:
    """``argmin_γ ‖aγ − b‖`` per sample, minimum norm, singular values below 1e-12·σ_max cut."""
    with small_matrices():
        u, sigma, vh = torch.linalg.svd(a, full_matrices=False)
    cutoff = 1e-12 * sigma.amax(-1, keepdim=True)
    inverse = torch.where(sigma > cutoff, 1.0 / sigma.clamp_min(torch.finfo(a.dtype).tiny), 0.0)
    coefficients = (u.transpose(1, 2) @ b.unsqueeze(-1)).squeeze(-1) * inverse
    return vh.transpose(1, 2) @ coefficients.unsqueeze(-1)


def _anderson(g, y, x, tol, max_iterations, history, memory=5):  # noqa: ANN001, ANN202
    """Anderson acceleration (type II, Walker–Ni) of ``x ← G(x) = y − g(x)``, per sample.

    With ``f_k = G(x_k) − x_k``, ``γ = argmin ‖f_k − ΔF γ‖`` over the last ``memory``
    differences (least squares, rank-deficient columns allowed: a converged sample has
    ``ΔF = 0`` and gets ``γ = 0``) and ``x_{k+1} = G(x_k) − ΔG γ``.
    """
    r, res = _residual(g, x, y)
    history.append(res)
    f = -r  # G(x) − x
    gs: list[Tensor] = []  # past G(x) values
    fs: list[Tensor] = []
    k = 0
    while res > tol and k < max_iterations and res == res:
        gx = x + f
        gs.append(gx)
        fs.append(f)
        if len(fs) > memory + 1:
            gs.pop(0)
            fs.pop(0)
        if len(fs) == 1:
            x = gx
        else:
            d_f = torch.stack([b - a for a, b in zip(fs[:-1], fs[1:], strict=True)], -1)
            d_g = torch.stack([b - a for a, b in zip(gs[:-1], gs[1:], strict=True)], -1)
            # Least squares by SVD with a relative cut-off: columns that became dependent
            # (memory ≥ d, or a converged sample whose differences are 0) get no weight.
            gamma = _least_squares(d_f, f)
            x = gx - (d_g @ gamma).squeeze(-1)
        r = x + g(x) - y
        # Safeguard: a sample whose accelerated step did not reduce its residual takes the plain
        # contraction step G(x) instead (which does, by at least the factor Lip(g)).
        worse = r.abs().amax(-1) > f.abs().amax(-1)
        if bool(worse.any()):
            x = torch.where(worse[:, None], gx, x)
            r = torch.where(worse[:, None], gx + g(gx) - y, r)
        res = float(r.abs().max())
        history.append(res)
        f = -r
        k += 1
    return x, res, k


_SOLVERS = {"fixed_point": _fixed_point, "newton": _newton, "anderson": _anderson}


def solve_residual_inverse(
    g: Callable[[Tensor], Tensor],
    y: Tensor,
    *,
    method: str = "anderson",
    tol: float = 1e-6,
    max_iterations: int = 200,
    raise_on_failure: bool = True,
) -> InverseResult:
    """Solve ``x + g(x) = y`` for ``x`` (rows independent), starting at ``x₀ = y``.

    The solve stops when ``max|x + g(x) − y| ≤ max(tol, 4·eps·(1 + max|y|))``: below the
    second term the residual is rounding, so a tighter ``tol`` is met at that floor.

    ``fixed_point``: ``x ← y − g(x)``, linear convergence at rate ``Lip(g)``.
    ``newton``: ``x ← x − (I + J_g(x))⁻¹(x + g(x) − y)``, quadratic; one ``d×d`` Jacobian per
    iteration, so for small ``d``. ``anderson``: Anderson acceleration of the fixed-point map
    with memory 5 (least squares over the last differences, safeguarded by the plain step
    where it does not reduce a sample's residual), no Jacobian.

    Raises:
        ConfigError: an unknown method or a bad tolerance / iteration limit.
        InverseError: the residual did not reach ``tol`` (``.residual`` holds it).
    """
    if method not in _SOLVERS:
        raise ConfigError(
            f"unknown inverse method {method!r} — expected one of {list(INVERSE_METHODS)} — "
            f"pass e.g. method='anderson'"
        )
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ConfigError(f"inverse tol must be a positive number — received {tol!r}")
    if (
        isinstance(max_iterations, bool)
        or not isinstance(max_iterations, int)
        or max_iterations < 0
    ):
        raise ConfigError(
            f"max_iterations must be a non-negative int — received {max_iterations!r}"
        )
    history: list[float] = []
    with torch.no_grad():
        y = y.detach()
        flat = y.reshape(y.shape[0], -1)

        def g_flat(v: Tensor) -> Tensor:
            return g(v.reshape(-1, *y.shape[1:])).reshape(v.shape[0], -1)

        # The residual cannot be computed below the rounding of x + g(x) − y: a tolerance
        # under that floor is met at the floor (instead of iterating to the limit and failing).
        eps = torch.finfo(y.dtype).eps
        floor = 4.0 * eps * (1.0 + float(flat.abs().max())) if flat.numel() else 0.0
        tol = max(tol, floor)
        x, res, k = _SOLVERS[method](g_flat, flat, flat.clone(), tol, max_iterations, history)
    result = InverseResult(x.reshape(y.shape), res, k, res <= tol, method, history)
    if raise_on_failure and not result.converged:
        raise InverseError(
            f"i-ResNet inverse ({method}) did not converge — expected a residual ≤ {tol:.1e} — "
            f"reached {res:.3e} after {k} iterations — raise max_iterations, use "
            f"method='newton' or 'anderson', or lower the Lipschitz coefficient",
            residual=res,
        )
    return result
