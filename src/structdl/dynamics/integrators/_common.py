"""Shared helpers of the integrators: the field evaluators of the unchecked path, the fixed-point
solver, and the two partial gradients of a Hamiltonian field.

Validation (compatibility, step size, state) happens once, in
:meth:`structdl.dynamics.Integrator.step`; the helpers here run on validated inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..._errors import ConfigError, ConvergenceError
from .._base import State, VectorField

__all__ = [
    "energy_gradient",
    "field_evaluator",
    "fixed_point",
    "hamiltonian_gradients",
    "separable_gradients",
    "solver_options",
    "solver_tolerance",
    "state_diff_max",
    "state_dtype",
]


Evaluator = Callable[[float | Tensor, State], State]
Gradient = Callable[[float | Tensor, Tensor], Tensor]


def field_evaluator(field: VectorField) -> Evaluator:
    """The callable an integrator evaluates ``f(t, y)`` with, on a validated state.

    The field's public unchecked ``evaluate`` (the same values as calling the field, without
    validating the state again); a field that overrides ``forward`` itself is called instead,
    so that its own code runs.
    """
    cls = type(field)
    own = _OWN_FORWARD.get(cls)
    if own is None:
        own = _OWN_FORWARD[cls] = cls.forward is not _forward_beside_evaluate(cls)
    return field if own else field.evaluate


#: Per field class: whether its ``forward`` overrides the one that belongs with its ``evaluate``.
_OWN_FORWARD: dict[type, bool] = {}


def _forward_beside_evaluate(cls: type) -> object:
    """The ``forward`` of the class that defines ``cls``'s ``evaluate`` (where both inherit)."""
    owner = next((c for c in cls.__mro__ if "evaluate" in vars(c)), VectorField)
    return owner.forward if owner is not VectorField else cls.forward


def separable_gradients(field: VectorField) -> tuple[Gradient, Gradient]:
    """``(∂H/∂q, ∂H/∂p)`` as callables ``(t, x) ↦ tensor`` for the explicit symplectic methods.

    A field that exposes the unchecked ``potential_gradient(q)`` / ``kinetic_gradient(p)`` (the
    neural separable fields, whose public ``grad_q``/``grad_p`` validate) is evaluated through
    them; any other field through its ``grad_q``/``grad_p``.
    """
    potential = getattr(field, "potential_gradient", None)
    kinetic = getattr(field, "kinetic_gradient", None)
    if potential is not None and kinetic is not None:
        return (lambda t, q: potential(q)), (lambda t, p: kinetic(p))
    return field.grad_q, field.grad_p


def state_dtype(y: State) -> torch.dtype:
    """The floating dtype of a tensor or partitioned state."""
    return (y[0] if isinstance(y, tuple) else y).dtype


def solver_tolerance(dtype: torch.dtype) -> float:
    """Relative tolerance of the implicit solves: a few units of round-off of ``dtype``."""
    return 8.0 * torch.finfo(dtype).eps


def _parts(y: State) -> tuple[Tensor, ...]:
    return y if isinstance(y, tuple) else (y,)


def state_diff_max(a: State, b: State) -> tuple[float, float]:
    """``(max |a − b|, max |b|)`` over all parts, detached (used only for stopping tests)."""
    diff = max(
        float((x - z).detach().abs().max()) for x, z in zip(_parts(a), _parts(b), strict=True)
    )
    scale = max(float(z.detach().abs().max()) for z in _parts(b))
    return diff, scale


def solver_options(who: str, max_iter: object, tol: object) -> tuple[int, float | None]:
    """Validate the options of an implicit solve; ``tol=None`` means the dtype's default."""
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ConfigError(
            f"{who}: max_iter must be a positive int, got {max_iter!r}; pass e.g. max_iter=100"
        )
    if tol is not None and not (isinstance(tol, (int, float)) and 0.0 < tol < 1.0):
        raise ConfigError(f"{who}: tol must lie in (0, 1), got {tol!r}; pass e.g. tol=1e-12")
    return max_iter, (None if tol is None else float(tol))


