"""Executable checks of the structure that layers, integrators and networks claim to preserve.

Every check returns a :class:`~structdl.structure.result.CheckResult` ``(ok, worst, reason)``
and has an ``assert_…`` form that raises :class:`~structdl.StructureViolation` with the reason.
Default tolerances come from :func:`~structdl.structure.result.tolerance` for the dtype of the
sample points; every check accepts ``atol=`` (or ``rtol=``) to override them. Maps take and
return batched tensors ``(batch, …)``; Jacobians are computed per point with ``torch.func``
(``vmap`` of ``jacrev``), falling back to ``torch.autograd.functional.jacobian``.

Example:
    >>> import torch
    >>> from structdl.structure import check_symplectic
    >>> c, s = 0.6, 0.8  # a rotation of the (q, p) plane is symplectic
    >>> rotate = lambda z: torch.stack([c * z[:, 0] + s * z[:, 1], -s * z[:, 0] + c * z[:, 1]], 1)
    >>> check_symplectic(rotate, torch.randn(4, 2, dtype=torch.float64)).ok
    True
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._errors import ConfigError, InverseError, ShapeError, StructureViolation
from ._jacobian import batched_jacobian
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

__all__ = [
    "assert_energy",
    "assert_equivariance",
    "assert_inverse",
    "assert_lipschitz",
    "assert_on_manifold",
    "assert_order",
    "assert_reversible",
    "assert_symplectic",
    "assert_volume_preserving",
    "canonical_J",
    "check_energy",
    "check_equivariance",
    "check_inverse",
    "check_lipschitz",
    "check_on_manifold",
    "check_order",
    "check_reversible",
    "check_symplectic",
    "check_volume_preserving",
]

ENERGY_MODES = ("conserved", "non_increasing")


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _result(worst: float, limit: float, claim: str, measure: str, bar: str) -> CheckResult:
    """Result ``ok = worst ≤ limit`` whose reason reads "<claim> holds: <measure> = w ≤ <bar>"."""
    ok = bool(worst <= limit)  # False for NaN
    verdict, cmp = ("holds", "≤") if ok else ("VIOLATED", ">")
    return CheckResult(
        ok=ok, worst=worst, reason=f"{claim} {verdict}: {measure} = {worst:.3g} {cmp} {bar}"
    )


def _positive_number(value: Any, name: str, check: str) -> float:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = float(value.detach())
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 0)
    ):
        raise ConfigError(
            f"{check}: `{name}` is invalid — expected a finite number > 0 — received "
            f"{value!r} — pass e.g. {name}=1.0"
        )
    return float(value)


def canonical_J(dim: int, dtype: torch.dtype = torch.float64, device: Any = None) -> Tensor:
    """The canonical symplectic matrix ``J = [[0, I], [−I, 0]]`` of size ``2·dim``."""
    eye = torch.eye(dim, dtype=dtype, device=device)
    zero = torch.zeros(dim, dim, dtype=dtype, device=device)
    return torch.cat([torch.cat([zero, eye], 1), torch.cat([-eye, zero], 1)], 0)


# --------------------------------------------------------------------------- symplectic, volume


def check_symplectic(
    map: Callable[[Tensor], Tensor],
    z: Tensor,
    *,
    J: Tensor | None = None,
    rate: float = 1.0,
    atol: float | None = None,
) -> CheckResult:
    """Check ``DΦ(z)ᵀ J DΦ(z) = rate · J`` at every sample point.

    A map Φ on phase space ``z = (q, p) ∈ R^{2d}`` is symplectic when its Jacobian preserves the
    symplectic form, ``DΦᵀ J DΦ = J`` with ``J = [[0, I], [−I, 0]]``; it is conformal
    symplectic with contraction ``rate`` when ``DΦᵀ J DΦ = rate · J`` (a damped step).

    Args:
        map: batched map ``(n, 2d) → (n, 2d)``.
        z: sample points, shape ``(n, 2d)``.
        J: the structure matrix ``(2d, 2d)``; defaults to the canonical one.
        rate: expected conformal factor (1 for symplectic maps).
        atol: bound on ``max_i ‖DΦ(z_i)ᵀ J DΦ(z_i) − rate·J‖_F``; default
            ``tolerance(z.dtype).exact``.

    Returns:
        ``worst`` is the largest Frobenius defect over the points.

    Raises:
        ShapeError: ``z`` is not a finite ``(n, 2d)`` tensor, ``J`` has the wrong shape, or the
            map does not return ``(n, 2d)``.
        ConfigError: ``map`` is not callable, ``rate`` or ``atol`` invalid.
    """
    check = "check_symplectic"
    require_callable(map, "map", check)
    z = as_batch(z, "z", check, flat=True)
    n, dim = z.shape
    if dim % 2:
        raise ShapeError(
            f"{check}: `z` has an odd dimension — expected phase-space points (n, 2d) = (q, p) "
            f"— received shape {tuple(z.shape)} — concatenate q and p along dim 1"
        )
    rate = _positive_number(rate, "rate", check)
    atol = resolve_tolerance(atol, tolerance(z.dtype).exact, "atol", check)
    if J is None:
        J = canonical_J(dim // 2, z.dtype, z.device)
    elif not isinstance(J, Tensor) or J.shape != (dim, dim) or not bool(torch.isfinite(J).all()):
        got = tuple(J.shape) if isinstance(J, Tensor) else type(J).__name__
        raise ShapeError(
            f"{check}: `J` is invalid — expected a finite ({dim}, {dim}) tensor — received "
            f"{got} — pass J=None for the canonical [[0, I], [-I, 0]]"
        )
    J = J.to(z.dtype)
    out = call_map(map, z, check)
    if out.shape != z.shape:
        raise ShapeError(
            f"{check}: `map` changes the shape — expected (n, 2d) → (n, 2d) with shape "
            f"{tuple(z.shape)} — received output shape {tuple(out.shape)} — check the map"
        )
    jac = batched_jacobian(map, z)
    defect = torch.linalg.matrix_norm(jac.transpose(1, 2) @ J @ jac - rate * J)
    worst_i = int(defect.argmax())
    claim = "symplecticity" if rate == 1.0 else f"conformal symplecticity (rate {rate:.4g})"
    return _result(
        float(defect.max()),
        atol,
        claim,
        f"max_i ‖DΦᵀJDΦ − {rate:.4g}·J‖_F over {n} points (worst at point {worst_i})",
        f"atol {atol:.3g} ({_dtype_name(z.dtype)})",
    )


def check_volume_preserving(
    map: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    logdet: Callable[[Tensor], Tensor] | None = None,
    atol: float | None = None,
) -> CheckResult:
    """Check ``log|det DΦ(x)| = 0`` (or the reported log-determinant) at every sample point.

    A map preserves volume when ``|det DΦ| = 1``; a bijection that reports its log-Jacobian
    (``logdet(x)``) is checked against the autograd Jacobian instead.

    Args:
        map: batched map ``(n, …) → (n, …)`` with as many outputs as inputs per point.
        x: sample points ``(n, …)``.
        logdet: optional callable returning the claimed ``log|det DΦ(x)|``, shape ``(n,)``.
        atol: bound on ``max_i |log|det DΦ(x_i)| − logdet_i|``; default
            ``tolerance(x.dtype).exact``.

    Raises:
        ShapeError: bad points, a non-square Jacobian, or a ``logdet`` of the wrong shape.
        ConfigError: a non-callable ``map`` or ``logdet``, or a bad ``atol``.
    """
    check = "check_volume_preserving"
    require_callable(map, "map", check)
    x = as_batch(x, "x", check)
    atol = resolve_tolerance(atol, tolerance(x.dtype).exact, "atol", check)
    out = call_map(map, x, check)
    n = x.shape[0]
    if out[0].numel() != x[0].numel():
        raise ShapeError(
            f"{check}: `map` has a non-square Jacobian — expected as many outputs as inputs per "
            f"point ({x[0].numel()}) — received output shape {tuple(out.shape)} — volume is "
            f"only defined for maps of a space to itself"
        )
    target = torch.zeros(n, dtype=torch.float64, device=x.device)
    if logdet is not None:
        require_callable(logdet, "logdet", check)
        claimed = logdet(x)
        if not isinstance(claimed, Tensor) or claimed.numel() != n:
            got = tuple(claimed.shape) if isinstance(claimed, Tensor) else type(claimed).__name__
            raise ShapeError(
                f"{check}: `logdet(x)` has the wrong shape — expected ({n},) — received {got} "
                f"— return one log-determinant per point"
            )
        target = claimed.detach().reshape(n).to(torch.float64)
    jac = batched_jacobian(map, x)
    # The determinant itself is formed in float64 so that only the Jacobian carries x's rounding.
    sign, logabs = torch.linalg.slogdet(jac.to(torch.float64))
    defect = torch.where(sign == 0, torch.full_like(logabs, math.inf), (logabs - target).abs())
    defect = torch.where(torch.isfinite(defect), defect, torch.full_like(defect, math.inf))
    worst_i = int(defect.argmax())
    against = "the reported logdet" if logdet is not None else "0"
    return _result(
        float(defect.max()),
        atol,
        "volume preservation" if logdet is None else "log-determinant agreement",
        f"max_i |log|det DΦ(x_i)| − {against}| over {n} points (worst at point {worst_i})",
        f"atol {atol:.3g} ({_dtype_name(x.dtype)})",
    )


# --------------------------------------------------------------------------------- lipschitz


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

    Random pairs around the points of ``x`` (nearby and far apart) are followed by a gradient
    ascent (Adam on ``log ratio``) started from the worst pairs: a map that expands only in a
    small region is caught by the ascent when random pairs miss it. The search is seeded and
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
        ``worst`` is the largest ratio found.

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
    bound = _positive_number(bound, "bound", check)
    call_map(map, x, check)
    found = search_lipschitz(map, x, n_pairs, ascent_steps, seed)
    return _result(
        found.worst,
        bound * (1 + rtol),
        f"Lipschitz bound {bound:.6g} ({source})",
        f"worst ratio ‖Φ(a)−Φ(b)‖/‖a−b‖ (random pairs {found.random_worst:.6g} over "
        f"{found.n_evaluated}, adversarial {found.ascent_worst:.6g}; {found.ascent_note})",
        f"{bound:.6g}·(1 + {rtol:.3g}) ({_dtype_name(x.dtype)})",
    )


# ------------------------------------------------------------------------ inverse, reversible


def _state_dtype(y: State) -> torch.dtype:
    return (y[0] if isinstance(y, tuple) else y).dtype


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
        atol: bound on ``max |Φ⁻¹(Φ(x)) − x|``; default ``tolerance(dtype).exact``.

    Raises:
        ShapeError: bad states, or a round trip that changes the state's structure.
        ConfigError: non-callable maps or a bad ``atol``.
    """
    check = "check_inverse"
    require_callable(forward, "forward", check)
    require_callable(inverse, "inverse", check)
    x = as_state(x, "x", check)
    dtype = _state_dtype(x)
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
    return _result(
        worst,
        atol,
        claim,
        f"max |Φ⁻¹(Φ(x)) − x| over {batch_size(x)} points",
        f"atol {atol:.3g} ({_dtype_name(dtype)})",
    )


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
        atol: bound on ``max |Φ_{−h}(Φ_h(x)) − x|``; default ``tolerance(dtype).exact``.

    Raises:
        ShapeError: bad states. StepSizeError: ``h`` zero or non-finite.
        ConfigError: non-callable ``step`` or a bad ``atol``.
    """
    check = "check_reversible"
    require_callable(step, "step", check)
    x = as_state(x, "x", check)
    h = validate_step_size(h, check)
    dtype = _state_dtype(x)
    atol = resolve_tolerance(atol, tolerance(dtype).exact, "atol", check)
    back = step(step(x, h), -h)
    worst = state_max_abs_diff(back, x, check, "step(step(x, h), -h)")
    return _result(
        worst,
        atol,
        f"time reversibility (h = {h:.4g})",
        f"max |Φ_(−h)(Φ_h(x)) − x| over {batch_size(x)} points",
        f"atol {atol:.3g} ({_dtype_name(dtype)})",
    )


# ------------------------------------------------------------------------------------ energy


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
    dtype = _state_dtype(states[0])
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
    return _result(
        worst,
        bar,
        claim,
        f"{measure} over {len(states)} states (worst at step {k}, element {b})",
        f"{bar:.3g} ({_dtype_name(dtype)})",
    )


# ------------------------------------------------------------------------------- equivariance


def _group_elements(group: Any, check: str) -> list[Any]:
    source = group.elements() if callable(getattr(group, "elements", None)) else group
    if isinstance(source, (str, bytes)) or not isinstance(source, Iterable):
        raise ConfigError(
            f"{check}: `group` is not iterable — expected an iterable of group elements or an "
            f"object with .elements() — received {type(group).__name__} — pass e.g. C4 or "
            f"list(range(4))"
        )
    elements = list(source)
    if not elements:
        raise ConfigError(
            f"{check}: `group` has no elements — expected at least one element — received an "
            f"empty collection — pass the group's elements"
        )
    return elements


def _element_name(g: Any) -> str:
    if isinstance(g, Tensor):
        text = str(g.tolist()) if g.numel() <= 8 else f"tensor{tuple(g.shape)}"
    else:
        text = str(g)
    return text if len(text) <= 60 else text[:57] + "…"


def _float64_reference(
    module: Callable[[Tensor], Tensor], x: Tensor
) -> tuple[Callable[[Tensor], Tensor], Tensor, str]:
    """A float64 copy of the module and input, for the reference side ``g·Φ(x)``."""
    if x.dtype == torch.float64:
        return module, x, "float64"
    if isinstance(module, nn.Module):
        try:
            return copy.deepcopy(module).to(torch.float64), x.to(torch.float64), "float64 copy"
        except (RuntimeError, TypeError, copy.Error):
            return module, x, f"{_dtype_name(x.dtype)} (the module could not be copied)"
    return module, x.to(torch.float64), "float64 input"


def _equivariance_errors(
    module: Callable[[Tensor], Tensor],
    ref_module: Callable[[Tensor], Tensor],
    ref_x: Tensor,
    elements: list[Any],
    input_action: Callable[[Any, Tensor], Tensor],
    output_action: Callable[[Any, Tensor], Tensor],
    x: Tensor,
    check: str,
) -> list[float]:
    """Relative errors ``‖Φ(g·x) − g·Φ(x)‖ / ‖Φ(x)‖``, one per element."""
    out_ref = ref_module(ref_x)
    if not isinstance(out_ref, Tensor):
        raise ShapeError(
            f"{check}: `module` did not return a tensor — expected a batched tensor — received "
            f"{type(out_ref).__name__} — make the module return a tensor"
        )
    denom = float(out_ref.detach().to(torch.float64).norm())
    errors = []
    for g in elements:
        lhs = module(input_action(g, x))
        rhs = output_action(g, out_ref)
        if not isinstance(lhs, Tensor) or not isinstance(rhs, Tensor) or lhs.shape != rhs.shape:
            shapes = [
                tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__ for t in (lhs, rhs)
            ]
            raise ShapeError(
                f"{check}: Φ(g·x) and g·Φ(x) differ in shape for g = {_element_name(g)} — "
                f"expected equal shapes — received {shapes[0]} and {shapes[1]} — check that "
                f"output_action acts on the module's output space"
            )
        diff = float((lhs.detach().to(torch.float64) - rhs.detach().to(torch.float64)).norm())
        errors.append(diff / denom if denom > 0 else (0.0 if diff == 0 else math.inf))
    return [e if math.isfinite(e) else math.inf for e in errors]


def check_equivariance(
    module: Callable[[Tensor], Tensor],
    group: Any,
    input_action: Callable[[Any, Tensor], Tensor],
    output_action: Callable[[Any, Tensor], Tensor],
    x: Tensor,
    *,
    atol: float | None = None,
) -> CheckResult:
    """Check ``Φ(g·x) = g·Φ(x)`` for every element ``g`` of a finite group.

    The reference side ``g·Φ(x)`` is computed in float64 (a float64 deep copy of an
    ``nn.Module``, or float64 inputs for a plain function) when ``x`` is float32; the tested side
    ``Φ(g·x)`` runs in ``x``'s dtype. The defect is the relative error
    ``max_g ‖Φ(g·x) − g·Φ(x)‖ / ‖Φ(x)‖`` (norms over the whole batch), and the reason names
    the worst element.

    Args:
        module: the batched map Φ.
        group: iterable of elements, or an object with ``.elements()``.
        input_action: ``input_action(g, x)``, the action on inputs.
        output_action: ``output_action(g, y)``, the action on outputs.
        x: sample inputs ``(n, …)``.
        atol: bound on the relative error; default ``tolerance(x.dtype).equivariance``.

    Raises:
        ShapeError: bad inputs, or outputs whose shapes do not match under the actions.
        ConfigError: an empty or non-iterable group, non-callable maps or a bad ``atol``.
    """
    check = "check_equivariance"
    require_callable(module, "module", check)
    require_callable(input_action, "input_action", check)
    require_callable(output_action, "output_action", check)
    elements = _group_elements(group, check)
    x = as_batch(x, "x", check)
    atol = resolve_tolerance(atol, tolerance(x.dtype).equivariance, "atol", check)
    ref_module, ref_x, ref_note = _float64_reference(module, x)
    call_map(module, x, check, "module")
    try:
        errors = _equivariance_errors(
            module, ref_module, ref_x, elements, input_action, output_action, x, check
        )
    except (RuntimeError, TypeError):
        if ref_x.dtype == x.dtype:
            raise
        # The actions (or a captured tensor) do not accept float64: reference in x's dtype.
        ref_note = f"{_dtype_name(x.dtype)} (float64 reference not supported by the maps)"
        errors = _equivariance_errors(
            module, module, x, elements, input_action, output_action, x, check
        )
    worst_i = max(range(len(errors)), key=errors.__getitem__)
    worst = errors[worst_i]
    return _result(
        worst,
        atol,
        f"equivariance under {len(elements)} group elements",
        f"max_g ‖Φ(g·x) − g·Φ(x)‖/‖Φ(x)‖ (worst g = {_element_name(elements[worst_i])}; "
        f"reference in {ref_note})",
        f"atol {atol:.3g} ({_dtype_name(x.dtype)})",
    )


# ---------------------------------------------------------------------------------- manifold


def check_on_manifold(manifold: Any, x: Tensor, *, atol: float | None = None) -> CheckResult:
    """Check that every point of ``x`` lies on a manifold.

    The defect of a point is ``manifold.distance(x)`` when the manifold has that method, else
    ``‖x − manifold.project(x)‖``, else ``manifold(x)`` for a plain callable (e.g.
    ``lambda x: (x.norm(dim=1) − 1).abs()`` for the unit sphere).

    Args:
        manifold: a manifold object or a defect function ``(n, …) → (n,)``.
        x: points ``(n, …)``.
        atol: bound on the largest defect; default ``tolerance(x.dtype).manifold``.

    Raises:
        ShapeError: bad points, or a defect of the wrong shape.
        ConfigError: a manifold with neither ``distance``, ``project`` nor ``__call__``; a bad
            ``atol``.
    """
    check = "check_on_manifold"
    x = as_batch(x, "x", check)
    n = x.shape[0]
    atol = resolve_tolerance(atol, tolerance(x.dtype).manifold, "atol", check)
    if callable(getattr(manifold, "distance", None)):
        defect, how = manifold.distance(x), "distance"
    elif callable(getattr(manifold, "project", None)):
        defect, how = (x - manifold.project(x)).reshape(n, -1).norm(dim=1), "‖x − project(x)‖"
    elif callable(manifold):
        defect, how = manifold(x), "defect"
    else:
        raise ConfigError(
            f"{check}: `manifold` cannot measure a defect — expected an object with "
            f".distance(x) or .project(x), or a callable returning (batch,) defects — "
            f"received {type(manifold).__name__} — pass e.g. structdl.manifolds.Sphere()"
        )
    if not isinstance(defect, Tensor) or defect.numel() != n:
        got = tuple(defect.shape) if isinstance(defect, Tensor) else type(defect).__name__
        raise ShapeError(
            f"{check}: the manifold defect has the wrong shape — expected ({n},) — received "
            f"{got} — return one distance per point"
        )
    defect = defect.detach().reshape(n).to(torch.float64).abs()
    defect = torch.where(torch.isfinite(defect), defect, torch.full_like(defect, math.inf))
    name = getattr(manifold, "name", None) or type(manifold).__name__
    return _result(
        float(defect.max()),
        atol,
        f"membership of {name}",
        f"max_i {how} over {n} points (worst at point {int(defect.argmax())})",
        f"atol {atol:.3g} ({_dtype_name(x.dtype)})",
    )


# -------------------------------------------------------------------------------------- order


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
    declared = _positive_number(declared_order, "declared_order", check)
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


# ----------------------------------------------------------------------------- assert forms


def _assert_form(check: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
    """The ``assert_…`` form of a check: return the result, or raise with its reason."""

    @functools.wraps(check)
    def assert_check(*args: Any, **kwargs: Any) -> CheckResult:
        result = check(*args, **kwargs)
        if not result.ok:
            raise StructureViolation(result.reason)
        return result

    name = check.__name__.replace("check_", "assert_", 1)
    assert_check.__name__ = assert_check.__qualname__ = name
    assert_check.__doc__ = (
        f"Run :func:`{check.__name__}` and raise :class:`~structdl.StructureViolation` with its "
        f"reason if it fails; otherwise return the passing :class:`CheckResult`.\n\n"
        f"Takes exactly the arguments of :func:`{check.__name__}`."
    )
    return assert_check


assert_symplectic = _assert_form(check_symplectic)
assert_volume_preserving = _assert_form(check_volume_preserving)
assert_lipschitz = _assert_form(check_lipschitz)
assert_inverse = _assert_form(check_inverse)
assert_reversible = _assert_form(check_reversible)
assert_energy = _assert_form(check_energy)
assert_equivariance = _assert_form(check_equivariance)
assert_on_manifold = _assert_form(check_on_manifold)
assert_order = _assert_form(check_order)
