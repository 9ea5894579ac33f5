"""check_lipschitz: non-expansive tanh layers pass, over-stepped ones fail, and the
adversarial search finds an expansion that random pairs miss."""

from __future__ import annotations

import pytest
import torch
from _structure_maps import one_expanding_direction, scaling, spectral_norm, tanh_layer

from structdl import StructureViolation
from structdl.structure import assert_lipschitz, check_lipschitz, tolerance

DTYPES = [torch.float32, torch.float64]


def random_layer(dim: int, dtype: torch.dtype, step_factor: float):
    """The tanh layer x − h Aᵀtanh(Ax + b) with h = step_factor / ‖A‖²."""
    gen = torch.Generator().manual_seed(1)
    weight = torch.randn(dim, dim, generator=gen, dtype=dtype)
    bias = torch.randn(dim, generator=gen, dtype=dtype)
    return tanh_layer(weight, bias, step_factor / spectral_norm(weight) ** 2)


def points(n: int, dim: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("step_factor", [1.0, 2.0])
def test_tanh_layer_within_step_bound_is_non_expansive(dtype, step_factor):
    result = check_lipschitz(random_layer(6, dtype, step_factor), points(16, 6, dtype))
    assert result.ok, result.reason
    assert result.worst <= 1 + tolerance(dtype).lipschitz
    # The layer is the identity on directions A ignores, so the search must get close to 1.
    assert result.worst > 0.99


@pytest.mark.parametrize("dtype", DTYPES)
def test_close_pairs_along_the_top_singular_direction_find_what_random_pairs_miss(dtype):
    dim = 64
    weight = one_expanding_direction(dim, dtype)
    layer = tanh_layer(weight, torch.zeros(dim, dtype=dtype), 3.0 / spectral_norm(weight) ** 2)
    x = 0.05 * points(8, dim, dtype)
    # Without the search: the close pairs along each point's top singular direction already
    # see the expanding eigenvalue −2 (a random direction in R^64 has almost no part along it).
    random_only = check_lipschitz(layer, x, n_pairs=32, ascent_steps=0)
    assert not random_only.ok and random_only.worst > 1.9
    searched = check_lipschitz(layer, x, n_pairs=32)
    assert not searched.ok
    # Near 0 the expanding eigenvalue is 1 − 3 = −2: the search should get close to ratio 2.
    assert searched.worst > 1.5
    assert "VIOLATED" in searched.reason and "adversarial" in searched.reason


@pytest.mark.parametrize("dtype", DTYPES)
def test_step_beyond_bound_violates(dtype):
    result = check_lipschitz(random_layer(6, dtype, 3.0), points(16, 6, dtype))
    assert not result.ok
    assert result.worst > 1.1


@pytest.mark.parametrize("dtype", DTYPES)
def test_explicit_bound_and_certified_bound(dtype):
    x = points(8, 3, dtype)
    double = scaling(2.0)
    assert not check_lipschitz(double, x, ascent_steps=10).ok  # default bound 1
    given = check_lipschitz(double, x, bound=2.0, ascent_steps=10)
    assert given.ok
    assert given.worst == pytest.approx(2.0, rel=1e-5)

    class Certified:
        """A map that certifies its own Lipschitz constant."""

        def __init__(self, factor: float, certificate: float) -> None:
            self.factor, self.certificate = factor, certificate

        def __call__(self, v):
            return self.factor * v

        def lipschitz_bound(self):
            return torch.tensor(self.certificate)

    honest = check_lipschitz(Certified(2.0, 2.0), x, ascent_steps=10)
    assert honest.ok and "map.lipschitz_bound()" in honest.reason
    assert not check_lipschitz(Certified(2.0, 1.5), x, ascent_steps=10).ok


def test_search_is_seeded_and_leaves_global_rng_and_grads_alone():
    layer = torch.nn.Linear(4, 4, dtype=torch.float64)
    x = points(6, 4, torch.float64)
    state = torch.random.get_rng_state()
    first = check_lipschitz(layer, x, bound=10.0, ascent_steps=5)
    assert torch.equal(state, torch.random.get_rng_state())
    assert check_lipschitz(layer, x, bound=10.0, ascent_steps=5).worst == first.worst
    assert all(p.grad is None for p in layer.parameters())


def test_image_shaped_inputs():
    x = points(4, 2 * 3 * 3, torch.float64).reshape(4, 2, 3, 3)
    assert check_lipschitz(lambda v: 0.5 * torch.tanh(v), x, ascent_steps=10).ok
    assert not check_lipschitz(lambda v: 1.5 * v, x, ascent_steps=10).ok


def test_single_point_batch():
    x = points(1, 3, torch.float64)
    assert not check_lipschitz(scaling(1.2), x, ascent_steps=5).ok
    assert check_lipschitz(scaling(0.8), x, ascent_steps=5).ok


@pytest.mark.parametrize("dtype", DTYPES)
def test_assert_lipschitz_raises(dtype):
    with pytest.raises(StructureViolation, match=r"Lipschitz bound 1 .*VIOLATED"):
        assert_lipschitz(scaling(1.1), points(4, 3, dtype), ascent_steps=0)
    assert assert_lipschitz(scaling(0.9), points(4, 3, dtype), ascent_steps=0).ok
