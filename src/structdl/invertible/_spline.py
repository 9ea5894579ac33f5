"""Monotone rational-quadratic splines with identity (linear) tails.

On ``[−B, B]`` the map is a monotone rational-quadratic spline with ``K`` bins (Gregory and
Delbourgo 1982; Durkan et al. 2019, "Neural spline flows"): in bin ``k`` with knots
``(x_k, y_k)``, slope ``s_k = (y_{k+1} − y_k)/(x_{k+1} − x_k)``, knot derivatives ``d_k`` and
``ξ = (x − x_k)/(x_{k+1} − x_k)``,

    y = y_k + (y_{k+1} − y_k)(s_k ξ² + d_k ξ(1 − ξ)) / (s_k + (d_{k+1} + d_k − 2 s_k) ξ(1 − ξ)).

Outside ``[−B, B]`` it is the identity; the boundary derivatives are fixed to 1 so the map is
C¹ across the boundary. Every quantity is computed on the input *clamped* into the interval
and the tail is chosen with ``torch.where``: the unused branch stays finite, so its zero
weight in the gradient never multiplies an infinity (the NaN of splines evaluated far outside
their interval, nflows#87).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["rational_quadratic", "spline_parameter_count"]

#: Smallest bin width/height (fraction of the interval) and knot derivative: keep the spline
#: strictly monotone and its inverse well conditioned whatever the network outputs.
_MIN_BIN = 1e-3
_MIN_DERIVATIVE = 1e-3
#: softplus(_DERIVATIVE_SHIFT) = 1 − _MIN_DERIVATIVE.
_DERIVATIVE_SHIFT = math.log(math.expm1(1 - _MIN_DERIVATIVE))


def spline_parameter_count(bins: int) -> int:
    """Unconstrained parameters per dimension: ``K`` widths, ``K`` heights, ``K − 1`` slopes."""
    return 3 * bins - 1


def _knots(raw: Tensor, bound: float) -> tuple[Tensor, Tensor]:
    """Bin sizes and knot positions in ``[−B, B]`` from unconstrained ``raw`` (…, K)."""
    bins = raw.shape[-1]
    fractions = _MIN_BIN + (1 - _MIN_BIN * bins) * torch.softmax(raw, dim=-1)
    knots = F.pad(torch.cumsum(fractions, dim=-1), (1, 0))
    knots = 2 * bound * knots - bound
    # Pin the ends exactly: cumulative sums of softmax miss ±B by round-off.
    knots = torch.cat(
        (
            torch.full_like(knots[..., :1], -bound),
            knots[..., 1:-1],
            torch.full_like(knots[..., :1], bound),
        ),
        dim=-1,
    )
    return knots[..., 1:] - knots[..., :-1], knots


def rational_quadratic(
    x: Tensor, params: Tensor, bound: float, *, inverse: bool = False
) -> tuple[Tensor, Tensor]:
    """Apply the spline (or its inverse) elementwise; return ``(y, log|dy/dx|)`` per element.

    Args:
        x: inputs of any shape ``S``.
        params: unconstrained parameters of shape ``S + (3K − 1,)``.
        bound: half-width ``B`` of the spline interval.
        inverse: evaluate the inverse map (the log-derivative is then ``log|dx/dy|``).
    """
    bins = (params.shape[-1] + 1) // 3
    raw_w, raw_h, raw_d = params[..., :bins], params[..., bins : 2 * bins], params[..., 2 * bins :]
    widths, x_knots = _knots(raw_w, bound)
    heights, y_knots = _knots(raw_h, bound)
    # Shifted so that raw 0 gives derivative 1: a fresh spline is the identity, and a deep
    # stack of fresh splines does not multiply knot slopes below 1 into ill-conditioning.
    inner = _MIN_DERIVATIVE + F.softplus(raw_d + _DERIVATIVE_SHIFT)
    # Derivative exactly 1 at ±B, matching the identity tails.
    one = torch.ones_like(inner[..., :1])
    derivatives = torch.cat((one, inner, one), dim=-1)

    inside = (x > -bound) & (x < bound)
    xc = x.clamp(-bound, bound)
    locate = y_knots if inverse else x_knots
    # Index of the bin: how many interior knots lie at or below the point.
    # Flattened to 2-D: searchsorted wants dense row-major boundaries (size-1 axes included).
    interior = locate[..., 1:-1].reshape(-1, bins - 1).clone()
    k = torch.searchsorted(interior, xc.reshape(-1, 1).clone(), right=True)
    k = k.reshape(*xc.shape, 1)

    def pick(values: Tensor) -> Tensor:
        return values.gather(-1, k).squeeze(-1)

    x_k, w_k = pick(x_knots[..., :-1]), pick(widths)
    y_k, h_k = pick(y_knots[..., :-1]), pick(heights)
    d_k, d_k1 = pick(derivatives[..., :-1]), pick(derivatives[..., 1:])
    s_k = h_k / w_k
    curvature = d_k1 + d_k - 2 * s_k

    if inverse:
        shifted = xc - y_k
        a = h_k * (s_k - d_k) + shifted * curvature
        b = h_k * d_k - shifted * curvature
        c = -s_k * shifted
        discriminant = (b * b - 4 * a * c).clamp_min(0)
        # The root in [0, 1] in the cancellation-free form 2c / (−b − √disc).
        xi = (2 * c) / (-b - discriminant.sqrt())
        xi = xi.clamp(0, 1)
        y_in = xi * w_k + x_k
    else:
        xi = ((xc - x_k) / w_k).clamp(0, 1)
        numerator = h_k * (s_k * xi * xi + d_k * xi * (1 - xi))
        y_in = y_k + numerator / (s_k + curvature * xi * (1 - xi))

    one_minus = 1 - xi
    denominator = s_k + curvature * xi * one_minus
    derivative_numerator = (
        s_k * s_k * (d_k1 * xi * xi + 2 * s_k * xi * one_minus + d_k * one_minus**2)
    )
    log_derivative = derivative_numerator.log() - 2 * denominator.log()
    if inverse:
        log_derivative = -log_derivative
    y = torch.where(inside, y_in, x)
    return y, torch.where(inside, log_derivative, torch.zeros_like(log_derivative))