def _readable_diff(a: State, b: State) -> tuple[float | None, float]:
    """:func:`state_diff_max`, or ``(None, 0)`` where values cannot be read (vmap, compile)."""
    if torch.compiler.is_compiling():
        return None, 0.0
    try:
        return state_diff_max(a, b)
    except RuntimeError:
        return None, 0.0


def fixed_point(
    update: Callable[[State], State],
    start: State,
    *,
    tol: float,
    max_iter: int,
    who: str,
    h: float | Tensor,
) -> State:
    """Iterate ``x ← update(x)`` until ``max|Δx| ≤ tol · (1 + max|x|)``.

    The iteration is a contraction when ``|h| · Lip(f) · ‖A‖ < 1``; if it is not, the step is too
    large, so non-convergence raises :class:`ConvergenceError` with the last increment. Once the
    increment reaches round-off level (``≤ max(4 tol, 256 ε)``, relative) and stops decreasing,
    the iterate is accepted: further iterations cannot improve it in floating point. (A looser
    stagnation test accepted oscillating iterations — increments 0.004, 0.0037, 0.0044 — far
    from the solution in float32, which broke the symplecticity of Gauss methods.)

    Autograd flows through the iterations, so the derivative of the result converges together with
    the value (the derivative of a contraction iteration is itself a contraction iteration).

    Inside ``torch.func`` transforms (``vmap``) and ``torch.compile`` the increments cannot be
    read: there the iteration runs ``max_iter`` times without a stopping test (a converged
    fixed point stays put, so the result agrees with the stopped solve to round-off).
    """
    x = start
    previous = float("inf")
    diff = float("inf")
    round_off = 256.0 * torch.finfo(state_dtype(start)).eps
    for _ in range(max_iter):
        new = update(x)
        diff, scale = _readable_diff(new, x)
        x = new
        if diff is None:  # values cannot be read: iterate without a stopping test
            continue
        if not diff == diff or diff == float("inf"):
            break
        bar = tol * (1.0 + scale)
        stalled = diff >= previous and diff <= max(4.0 * tol, round_off) * (1.0 + scale)
        if diff <= bar or stalled:
            return x
        previous = diff
    if diff is None:
        return x
    raise ConvergenceError(
        f"{who}: the implicit solve did not converge — expected an increment below {tol:.1e} "
        f"within {max_iter} fixed-point iterations — received a last increment of {diff:.3e} at "
        f"step size h={float(h):.4g} — reduce the step size, or raise max_iter",
        residual=diff,
    )


def hamiltonian_gradients(
    field: VectorField, t: float | Tensor, q: Tensor, p: Tensor
) -> tuple[Tensor, Tensor]:
    """``(∂H/∂q, ∂H/∂p)`` at ``(q, p)``.

    Separable fields give them directly (``grad_q(t, q)``, ``grad_p(t, p)``); other Hamiltonian
    fields are differentiated through ``energy(q, p)`` with autograd (graph kept, so training
    through the step works).
    """
    if "separable" in field.kinds:
        return field.grad_q(t, q), field.grad_p(t, p)
    keep = _keep_graph(field, q, p)
    with torch.enable_grad():
        q_in = q if q.requires_grad else q.detach().requires_grad_(True)
        p_in = p if p.requires_grad else p.detach().requires_grad_(True)
        energy = field.energy(q_in, p_in).sum()
        gq, gp = torch.autograd.grad(energy, (q_in, p_in), create_graph=keep)
    return gq, gp


def energy_gradient(field: VectorField, y: Tensor) -> Tensor:
    """``∇E(y)`` of an "energy" field: its ``grad_energy``, else autograd of ``energy``."""
    grad = getattr(field, "grad_energy", None)
    if grad is not None:
        return grad(y)
    keep = _keep_graph(field, y)
    with torch.enable_grad():
        y_in = y if y.requires_grad else y.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(field.energy(y_in).sum(), (y_in,), create_graph=keep)
    return g


def _keep_graph(field: VectorField, *inputs: Tensor) -> bool:
    """Keep the autograd graph of a gradient only when something upstream needs gradients.

    Otherwise a step taken without gradients would return tensors that require grad.
    """
    if not torch.is_grad_enabled():
        return False
    return any(x.requires_grad for x in inputs) or any(p.requires_grad for p in field.parameters())
