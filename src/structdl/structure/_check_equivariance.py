"""Group equivariance against a float64 reference, and membership of a manifold."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from .._errors import ConfigError, ShapeError
from ._common import dtype_name, verdict
from ._validate import (
    as_batch,
    call_map,
    require_callable,
    resolve_tolerance,
)
from .result import CheckResult, tolerance

__all__ = ["check_equivariance", "check_on_manifold"]


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
            return module, x, f"{dtype_name(x.dtype)} (the module could not be copied)"
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
        ref_note = f"{dtype_name(x.dtype)} (float64 reference not supported by the maps)"
        errors = _equivariance_errors(
            module, module, x, elements, input_action, output_action, x, check
        )
    worst_i = max(range(len(errors)), key=errors.__getitem__)
    worst = errors[worst_i]
    return verdict(
        worst,
        atol,
        f"equivariance under {len(elements)} group elements",
        f"max_g ‖Φ(g·x) − g·Φ(x)‖/‖Φ(x)‖ (worst g = {_element_name(elements[worst_i])}; "
        f"reference in {ref_note})",
        f"atol {atol:.3g} ({dtype_name(x.dtype)})",
    )


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
    name = getattr(manifold, "name", None)
    if not isinstance(name, str):
        # Plain defect functions are named by their qualified name (lambdas by "<lambda>").
        qualname = getattr(manifold, "__qualname__", None)
        name = f"the zero set of {qualname}" if qualname else type(manifold).__name__
    return verdict(
        float(defect.max()),
        atol,
        f"membership of {name}",
        f"max_i {how} over {n} points (worst at point {int(defect.argmax())})",
        f"atol {atol:.3g} ({dtype_name(x.dtype)})",
    )
