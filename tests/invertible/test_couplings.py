"""Couplings, splines and masked autoregressive layers: behaviour beyond the contract."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError, ShapeError
from structdl.invertible import (
    MADE,
    AdditiveCoupling,
    AffineCoupling,
    MaskedAutoregressive,
    SplineCoupling,
)
from structdl.invertible._spline import rational_quadratic
from structdl.structure import VolumePreserving, guarantees


def test_spline_is_identity_outside_interval_with_finite_gradients() -> None:
    torch.manual_seed(0)
    params = torch.randn(5, 2, 3 * 6 - 1, requires_grad=True)
    x = torch.tensor([[-1e6, 0.3], [-2.5, 1.99], [4.0, -0.7], [1e30, 2.0], [-2.0, 0.0]])
    y, log_derivative = rational_quadratic(x, params, 2.0)
    outside = x.abs() >= 2.0
    assert torch.equal(y[outside], x[outside])
    assert torch.equal(log_derivative[outside], torch.zeros_like(log_derivative[outside]))
    (y.sum() + log_derivative.sum()).backward()
    assert torch.isfinite(params.grad).all()
    back, inverse_log = rational_quadratic(y, params, 2.0, inverse=True)
    assert torch.allclose(back[~outside], x[~outside], atol=1e-5)
    assert torch.allclose(inverse_log, -log_derivative, atol=1e-5)


def test_fresh_spline_is_the_identity() -> None:
    x = torch.linspace(-3, 3, 101, dtype=torch.float64)
    params = torch.zeros(101, 3 * 8 - 1, dtype=torch.float64)
    y, log_derivative = rational_quadratic(x, params, 2.0)
    assert torch.allclose(y, x, atol=1e-12)
    assert log_derivative.abs().max() < 1e-12


def test_spline_is_monotone_and_maps_interval_onto_itself() -> None:
    torch.manual_seed(1)
    x = torch.linspace(-2, 2, 401, dtype=torch.float64)
    params = 3 * torch.randn(1, 3 * 5 - 1, dtype=torch.float64).expand(401, -1)
    y, _ = rational_quadratic(x, params, 2.0)
    assert (y[1:] - y[:-1] > 0).all()
    assert torch.allclose(y[[0, -1]], torch.tensor([-2.0, 2.0], dtype=torch.float64))


def test_additive_coupling_declares_volume_preservation_and_affine_does_not() -> None:
    assert VolumePreserving() in guarantees(AdditiveCoupling(4))
    assert VolumePreserving() not in guarantees(AffineCoupling(4))


def test_affine_scale_is_bounded_whatever_the_network_says() -> None:
    layer = AffineCoupling(2, scale_bound=2.0)
    with torch.no_grad():
        layer.conditioner.net[-1].bias.fill_(1e4)
    z, logdet = layer.forward_and_logdet(torch.randn(8, 2))
    assert torch.isfinite(z).all() and logdet.abs().max() <= 2.0 + 1e-6


def test_coupling_keeps_half_unchanged() -> None:
    layer = AffineCoupling(5, parity=1)
    x = torch.randn(4, 5)
    z = layer(x)
    # parity 1 keeps the second part (features 2..4) and changes the first two.
    assert torch.equal(z[:, 2:], x[:, 2:])


def test_made_masks_are_autoregressive() -> None:
    torch.manual_seed(0)
    made = MADE(5, 3, hidden=16)
    with torch.no_grad():
        for p in made.parameters():
            p.add_(torch.randn_like(p))
    jac = torch.autograd.functional.jacobian(lambda v: made(v[None])[0].sum(-1), torch.randn(5))
    assert torch.equal(jac.triu(), torch.zeros_like(jac))
    assert jac.tril(-1).abs().sum() > 0


@pytest.mark.parametrize(
    "build",
    [
        lambda: AffineCoupling(4, context_features=3),
        lambda: SplineCoupling(4, context_features=3),
        lambda: MaskedAutoregressive(4, context_features=3),
    ],
)
def test_wrong_or_missing_context_is_a_shape_error(build) -> None:
    layer = build()
    x = torch.randn(2, 4)
    with pytest.raises(ShapeError, match=r"expected \(2, 3\)"):
        layer(x, torch.randn(2, 5))
    with pytest.raises(ShapeError, match="context is required"):
        layer(x)


def test_bad_options_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match="parity"):
        AffineCoupling(4, parity=2)
    with pytest.raises(ConfigError, match="bins"):
        SplineCoupling(4, bins=1)
    with pytest.raises(ConfigError, match="transform"):
        MaskedAutoregressive(3, transform="quadratic")
    with pytest.raises(ShapeError, match=r"expected \(batch, 4"):
        AffineCoupling(4)(torch.randn(2, 3))
