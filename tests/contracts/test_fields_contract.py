"""One contract, parametrised over every vector field class exported by ``structdl.dynamics``.

Adding a field to ``structdl.dynamics.__all__`` without a factory here fails
:func:`test_every_exported_field_has_a_factory`, so a new field is tested the day it is exported
The contract: the output has the state's structure and shape, the dtype is
preserved (float32 and float64), gradients reach every parameter, and the declared ``kinds`` are
valid and backed by the methods each kind promises.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import structdl.dynamics as dynamics
from structdl.dynamics import FIELD_KINDS, VectorField

FACTORIES: dict[str, Callable[[], VectorField]] = {
    "Residual": lambda: dynamics.Residual(3, width=5),
    "GradientFlow": lambda: dynamics.GradientFlow(3, width=4),
    "Antisymmetric": lambda: dynamics.Antisymmetric(3, gamma=0.1),
    "SeparableHamiltonian": lambda: dynamics.SeparableHamiltonian(3, width=4),
    "SecondOrder": lambda: dynamics.SecondOrder(3, width=4),
    "HamiltonianTwoStream": lambda: dynamics.HamiltonianTwoStream(3),
    "HamiltonianShear": lambda: dynamics.HamiltonianShear(3),
    "HamiltonianRidge": lambda: dynamics.HamiltonianRidge(3, n_ridges=3),
    "SingleRidgeShear": lambda: dynamics.SingleRidgeShear(3),
    "RidgeShearSum": lambda: dynamics.RidgeShearSum(3, n_ridges=3),
    "LieAlgebraField": lambda: dynamics.LieAlgebraField(6),
    "SplitField": lambda: dynamics.SplitField(
        [dynamics.SingleRidgeShear(3), dynamics.SingleRidgeShear(3)]
    ),
    "HarmonicOscillator": lambda: dynamics.HarmonicOscillator(3),
    "Pendulum": lambda: dynamics.Pendulum(3),
    "Kepler": lambda: dynamics.Kepler(0.5),
    "HenonHeiles": lambda: dynamics.HenonHeiles(),
}

#: What each kind promises to expose (see structdl.dynamics._base.FIELD_KINDS).
PROMISES: dict[str, tuple[str, ...]] = {
    "gradient": ("potential", "lipschitz_bound"),
    "hamiltonian": ("energy",),
    "separable": ("grad_q", "grad_p", "energy"),
    "energy": ("energy", "structure_matrix"),
    "lie": ("xi", "act"),
    "shear": ("exact_flow",),
    "split": ("parts",),
}


def _exported_fields() -> set[str]:
    names = set()
    for name in dynamics.__all__:
        obj = getattr(dynamics, name)
        if isinstance(obj, type) and issubclass(obj, VectorField) and obj is not VectorField:
            if not getattr(obj, "__abstractmethods__", None):
                names.add(name)
    return names


def _state(field: VectorField, dtype: torch.dtype) -> object:
    gen = torch.Generator().manual_seed(0)
    dim = getattr(field, "dim", 3)
    if "partitioned" in field.kinds:
        q = torch.randn(5, dim, generator=gen, dtype=dtype)
        p = torch.randn(5, dim, generator=gen, dtype=dtype)
        return q + 2.0 * torch.sign(q), p  # away from the Kepler singularity at q = 0
    y = torch.randn(5, dim, generator=gen, dtype=dtype)
    if "lie" in field.kinds:
        y = torch.nn.functional.normalize(y, dim=1)
    return y


def _parts(y: object) -> tuple[torch.Tensor, ...]:
    return y if isinstance(y, tuple) else (y,)  # type: ignore[return-value]


def test_every_exported_field_has_a_factory() -> None:
    assert _exported_fields() == set(FACTORIES)


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_has_the_state_structure_shape_and_dtype(name: str, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    field = FACTORIES[name]().to(dtype)
    y = _state(field, dtype)
    out = field(0.0, y)
    assert isinstance(out, tuple) == isinstance(y, tuple)
    for a, b in zip(_parts(out), _parts(y), strict=True):
        assert a.shape == b.shape and a.dtype == dtype
        assert torch.isfinite(a).all()


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_gradient_reaches_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    field = FACTORIES[name]().double()
    params = list(field.parameters())
    if not params:
        pytest.skip(f"{name} has no trainable parameters")
    out = field(0.0, _state(field, torch.float64))
    sum(part.square().sum() for part in _parts(out)).backward()
    for pname, p in field.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_declared_kinds_are_valid_and_backed_by_methods(name: str) -> None:
    field = FACTORIES[name]()
    assert field.kinds and field.kinds <= FIELD_KINDS
    # a state is a tensor ("general") or a pair ("partitioned"), never both
    assert not {"general", "partitioned"} <= field.kinds
    for kind in field.kinds & set(PROMISES):
        for attribute in PROMISES[kind]:
            assert hasattr(field, attribute), f"{name} is {kind!r} but lacks {attribute}"
    if "split" in field.kinds:
        assert all(isinstance(part, VectorField) for part in field.parts)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_declared_hamiltonian_fields_are_j_grad_h(name: str) -> None:
    field = FACTORIES[name]().double()
    if "hamiltonian" not in field.kinds:
        pytest.skip(f"{name} is not declared Hamiltonian")
    q, p = (part.requires_grad_(True) for part in _state(field, torch.float64))
    gq, gp = torch.autograd.grad(field.energy(q, p).sum(), (q, p))
    dq, dp = field(0.0, (q, p))
    assert torch.allclose(dq, gp, atol=1e-12) and torch.allclose(dp, -gq, atol=1e-12)


TENSOR_FIELDS: dict[str, Callable[[int], VectorField]] = {
    "Residual": lambda d: dynamics.Residual(d, width=2 * d),
    "GradientFlow": lambda d: dynamics.GradientFlow(d, width=d + 1),
    "Antisymmetric": lambda d: dynamics.Antisymmetric(d),
    "RidgeShearSum": lambda d: dynamics.RidgeShearSum(d, n_ridges=2),
}
PAIR_FIELDS: dict[str, Callable[[int], VectorField]] = {
    "SeparableHamiltonian": lambda d: dynamics.SeparableHamiltonian(d, width=d + 1),
    "SecondOrder": lambda d: dynamics.SecondOrder(d),
    "HamiltonianTwoStream": lambda d: dynamics.HamiltonianTwoStream(d),
    "HamiltonianRidge": lambda d: dynamics.HamiltonianRidge(d, n_ridges=2),
}


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(sorted(TENSOR_FIELDS) + sorted(PAIR_FIELDS)),
    dim=st.integers(1, 6),
    batch=st.lists(st.integers(1, 4), min_size=1, max_size=2),
)
def test_any_width_and_batch_shape(name: str, dim: int, batch: list[int]) -> None:
    factory = TENSOR_FIELDS.get(name) or PAIR_FIELDS[name]
    field = factory(dim).double()
    shape = (*batch, dim)
    if name in PAIR_FIELDS:
        y = (torch.randn(shape, dtype=torch.float64), torch.randn(shape, dtype=torch.float64))
        assert all(part.shape == shape for part in field(0.0, y))
    else:
        assert field(0.0, torch.randn(shape, dtype=torch.float64)).shape == shape
