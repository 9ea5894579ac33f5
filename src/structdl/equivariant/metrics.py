"""Per-element equivariance error, for plots of approximate equivariance.

Method notes: docs/methods/equivariant.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from .._errors import ShapeError
from .groups import FiniteGroup, GroupElement

__all__ = ["equivariance_errors"]


@torch.no_grad()
def equivariance_errors(
    module: Callable[[torch.Tensor], torch.Tensor],
    group: FiniteGroup | Iterable[GroupElement],
    input_action: Callable[[GroupElement, torch.Tensor], torch.Tensor],
    output_action: Callable[[GroupElement, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
) -> dict[GroupElement, float]:
    """``E(g) = ‖Φ(g·x) − g·Φ(x)‖ / ‖Φ(x)‖`` for every element ``g``, in ``x``'s dtype.

    Unlike :func:`structdl.structure.check_equivariance` (which returns only the worst element
    against a tolerance), this returns the whole profile, e.g. to plot the error against the
    rotation angle of an interpolated ``C_n`` or against the relaxation of a
    :class:`RelaxedGroupConv2d`.

    Args:
        module: the map ``Φ``.
        group: a :class:`FiniteGroup` or an iterable of its elements.
        input_action: ``(g, x) -> g·x``.
        output_action: ``(g, y) -> g·y``.
        x: a batch of inputs.

    Returns:
        ``{g: E(g)}`` in group order.
    """
    elements = group.elements() if isinstance(group, FiniteGroup) else list(group)
    y = module(x)
    scale = float(y.norm())
    if scale == 0.0:
        raise ShapeError(
            "equivariance_errors: Φ(x) = 0, so the relative error is undefined — expected a "
            "non-zero output — received an all-zero output — use a different input x"
        )
    return {
        g: float((module(input_action(g, x)) - output_action(g, y)).norm()) / scale
        for g in elements
    }
