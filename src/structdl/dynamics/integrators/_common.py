"""Shared helpers of the integrators: step-size and state validation, the fixed-point solver,
and access to the two partial gradients of a Hamiltonian field.

Step-size policy (one place, used by every integrator):

* ``h`` must be finite and non-zero (NaN/inf always raise; ``h = 0`` is a no-op that usually
  signals a bug, e.g. a collapsed time grid) — :class:`StepSizeError`;
* a negative ``h`` is accepted: it integrates backwards in time, which is how the symmetric methods
  (Störmer–Verlet, Yoshida, implicit midpoint, Strang with exact sub-flows) are inverted, and how
  reversibility ``Φ_{−h} ∘ Φ_h = id`` is checked. Guarantees that need ``h > 0`` (a dissipative
  step-size bound) are the business of :func:`structdl.structure.guarantees`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn.modules import module as _module

from ..._errors import ConfigError, StepSizeError
from .._base import State, VectorField, check_state
from .._field_base import StructuredField
from .._partitioned import _SeparableField

__all__ = [
    "energy_gradient",
    "field_evaluator",
    "fixed_point",
    "hamiltonian_gradients",
    "separable_gradients",
    "solver_tolerance",
    "state_diff_max",
    "state_dtype",
    "validate_inputs",
    "validate_step",
]


def validate_step(h: float | Tensor, who: str) -> None:
    """Raise :class:`StepSizeError` unless ``h`` is finite and non-zero (negative is allowed)."""
    if isinstance(h, Tensor):
        values = h.detach()
        if not values.is_floating_point():
            values = values.double()
        finite = bool(torch.isfinite(values).all())
        zero = bool((values == 0).any())
    elif isinstance(h, (int, float)) and not isinstance(h, bool):
        finite = h == h and abs(h) != float("inf")
        zero = h == 0
    else:
        raise StepSizeError(
            f"{who}: the step size must be a float or a tensor, got {type(h).__name__}; pass e.g. "
            "h=0.1"
        )
    if not finite:
        raise StepSizeError(
            f"{who}: the step size must be finite, got h={h}; check the time grid or the learned "
            "step sizes for NaN/inf"
        )
    if zero:
        raise StepSizeError(
            f"{who}: the step size must be non-zero, got h={h}; a zero step does nothing — "
            "remove repeated time points from the grid"
        )


def validate_inputs(integrator, field: VectorField, y: State, h: float | Tensor) -> None:  # noqa: ANN001
    """Compatibility first (before any computation), then the step size, then the state."""
    integrator.check_compatible(field)
    validate_step(h, integrator.name)
    check_state(y, f"{integrator.name}: state")


Evaluator = Callable[[float | Tensor, State], State]
Gradient = Callable[[float | Tensor, Tensor], Tensor]

_GLOBAL_HOOKS = (
    "_global_forward_hooks",
    "_global_forward_pre_hooks",
    "_global_backward_hooks",
    "_global_backward_pre_hooks",
)


def _has_hooks(field: VectorField) -> bool:
    """Whether calling ``field`` would run module hooks (its own or global ones)."""
    own = (
        field._forward_hooks
        or field._forward_pre_hooks
        or field._backward_hooks
        or field._backward_pre_hooks
    )
    return bool(own) or any(getattr(_module, name, None) for name in _GLOBAL_HOOKS)


def field_evaluator(field: VectorField, *, checked: bool) -> Evaluator:
    """The callable an integrator evaluates ``f(t, y)`` with.

    ``checked=True`` (the public ``step``): ``field`` itself, so a structured field validates
    every state it is given. ``checked=False`` (``Integrator._step``, inputs validated once by
    the caller): a :class:`StructuredField` is evaluated by its ``_evaluate`` directly, skipping
    the per-call validation and ``nn.Module`` dispatch — unless the field has hooks or overrides
    ``forward``, which must then run (the result is the same either way).
    """
    if (
        checked
        or not isinstance(field, StructuredField)
        or type(field).forward is not StructuredField.forward
        or _has_hooks(field)
    ):
        return field
    return field._evaluate


def separable_gradients(field: VectorField, *, checked: bool) -> tuple[Gradient, Gradient]:
    """``(∂H/∂q, ∂H/∂p)`` as callables ``(t, x) ↦ tensor`` for the explicit symplectic methods.

    Unchecked (see :func:`field_evaluator`) for the neural separable fields, whose public
    ``grad_q``/``grad_p`` validate their argument; any other field's own methods otherwise.
    """
    if (
        not checked
        and isinstance(field, _SeparableField)
        and type(field).grad_q is _SeparableField.grad_q
        and type(field).grad_p is _SeparableField.grad_p
    ):
        potential, kinetic = field._grad_potential, field._grad_kinetic
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
    large, so non-convergence raises :class:`StepSizeError` with the last residual. Once the
    increment reaches round-off level (``≤ 1000 tol``) and stops decreasing, the iterate is
    accepted: further iterations cannot improve it in floating point.

    Autograd flows through the iterations, so the derivative of the result converges together with
    the value (the derivative of a contraction iteration is itself a contraction iteration).
    """
    x = start
    previous = float("inf")
    diff = float("inf")
    for _ in range(max_iter):
        new = update(x)
        diff, scale = state_diff_max(new, x)
        x = new
        if not diff == diff or diff == float("inf"):
            break
        bar = tol * (1.0 + scale)
        if diff <= bar or (diff <= 1e3 * bar and diff >= previous):
            return x
        previous = diff
    raise StepSizeError(
        f"{who}: the implicit solve did not converge in {max_iter} fixed-point iterations "
        f"(last increment {diff:.3e}, tolerance {tol:.1e}) at step size h={float(h):.4g}; "
        "reduce the step size, or raise max_iter"
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
