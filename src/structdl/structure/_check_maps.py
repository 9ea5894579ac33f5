"""Properties of a map between pairs of states: Lipschitz bound, inverse, reversibility."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch import Tensor

from .._errors import InverseError
from ._common import dtype_name, positive_number, state_dtype, verdict
from ._lipschitz_search import search_lipschitz
from ._validate import (
    State,
    as_batch,
    as_state,
    batch_size,
    call_map,
    require_callable,
    require_int,
    resolve_tolerance,
    state_max_abs_diff,
    validate_step_size,
)
from .result import CheckResult, tolerance

__all__ = ["check_inverse", "check_lipschitz", "check_reversible"]


def check_lipschitz(
    map: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    bound: float | None = None,
    n_pairs: int = 256,
    ascent_steps: int = 100,
    seed: int = 0,
    rtol: float | None = None,
) -> CheckResult:
    """Check ``‖Φ(a) − Φ(b)‖ ≤ bound · ‖a − b‖`` by random pairs and adversarial search.

    Close pairs along the top singular direction of the Jacobian at every point of ``x`` (where
    ratios are largest) and random pairs around the points (nearby and far apart) are followed
    by a gradient ascent (Adam on ``log ratio``) started from the worst pairs: a map that expands
    only in a small region is caught by the ascent when random pairs miss it. A pair whose ratio
    is not finite (the map returns NaN or inf there) is a violation. The search is seeded and
    leaves the global random state and the map's ``.grad`` untouched. A passing result is
    evidence, not proof; a failing one is a counterexample.

    Args:
        map: batched map ``(n, …) → (n, …)``.
        x: sample points ``(n, …)`` around which pairs are drawn.
        bound: the claimed Lipschitz constant; default ``map.lipschitz_bound()`` when the map
            has that method (its certified bound), else 1 (non-expansive).
        n_pairs: number of random pairs (≥ 1).
        ascent_steps: gradient-ascent iterations (0 disables the search).
        seed: seed of the pair sampler.
        rtol: relative slack, ok iff ``worst ≤ bound · (1 + rtol)``; default
            ``tolerance(x.dtype).lipschitz``.

    Returns:
        ``worst`` is the largest ratio found, that of an actual pair of points (``inf`` for a
        non-finite ratio).

    Raises:
        ShapeError: bad points, or a map returning non-finite values on them.
        ConfigError: a non-callable map; bad ``bound``, ``n_pairs``, ``ascent_steps``, ``seed``
            or ``rtol``.
    """
    check = "check_lipschitz"
    require_callable(map, "map", check)
    x = as_batch(x, "x", check)
    n_pairs = require_int(n_pairs, "n_pairs", check, 1)
    ascent_steps = require_int(ascent_steps, "ascent_steps", check, 0)
    seed = require_int(seed, "seed", check, 0)
    rtol = resolve_tolerance(rtol, tolerance(x.dtype).lipschitz, "rtol", check)
    source = "given"
    if bound is None:
        certified = getattr(map, "lipschitz_bound", None)
        if callable(certified):
            bound, source = certified(), "map.lipschitz_bound()"
        else:
            bound, source = 1.0, "default: non-expansive"
    bound = positive_number(bound, "bound", check)
    call_map(map, x, check)
    found = search_lipschitz(map, x, n_pairs, ascent_steps, seed)
    return verdict(
        found.worst,
        bound * (1 + rtol),
        f"Lipschitz bound {bound:.6g} ({source})",
        f"worst ratio ‖Φ(a)−Φ(b)‖/‖a−b‖ (close and random pairs {found.random_worst:.6g} over "
        f"{found.n_evaluated}, adversarial {found.ascent_worst:.6g}; {found.ascent_note})",
        f"{bound:.6g}·(1 + {rtol:.3g}) ({dtype_name(x.dtype)})",
    )


def check_inverse(
    forward: Callable[[Any], Any],
    inverse: Callable[[Any], Any],
    x: State,
    *,
    atol: float | None = None,
) -> CheckResult:
    """Check ``inverse(forward(x)) = x``.

    An iterative inverse that raises :class:`~structdl.InverseError` gives a failed result
    carrying the solver's residual, not an exception.

    Args:
        forward: the map Φ on batched states (a tensor or a partitioned pair ``(q, p)``).
        inverse: its claimed inverse Φ⁻¹.
        x: sample states.
        atol: bound on ``max |Φ⁻¹(Φ(x)) − x|`` for states of size one; default
            ``tolerance(dtype).exact``. The bar is ``atol · max(1, max|Φ(x)|)``: the round trip
            passes through ``Φ(x)``, whose round-off (relative to its size) it carries back.

    Raises:
        ShapeError: bad states, or a round trip that changes the state's structure.
        ConfigError: non-callable maps or a bad ``atol``.
    """
    check = "check_inverse"
    require_callable(forward, "forward", check)
    require_callable(inverse, "inverse", check)
    x = as_state(x, "x", check)
    dtype = state_dtype(x)
    atol = resolve_tolerance(atol, tolerance(dtype).exact, "atol", check)
    claim = "invertibility"
    # No torch.no_grad here: steps of Hamiltonian fields differentiate their energy inside.
    y = forward(x)
    try:
        back = inverse(y)
    except InverseError as err:
        residual = math.inf if err.residual is None else float(err.residual)
        return CheckResult(False, residual, f"{claim} VIOLATED: the inverse failed ({err})")
    worst = state_max_abs_diff(back, x, check, "inverse(forward(x))")
    size = _size(y)
    return verdict(
        worst,
        atol * size,
        claim,
        f"max |Φ⁻¹(Φ(x)) − x| over {batch_size(x)} points",
        f"atol {atol:.3g} × max(1, max|Φ(x)|) = {atol * size:.3g} ({dtype_name(dtype)})",
    )


def _size(y: Any) -> float:
    """``max(1, max|y|)`` over the parts of a state (``inf`` if it is not finite)."""
    parts = tuple(y) if isinstance(y, (tuple, list)) else (y,)
    largest = 1.0
    for part in parts:
        if isinstance(part, Tensor) and part.numel():
            largest = max(largest, float(part.detach().abs().max()))
    return largest


def check_reversible(
    step: Callable[[Any, float], Any],
    x: State,
    h: float,
    *,
    atol: float | None = None,
) -> CheckResult:
    """Check time reversibility ``Φ_{−h}(Φ_h(x)) = x`` of a one-step map.

    Symmetric methods (Störmer–Verlet, implicit midpoint, leapfrog networks) satisfy it exactly;
    forward Euler only up to ``O(h²)``.

    Args:
        step: ``step(y, h)``, one step of size ``h`` on batched states.
        x: sample states (a tensor or a pair ``(q, p)``).
        h: the step size (non-zero).
        atol: bound on ``max |Φ_{−h}(Φ_h(x)) − x|`` for states of size one; default
            ``tolerance(dtype).exact``, scaled by ``max(1, max|Φ_h(x)|)`` as in
            :func:`check_inverse`.

    Raises:
        ShapeError: bad states. StepSizeError: ``h`` zero or non-finite.
        ConfigError: non-callable ``step`` or a bad ``atol``.
    """
    check = "check_reversible"
    require_callable(step, "step", check)
    x = as_state(x, "x", check)
    h = validate_step_size(h, check)
    dtype = state_dtype(x)
    atol = resolve_tolerance(atol, tolerance(dtype).exact, "atol", check)
    forward = step(x, h)
    back = step(forward, -h)
    worst = state_max_abs_diff(back, x, check, "step(step(x, h), -h)")
    size = _size(forward)
    return verdict(
        worst,
        atol * size,
        f"time reversibility (h = {h:.4g})",
        f"max |Φ_(−h)(Φ_h(x)) − x| over {batch_size(x)} points",
        f"atol {atol:.3g} × max(1, max|Φ_h(x)|) = {atol * size:.3g} ({dtype_name(dtype)})",
    )
