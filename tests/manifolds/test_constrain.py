"""constrain(): registration, right inverse errors, wide and convolution weights, speed."""

from __future__ import annotations

import time

import pytest
import torch
from torch.nn.utils import parametrize

from structdl import ConfigError, NotOnManifoldError, ShapeError
from structdl.manifolds import (
    SPD,
    ManifoldParameter,
    SpecialOrthogonal,
    Sphere,
    Stiefel,
    attach,
    constrain,
)
from structdl.structure import assert_preserves


def test_off_manifold_assignment_raises_naming_the_manifold():
    layer = constrain(torch.nn.Linear(3, 6), "weight", Stiefel())
    with pytest.raises(NotOnManifoldError, match=r"Stiefel — expected .*XᵀX = I"):
        layer.weight = torch.randn(6, 3)
    q = Stiefel().random_point(6, 3)
    layer.weight = q  # a point on the manifold is accepted and reproduced exactly
    assert torch.allclose(layer.weight, q, atol=1e-6)


def test_keep_requires_a_point_on_the_manifold():
    with pytest.raises(NotOnManifoldError, match="SO\\(n\\)"):
        constrain(torch.nn.Linear(4, 4), "weight", SpecialOrthogonal(), init="keep")


def test_non_square_so_weight_is_a_shape_error():
    with pytest.raises(ShapeError, match="not square"):
        constrain(torch.nn.Linear(3, 5), "weight", SpecialOrthogonal())


def test_unknown_parameter_and_init_raise():
    with pytest.raises(ConfigError, match="no tensor"):
        constrain(torch.nn.Linear(3, 3), "weights", Stiefel())
    with pytest.raises(ConfigError, match="init"):
        constrain(torch.nn.Linear(3, 3), "weight", Stiefel(), init="zeros")
    with pytest.raises(ConfigError, match="manifold"):
        constrain(torch.nn.Linear(3, 3), "weight", "stiefel")


def test_wide_weight_has_orthonormal_rows_and_declares_it():
    layer = constrain(torch.nn.Linear(8, 3), "weight", Stiefel())
    w = layer.weight
    assert torch.allclose(w @ w.T, torch.eye(3), atol=1e-5)
    parametrisation = layer.parametrizations.weight[0]
    z = torch.randn(2, 3, 8, dtype=torch.float32)
    # The parametrisation maps any unconstrained tensor onto the manifold: checked on a batch.
    assert_preserves(
        lambda b: torch.stack([parametrisation.to_point(parametrisation(t)) for t in b]),
        z,
        properties=parametrisation.claims[0:1] and [parametrisation.claims[0].property],
    )


def test_orthogonal_convolution_has_orthonormal_flattened_filters():
    conv = constrain(torch.nn.Conv2d(3, 8, 3), "weight", Stiefel())
    flat = conv.weight.reshape(8, -1)  # 8 filters of 27 weights: orthonormal rows
    assert torch.allclose(flat @ flat.T, torch.eye(8), atol=1e-5)
    opt = torch.optim.SGD(conv.parameters(), lr=0.1)
    x = torch.randn(4, 3, 10, 10)
    for _ in range(5):
        opt.zero_grad()
        conv(x).pow(2).mean().backward()
        opt.step()
    flat = conv.weight.reshape(8, -1)
    assert torch.allclose(flat @ flat.T, torch.eye(8), atol=1e-5)


def test_sphere_rows_and_spd_round_trip():
    layer = constrain(torch.nn.Linear(5, 4), "weight", Sphere())
    assert torch.allclose(layer.weight.norm(dim=1), torch.ones(4), atol=1e-6)
    module = torch.nn.Module()
    module.weight = torch.nn.Parameter(torch.eye(3, dtype=torch.float64))
    constrain(module, "weight", SPD())
    target = SPD().random_point(3, 3, dtype=torch.float64)
    module.weight = target
    assert torch.allclose(module.weight, target, atol=1e-10)


def test_tall_stiefel_registers_in_under_a_second():
    layer = torch.nn.Linear(50, 30000, bias=False)
    start = time.perf_counter()
    constrain(layer, "weight", Stiefel())
    elapsed = time.perf_counter() - start
    assert parametrize.is_parametrized(layer, "weight")
    assert Stiefel().check_point(layer.weight.detach())
    assert elapsed < 1.0, f"registration took {elapsed:.2f} s"


def test_manifold_parameter_rejects_off_manifold_data_and_survives_deepcopy():
    with pytest.raises(NotOnManifoldError, match="Sphere"):
        ManifoldParameter(torch.ones(3), Sphere())
    import copy

    w = ManifoldParameter(Sphere().random_point(3), Sphere())
    clone = copy.deepcopy(w)
    assert isinstance(clone, ManifoldParameter) and clone.manifold is w.manifold
    p = attach(torch.nn.Parameter(Sphere().random_point(3)), Sphere())
    assert p.manifold.name == "Sphere"
    with pytest.raises(NotOnManifoldError):
        attach(torch.nn.Parameter(torch.ones(3)), Sphere())
