"""Properties along trajectories: energy conservation or dissipation, and order of accuracy."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from .._errors import ConfigError, ShapeError
from ._common import dtype_name, positive_number, state_dtype, verdict
from ._validate import (
    State,
    as_state,
    batch_size,
    require_callable,
    resolve_tolerance,
)
from .result import CheckResult, tolerance

__all__ = ["ENERGY_MODES", "check_energy", "check_order"]

ENERGY_MODES = ("conserved", "non_increasing")


def _energies(energy: Callable[[Any], Tensor], states: list[State], check: str) -> Tensor:
    """Stack ``energy(state_k)`` into a float64 tensor of shape (steps, batch)."""
    rows = []
    for k, state in enumerate(states):
        e = energy(state)
        n = batch_size(state)
        if not isinstance(e, Tensor) or e.numel() not in (1, n):
            got = tuple(e.shape) if isinstance(e, Tensor) else type(e).__name__
            raise ShapeError(
                f"{check}: `energy` returned the wrong shape at step {k} — expected ({n},) or a "
                f"scalar — received {got} — return one energy per batch element"
            )
        rows.append(e.detach().reshape(-1).to(torch.float64).expand(n))
    return torch.stack(rows)


def check_energy(
    energy: Callable[[Any], Tensor],
    trajectory: Sequence[State] | Tensor,
    *,
    mode: str = "conserved",
    atol: float | None = None,
    rtol: float | None = None,
) -> CheckResult:
    """Check that an energy is conserved, or non-increasing, along a trajectory.

    With ``E_k = energy(trajectory[k])`` per batch element, the defect is

    - ``mode="conserved"``: ``max_k |E_k − E_0| / max(|E_0|, 1)`` (energy-conserving methods:
      discrete gradients with a skew structure matrix, exact flows);
    - ``mode="non_increasing"``: ``max_k (E_{k+1} − E_k)⁺ / max(|E_k|, 1)`` (dissipative
      methods: discrete gradients with a negative semi-definite matrix, gradient flows).

    The normalisation by ``max(|E|, 1)`` makes the defect absolute for small energies and
    relative for large ones. A non-finite energy is a failed check (the trajectory blew up).

    Args:
        energy: ``energy(state) -> (batch,)``.
        trajectory: the states ``[y_0, y_1, …]`` (at least two), or a tensor
            ``(steps, batch, …)``.
        mode: ``"conserved"`` or ``"non_increasing"``.
        atol: bound on the defect (give ``atol`` or ``rtol``, not both).
        rtol: the same bound, for callers who think of it as relative drift.
            Default for both: ``tolerance(dtype).exact``.

    Raises:
        ShapeError: a trajectory of fewer than two finite states, or a badly shaped energy.
        ConfigError: an unknown ``mode``, a non-callable ``energy``, or both ``atol`` and
            ``rtol`` given.
    """
    check = "check_energy"
    if mode not in ENERGY_MODES:
        raise ConfigError(
            f"{check}: unknown mode {mode!r} — expected one of {list(ENERGY_MODES)} — received "
            f"{mode!r} — use mode='conserved' for conservative methods or "
            f"mode='non_increasing' for dissipative ones"
        )
    require_callable(energy, "energy", check)
    if atol is not None and rtol is not None:
        raise ConfigError(
            f"{check}: both `atol` and `rtol` were given — expected one bound on the normalised "
            f"defect — received atol={atol}, rtol={rtol} — pass only one"
        )
    steps = list(trajectory) if isinstance(trajectory, (list, tuple, Tensor)) else None
    if steps is None or len(steps) < 2:
        got = "a non-sequence" if steps is None else f"{len(steps)} state(s)"
        raise ShapeError(
            f"{check}: `trajectory` is too short — expected a list of at least two states — "
            f"received {got} — pass [y_0, y_1, …], e.g. from ODENet.trajectory(x)"
        )
    states = [as_state(s, f"trajectory[{k}]", check) for k, s in enumerate(steps)]
    dtype = state_dtype(states[0])
    default = tolerance(dtype).exact
    bar = resolve_tolerance(rtol if rtol is not None else atol, default, "atol/rtol", check)
    e = _energies(energy, states, check)
    if not bool(torch.isfinite(e).all()):
        k = int((~torch.isfinite(e)).any(dim=1).nonzero()[0])
        return CheckResult(
            False,
            math.inf,
            f"energy {mode.replace('_', '-')} VIOLATED: energy is non-finite "
            f"at step {k} of {len(states)}",
        )
    if mode == "conserved":
        defect = (e - e[0]).abs() / e[0].abs().clamp_min(1.0)
        measure = "max_k |E_k − E_0| / max(|E_0|, 1)"
        claim = "energy conservation"
    else:
        defect = (e[1:] - e[:-1]).clamp_min(0.0) / e[:-1].abs().clamp_min(1.0)
        measure = "max_k (E_(k+1) − E_k)⁺ / max(|E_k|, 1)"
        claim = "energy dissipation (non-increasing)"
    worst = float(defect.max())
    k, b = divmod(int(defect.argmax()), defect.shape[1])
    return verdict(
        worst,
        bar,
        claim,
        f"{measure} over {len(states)} states (worst at step {k}, element {b})",
        f"{bar:.3g} ({dtype_name(dtype)})",
    )


def _positive_vector(values: Any, name: str, check: str) -> Tensor:
    try:
        vec = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ShapeError(
            f"{check}: `{name}` is not a sequence of numbers — expected positive floats — "
            f"received {type(values).__name__} — pass a list or a 1-D tensor"
        ) from err
    if vec.numel() < 2 or not bool((torch.isfinite(vec) & (vec > 0)).all()):
        raise ShapeError(
            f"{check}: `{name}` is invalid — expected at least two finite values > 0 (the "
            f"fit is on log scale; an exact method has no order to fit) — received "
            f"{vec.tolist()} — drop zero or non-finite entries"
        )
    return vec


def check_order(
    step_sizes: Sequence[float] | Tensor,
    errors: Sequence[float] | Tensor,
    declared_order: float,
    *,
    atol: float | None = None,
) -> CheckResult:
    """Check the empirical order of convergence against the declared one.

    The order is the least-squares slope ``p`` of ``log(error) = p · log(h) + c``. Choose step
    sizes in the asymptotic range: large enough for the error to exceed round-off, small enough
    for the leading error term to dominate.

    Args:
        step_sizes: the step sizes ``h`` (positive, at least two distinct).
        errors: the global errors at those step sizes (positive).
        declared_order: the order the method claims.
        atol: bound on ``|p − declared_order|``; default ``tolerance(float64).order``.

    Returns:
        ``worst`` is the fitted slope ``p``.

    Raises:
        ShapeError: non-positive, non-finite or mismatched inputs; fewer than two distinct h.
        ConfigError: a non-positive declared order or a bad ``atol``.
    """
    check = "check_order"
    h = _positive_vector(step_sizes, "step_sizes", check)
    err = _positive_vector(errors, "errors", check)
    if h.numel() != err.numel():
        raise ShapeError(
            f"{check}: `step_sizes` and `errors` differ in length — expected one error per step "
            f"size — received {h.numel()} and {err.numel()} — pass matching sequences"
        )
    if bool((h == h[0]).all()):
        raise ShapeError(
            f"{check}: `step_sizes` are all equal — expected at least two distinct step sizes "
            f"— received {h.tolist()} — halve h a few times"
        )
    declared = positive_number(declared_order, "declared_order", check)
    atol = resolve_tolerance(atol, tolerance(torch.float64).order, "atol", check)
    log_h, log_e = h.log(), err.log()
    centred = log_h - log_h.mean()
    slope = float((centred * (log_e - log_e.mean())).sum() / centred.pow(2).sum())
    ok = abs(slope - declared) <= atol
    return CheckResult(
        ok,
        slope,
        f"order {declared:g} {'holds' if ok else 'VIOLATED'}: fitted slope of log(error) vs "
        f"log(h) = {slope:.3f} over h ∈ [{float(h.min()):.3g}, {float(h.max()):.3g}] "
        f"({h.numel()} points); |slope − {declared:g}| = {abs(slope - declared):.3f} "
        f"{'≤' if ok else '>'} atol {atol:.3g}",
    )
