"""Monotone rational-quadratic splines with identity (linear) tails.

On ``[−B, B]`` the map is a monotone rational-quadratic spline with ``K`` bins (Gregory and
Delbourgo 1982; Durkan et al. 2019, "Neural spline flows"): in bin ``k`` with knots
``(x_k, y_k)``, width ``w_k``, height ``h_k``, slope ``s_k = h_k / w_k``, knot derivatives
``d_k`` and ``ξ = (x − x_k)/w_k``,

    y = y_k + h_k (s_k ξ² + d_k ξ(1 − ξ)) / D,        D = s_k + (d_{k+1} + d_k − 2 s_k) ξ(1 − ξ),
    dy/dx = s_k² (d_{k+1} ξ² + 2 s_k ξ(1 − ξ) + d_k (1 − ξ)²) / D².

Outside ``[−B, B]`` it is the identity; the boundary derivatives are fixed to 1 so the map is
C¹ across the boundary. Every quantity is computed on the input *clamped* into the interval
and the tail is chosen with ``torch.where``: the unused branch stays finite, so its zero
weight in the gradient never multiplies an infinity (the NaN of splines evaluated far outside
their interval, nflows#87).

Speed: the spline is one autograd node (:class:`_RationalQuadratic`), on parameters laid out
bins-first so that every per-bin operation reads contiguous memory. Its forward pass locates
the bin with one comparison against the cumulative bin sizes, reads the local quantities
``(x_k, y_k, w_k, h_k, d_k, d_{k+1})`` with three gathers (softplus only on the two knot
derivatives it needs) and computes the value and the log-derivative in the same pass; its
backward pass applies the closed-form partial derivatives of ``y`` and ``log dy/dx`` with
respect to ``ξ``, ``s_k``, ``h_k``, ``d_k`` and ``d_{k+1}``, then the adjoints of the gathers,
of the cumulative sum and of the softmax. The inverse map ``x = f⁻¹(y; θ)`` uses the same
partials through the implicit-function theorem, ``∂x/∂y = 1/f_x``, ``∂x/∂θ = −f_θ/f_x``.
Higher derivatives (``create_graph=True``) and ``torch.func`` transforms go through
:func:`rational_quadratic_reference`, the same map written as plain autograd operations, which
is also the reference the tests compare against.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .._errors import ShapeError

__all__ = ["rational_quadratic", "rational_quadratic_reference", "spline_parameter_count"]

#: Smallest bin width/height (fraction of the interval) and knot derivative: keep the spline
#: strictly monotone and its inverse well conditioned whatever the network outputs.
_MIN_BIN = 1e-3
_MIN_DERIVATIVE = 1e-3
#: softplus(_DERIVATIVE_SHIFT) = 1 − _MIN_DERIVATIVE.
_DERIVATIVE_SHIFT = math.log(math.expm1(1 - _MIN_DERIVATIVE))


def spline_parameter_count(bins: int) -> int:
    """Unconstrained parameters per dimension: ``K`` widths, ``K`` heights, ``K − 1`` slopes."""
    return 3 * bins - 1


def rational_quadratic(
    x: Tensor, params: Tensor, bound: float, *, inverse: bool = False
) -> tuple[Tensor, Tensor]:
    """Apply the spline (or its inverse) elementwise; return ``(y, log|dy/dx|)`` per element.

    Args:
        x: inputs of any shape ``S``.
        params: unconstrained parameters of shape ``S + (3K − 1,)``: ``K`` raw bin widths,
            ``K`` raw bin heights (each through a softmax) and ``K − 1`` raw interior knot
            derivatives (through a shifted softplus, so zeros give the identity).
        bound: half-width ``B`` of the spline interval.
        inverse: evaluate the inverse map (the log-derivative is then ``log|dx/dy|``).

    Raises:
        ShapeError: ``params`` is not ``x.shape + (3K − 1,)`` with ``K ≥ 2``.

    Example:
        >>> params = torch.randn(3, 3 * 4 - 1, generator=torch.Generator().manual_seed(0))
        >>> x = torch.tensor([-0.5, 0.25, 7.0])
        >>> y, log_derivative = rational_quadratic(x, params, 2.0)
        >>> back, inverse_log = rational_quadratic(y, params, 2.0, inverse=True)
        >>> torch.allclose(back, x, atol=1e-5), y[2].item(), log_derivative[2].item()
        (True, 7.0, 0.0)
    """
    if params.shape[:-1] != x.shape or params.shape[-1] < 5 or params.shape[-1] % 3 != 2:
        raise ShapeError(
            f"rational_quadratic: wrong parameter shape — expected x.shape + (3K − 1,) = "
            f"{tuple(x.shape)} + (3K − 1,) with K ≥ 2 — received {tuple(params.shape)} — give "
            f"spline_parameter_count(K) parameters per element"
        )
    if torch._C._are_functorch_transforms_active():
        # torch.func (vmap, jacrev, jvp, …) traces plain operations; the closed-form node is
        # for ordinary autograd.
        return rational_quadratic_reference(x, params, bound, inverse=inverse)
    return _RationalQuadratic.apply(x, params, float(bound), bool(inverse))


# -- the single-node implementation ---------------------------------------------------------

#: Per (bins, bound, dtype, device): constants as tensors of the data's dtype (a Python
#: number in a tensor operation costs a conversion each call).
_CONSTANTS: dict[tuple, tuple] = {}


def _constants(bins: int, bound: float, dtype: torch.dtype, device: torch.device) -> tuple:
    key = (bins, bound, dtype, device)
    found = _CONSTANTS.get(key)
    if found is None:
        span = 2 * bound
        values = (span * _MIN_BIN, bound, _DERIVATIVE_SHIFT, _MIN_DERIVATIVE, 1.0, 0.0)
        found = (
            *(torch.tensor(v, dtype=dtype, device=device) for v in values),
            span * (1 - _MIN_BIN * bins),
            torch.tensor([[2 * bins], [2 * bins + 1]], device=device),
            torch.arange(bins, device=device)[:, None],
        )
        _CONSTANTS[key] = found
    return found


class _RationalQuadratic(torch.autograd.Function):
    """``(x, θ) ↦ (y, log|dy/dx|)`` (or the inverse) as one node with closed-form gradients.

    Layout: the ``N`` elements are flattened and the parameters transposed to ``(P, N)``, so
    that every per-bin slice, reduction and gather below runs on contiguous memory.
    """

    @staticmethod
    def forward(ctx, x: Tensor, params: Tensor, bound: float, inverse: bool):  # type: ignore[override]  # noqa: FBT001
        bins = (params.shape[-1] + 1) // 3
        n = x.numel()
        low, bound_t, shift, min_d, one, zero, scale, pair, _ = _constants(
            bins, bound, x.dtype, x.device
        )
        flat = x.reshape(n)
        columns = params.reshape(n, -1).t()
        zero_row = zero.expand(1, n)
        # Rows: K raw widths, K raw heights, then the K + 1 raw knot derivatives with the two
        # boundary ones 0 (softplus(0 + shift) + min = 1: the C¹ join with the tails).
        table = torch.cat((columns[: 2 * bins], zero_row, columns[2 * bins :], zero_row))
        raw = table[: 2 * bins].view(2, bins, n)
        exponentials = (raw - raw.amax(1, keepdim=True)).exp_()
        probabilities = exponentials.div_(exponentials.sum(1, keepdim=True))
        sizes = torch.add(low, probabilities, alpha=scale)  # (2, K, N): widths, heights
        right = sizes.cumsum(1)  # right knots measured from −B
        inside = flat.abs() < bound
        position = torch.add(flat.clamp(-bound, bound), bound_t)
        # Bin index: the number of interior knots at or below the point.
        k = (position >= right[1 if inverse else 0, :-1]).sum(0)
        index = k.expand(2, 1, n)
        width_height = sizes.gather(1, index).view(2, n)
        left = right.gather(1, index).view(2, n).sub_(width_height)
        raw_derivatives = table.gather(0, k + pair).add_(shift)
        d0, d1 = F.softplus(raw_derivatives).add_(min_d)
        w, h = width_height
        s = h / w
        curvature = (d0 + d1).sub_(s).sub_(s)
        if inverse:
            shifted = position - left[1]
            a = torch.addcmul(h * (s - d0), shifted, curvature)
            b = torch.addcmul(h * d0, shifted, curvature, value=-1.0)
            c = s * shifted
            # The root in [0, 1] of a ξ² + b ξ − c = 0 in the cancellation-free form
            # 2c / (b + √(b² + 4ac)).
            discriminant = torch.addcmul(b * b, a, c, value=4.0).clamp_min_(0)
            xi = (c + c).div_(discriminant.sqrt_().add_(b)).clamp_(0, 1)
            out = torch.addcmul(left[0], xi, w).sub_(bound_t)
        else:
            xi = ((position - left[0]) / w).clamp_(0, 1)
        om = one - xi
        t = xi * om
        xi2 = xi * xi
        om2 = om * om
        denominator = torch.addcmul(s, curvature, t)
        numerator = torch.addcmul(s * xi2, d0, t)  # (y − y_k) = h · numerator / D
        slope = torch.addcmul(torch.addcmul(d1 * xi2, s, t, value=2.0), d0, om2)  # y' D²/s²
        if not inverse:
            out = torch.addcdiv(left[1] - bound_t, h * numerator, denominator)
        ratio = s / denominator
        log_derivative = (slope * ratio * ratio).log_()
        if inverse:
            log_derivative = log_derivative.neg_()
        ctx.bound, ctx.inverse = bound, inverse
        ctx.save_for_backward(x, params)
        ctx.local = (xi, om, t, xi2, om2, s, w, h, d0, d1, curvature, denominator, numerator)
        ctx.rest = (slope, raw_derivatives, k, inside, probabilities)
        y = torch.where(inside, out, flat).view(x.shape)
        return y, torch.where(inside, log_derivative, zero).view(x.shape)

    @staticmethod
    def backward(ctx, grad_y: Tensor, grad_log: Tensor):  # type: ignore[override]
        x, params = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph=True: differentiate the plain-autograd map so that the gradient
            # itself has a graph (Hessian-vector products, double backward).
            return (*_reference_gradients(ctx, x, params, grad_y, grad_log), None, None)
        return (*_closed_form_gradients(ctx, params, grad_y, grad_log), None, None)


def _closed_form_gradients(
    ctx, params: Tensor, grad_y: Tensor, grad_log: Tensor
) -> tuple[Tensor | None, Tensor | None]:
    """Gradients to ``x`` and ``θ`` from the partial derivatives of ``y`` and ``L = log y'``.

    With ``t = ξ(1 − ξ)``, ``A`` = numerator, ``P`` = slope term and ``D`` = denominator:
    ``y_ξ = h s P / D²``, ``y_s = h (ξ² D − A(1 − 2t)) / D²``, ``y_h = A / D``,
    ``y_{d_k} = h t (D − A)/D²``, ``y_{d_{k+1}} = −h t A / D²``;
    ``L_ξ = 2[(d_{k+1} ξ + s(1 − 2ξ) − d_k(1 − ξ))/P − (d_k + d_{k+1} − 2s)(1 − 2ξ)/D]``,
    ``L_s = 2[1/s + t/P − (1 − 2t)/D]``, ``L_{d_k} = (1 − ξ)²/P − 2t/D``,
    ``L_{d_{k+1}} = ξ²/P − 2t/D``; then ``ξ = (x − x_k)/w`` and ``s = h/w`` carry them to the
    knots and sizes, the cumulative sum and the softmax to the raw widths and heights.
    """
    n = grad_y.numel()
    bins = (params.shape[-1] + 1) // 3
    *_, zero, scale, _, positions = _constants(bins, ctx.bound, grad_y.dtype, grad_y.device)
    xi, om, t, xi2, om2, s, w, h, d0, d1, curvature, denominator, numerator = ctx.local
    slope, raw_derivatives, k, inside, probabilities = ctx.rest
    grad_y, grad_log = grad_y.reshape(n), grad_log.reshape(n)
    inv_d, inv_w, inv_p = denominator.reciprocal(), w.reciprocal(), slope.reciprocal()
    q = om - xi  # 1 − 2ξ
    h_d2 = h * inv_d * inv_d
    log_xi = (d1 * xi).addcmul_(s, q).addcmul_(d0, om, value=-1.0).mul_(inv_p)
    log_xi = log_xi.addcmul_(curvature * q, inv_d, value=-1.0)
    log_xi = log_xi + log_xi
    if ctx.inverse:
        # x = f⁻¹(y): ∂x/∂y = 1/f_x with f_x = y_ξ / w, and log|dx/dy| = −L(x). The
        # gradient to y is (ḡ_x − ḡ_L L_ξ / w)/f_x; the gradient to θ is the forward map's
        # with (ḡ_y, ḡ_L) replaced by minus (the gradient to y, ḡ_L).
        gradient = torch.addcmul(grad_y, grad_log * log_xi, inv_w, value=-1.0)
        gradient = gradient.mul_(w).div_(h_d2 * s * slope)
        grad_input = torch.where(inside, gradient, grad_y)
        gy = torch.where(inside, gradient, zero).neg_()
        gl = torch.where(inside, grad_log, zero).neg_()
    else:
        gy = torch.where(inside, grad_y, zero)
        gl = torch.where(inside, grad_log, zero)
    one_minus_2t = xi2 + om2
    gy_h_d2 = gy * h_d2
    g_xi = torch.addcmul(gy_h_d2 * s * slope, gl, log_xi)
    log_s = torch.addcmul(s.reciprocal(), t, inv_p).addcmul_(one_minus_2t, inv_d, value=-1.0)
    y_s = (xi2 * denominator).addcmul_(numerator, one_minus_2t, value=-1.0)
    g_s_w = torch.addcmul(gy_h_d2 * y_s, gl, log_s, value=2.0).mul_(inv_w)
    g_xi_w = g_xi * inv_w
    if not ctx.inverse:
        grad_input = torch.where(inside, g_xi_w, grad_y)
    grad_params = None
    if ctx.needs_input_grad[1]:
        g_width = torch.addcmul(xi * g_xi_w, s, g_s_w).neg_()
        g_height = (gy * numerator * inv_d).add_(g_s_w)
        two_t_d = (t + t) * inv_d
        gy_h_d2_t = gy_h_d2 * t
        g_d0 = (gy_h_d2_t * (denominator - numerator)).addcmul_(gl, om2 * inv_p - two_t_d)
        g_d1 = (gy_h_d2_t * numerator).neg_().addcmul_(gl, xi2 * inv_p - two_t_d)
        # left_k = Σ_{i<k} size_i: size i gets its own gradient at i = k, the left knot's for
        # every i < k (rows: widths, heights; the left y-knot's gradient is ḡ_y).
        at, before = positions == k, positions < k
        g_sizes = torch.where(
            at,
            torch.stack((g_width, g_height))[:, None],
            torch.where(before, torch.stack((g_xi_w.neg(), gy))[:, None], zero),
        )
        weighted = probabilities * g_sizes
        g_raw = weighted.addcmul_(probabilities, weighted.sum(1, keepdim=True), value=-1.0)
        g_raw = g_raw.mul_(scale)
        g_derivatives = torch.stack((g_d0, g_d1)).mul_(torch.sigmoid(raw_derivatives))
        g_inner = torch.where(
            at[1:], g_derivatives[0], torch.where(at[:-1], g_derivatives[1], zero)
        )
        grad_params = torch.cat((g_raw.view(2 * bins, n), g_inner)).t().reshape(params.shape)
    grad_x = grad_input.view(ctx.saved_tensors[0].shape) if ctx.needs_input_grad[0] else None
    return grad_x, grad_params


def _reference_gradients(
    ctx, x: Tensor, params: Tensor, grad_y: Tensor, grad_log: Tensor
) -> tuple[Tensor | None, Tensor | None]:
    needed = ctx.needs_input_grad[:2]
    wanted = [tensor for tensor, need in zip((x, params), needed, strict=True) if need]
    y, log_derivative = rational_quadratic_reference(x, params, ctx.bound, inverse=ctx.inverse)
    grads = iter(
        torch.autograd.grad(
            (y, log_derivative), wanted, (grad_y, grad_log), create_graph=True, allow_unused=True
        )
    )
    return tuple(next(grads) if need else None for need in needed)  # type: ignore[return-value]


# -- the plain-autograd reference -------------------------------------------------------------


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


def rational_quadratic_reference(
    x: Tensor, params: Tensor, bound: float, *, inverse: bool = False
) -> tuple[Tensor, Tensor]:
    """:func:`rational_quadratic` as plain autograd operations (any order of derivatives).

    Slower (tens of autograd nodes instead of one); used for ``create_graph=True`` and as the
    reference of the tests.

    Example:
        >>> params = torch.randn(4, 3 * 5 - 1, dtype=torch.float64)
        >>> x = torch.linspace(-1.0, 1.0, 4, dtype=torch.float64)
        >>> fast = rational_quadratic(x, params, 2.0)
        >>> slow = rational_quadratic_reference(x, params, 2.0)
        >>> all(torch.allclose(a, b, atol=1e-12) for a, b in zip(fast, slow))
        True
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
