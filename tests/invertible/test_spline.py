"""The single-node rational-quadratic spline against its plain-autograd reference.

The fast spline computes its gradients in closed form (value, log-derivative, both
directions); every figure here is compared with autograd through the reference, in float64,
on points inside and outside the interval and on parameters far from the identity.
"""

from __future__ import annotations

import pytest
import torch

from structdl import ShapeError
from structdl.invertible._spline import (
    rational_quadratic,
    rational_quadratic_reference,
    spline_parameter_count,
)

BOUND = 2.0


def _case(
    bins: int, seed: int, n: int = 64, scale: float = 2.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points mostly inside ``[−B, B]`` (some far outside) and parameters of spread ``scale``
    (2.5: bins and knot slopes spanning three orders of magnitude), float64."""
    gen = torch.Generator().manual_seed(seed)
    x = 1.2 * torch.randn(n, 3, generator=gen, dtype=torch.float64)
    x[0, 0], x[1, 1], x[2, 2] = 1e6, -3.0, BOUND + 1e-9
    params = scale * torch.randn(
        n, 3, spline_parameter_count(bins), generator=gen, dtype=torch.float64
    )
    return x, params


def _value_and_gradients(fn, x, params, inverse, weights):
    x = x.clone().requires_grad_(True)
    params = params.clone().requires_grad_(True)
    y, log_derivative = fn(x, params, BOUND, inverse=inverse)
    loss = (weights[0] * y).sum() + (weights[1] * log_derivative).sum()
    gx, gp = torch.autograd.grad(loss, (x, params))
    return y.detach(), log_derivative.detach(), gx, gp


@pytest.mark.parametrize("direction", ["forward", "inverse"])
@pytest.mark.parametrize("bins", [2, 5, 8])
def test_values_and_gradients_equal_the_autograd_reference(bins: int, direction: str) -> None:
    inverse = direction == "inverse"
    x, params = _case(bins, seed=bins)
    if inverse:  # invert points of the image, including the identity tails
        x = rational_quadratic_reference(x, params, BOUND)[0]
    gen = torch.Generator().manual_seed(7)
    weights = torch.randn(2, *x.shape, generator=gen, dtype=torch.float64)
    fast = _value_and_gradients(rational_quadratic, x, params, inverse, weights)
    slow = _value_and_gradients(rational_quadratic_reference, x, params, inverse, weights)
    for a, b in zip(fast, slow, strict=True):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-10), (a - b).abs().max()
    # Outside the interval: identity, zero log-derivative, no gradient to the parameters.
    assert fast[0][0, 0] == x[0, 0] and fast[1][0, 0] == 0
    assert fast[3][0, 0].abs().max() == 0


def test_gradcheck_both_directions() -> None:
    x, params = _case(4, seed=3, n=6)
    x[2, 2] = 0.5  # not within the finite-difference step of the kink at x = B
    for inverse in (False, True):
        assert torch.autograd.gradcheck(
            lambda a, p, inv=inverse: rational_quadratic(a, p, BOUND, inverse=inv),
            (x.clone().requires_grad_(True), params.clone().requires_grad_(True)),
        )


def test_inverse_is_exact_to_1e_10_and_finite_outside() -> None:
    x, params = _case(8, seed=11, n=2000, scale=1.0)
    x[:100] *= 1e3  # far outside
    y, log_derivative = rational_quadratic(x, params, BOUND)
    back, inverse_log = rational_quadratic(y, params, BOUND, inverse=True)
    assert torch.isfinite(y).all() and torch.isfinite(log_derivative).all()
    assert (back - x).abs().max() < 1e-10
    assert (inverse_log + log_derivative).abs().max() < 1e-10


def test_double_backward_uses_the_reference_graph() -> None:
    x, params = _case(5, seed=5, n=8)
    for fn in (rational_quadratic, rational_quadratic_reference):
        a = x.clone().requires_grad_(True)
        p = params.clone().requires_grad_(True)
        y, log_derivative = fn(a, p, BOUND)
        (g,) = torch.autograd.grad(log_derivative.sum() + y.sum(), a, create_graph=True)
        (hessian_diag,) = torch.autograd.grad(g.sum(), a)
        if fn is rational_quadratic:
            fast = hessian_diag
    assert torch.allclose(fast, hessian_diag, atol=1e-10)


def test_per_point_jacobians_by_torch_func() -> None:
    x, params = _case(6, seed=2, n=5)

    def one(row: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return rational_quadratic(row, p, BOUND)[0]

    jac = torch.func.vmap(torch.func.jacrev(one))(x, params)
    derivative = rational_quadratic(x, params, BOUND)[1].exp()
    assert torch.allclose(torch.diagonal(jac, dim1=-2, dim2=-1), derivative, atol=1e-12)


def test_float32_agrees_with_float64_reference() -> None:
    x, params = _case(8, seed=4, n=512, scale=1.0)
    y32, log32 = rational_quadratic(x.float(), params.float(), BOUND)
    y64, log64 = rational_quadratic_reference(x, params, BOUND)
    assert torch.allclose(y32.double(), y64, atol=1e-4, rtol=1e-5)
    assert torch.allclose(log32.double(), log64, atol=1e-4)


def test_one_autograd_node_and_typed_error_on_wrong_parameter_shape() -> None:
    x, params = _case(4, seed=0, n=4)
    y, log_derivative = rational_quadratic(x, params.requires_grad_(True), BOUND)
    assert y.grad_fn is log_derivative.grad_fn  # one node for the whole spline
    with pytest.raises(ShapeError, match="expected x.shape"):
        rational_quadratic(x, params[..., :-1], BOUND)
    with pytest.raises(ShapeError, match="expected x.shape"):
        rational_quadratic(x[:2], params, BOUND)
