"""check_symplectic_embedding: embeddings R^{2k} → R^{2n}, positives and negative controls."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from structdl import ConfigError, NonFiniteError, ShapeError, StructureViolation
from structdl.structure import (
    assert_symplectic_embedding,
    canonical_J,
    check_symplectic,
    check_symplectic_embedding,
    tolerance,
)

F64 = torch.float64


def _symplectic_matrix(n: int, seed: int) -> torch.Tensor:
    """``exp(J S)`` with ``S`` symmetric: a random linear symplectic map of ``R^{2n}``."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(2 * n, 2 * n, generator=gen, dtype=F64) / (2 * n) ** 0.5
    return torch.linalg.matrix_exp(canonical_J(n) @ (a + a.T))


def _coordinates(k: int, n: int) -> torch.Tensor:
    """Columns of ``(q_1 … q_k, p_1 … p_k)`` in ``R^{2n}``: the coordinate embedding."""
    index = list(range(k)) + [n + i for i in range(k)]
    return torch.eye(2 * n, dtype=F64)[:, index]


def _embedding(k: int, n: int, seed: int):  # noqa: ANN202
    """A nonlinear symplectic embedding: coordinates, a linear symplectic map, then a kick."""
    matrix = _symplectic_matrix(n, seed) @ _coordinates(k, n)

    def embed(latent: torch.Tensor) -> torch.Tensor:
        z = latent @ matrix.T
        q, p = z[:, :n], z[:, n:]
        return torch.cat((q, p + torch.sin(q)), dim=1)  # p ← p + ∇(−Σ cos q)

    return embed


@settings(max_examples=10, deadline=None)
@given(k=st.integers(1, 3), extra=st.integers(0, 3), seed=st.integers(0, 10_000))
def test_symplectic_embeddings_pass(k: int, extra: int, seed: int) -> None:
    latent = torch.randn(4, 2 * k, generator=torch.Generator().manual_seed(seed), dtype=F64)
    result = check_symplectic_embedding(_embedding(k, k + extra, seed), latent)
    assert result.ok, result.reason
    assert result.worst <= 1e-12
    assert "symplectic embedding holds" in result.reason


@settings(max_examples=10, deadline=None)
@given(k=st.integers(1, 3), extra=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_negative_controls_fail(k: int, extra: int, seed: int) -> None:
    n = k + extra
    gen = torch.Generator().manual_seed(seed)
    latent = torch.randn(4, 2 * k, generator=gen, dtype=F64)
    # An isometric (orthonormal-column) linear embedding that mixes q and p at random is not
    # symplectic: it keeps lengths, not the form.
    isometry, _ = torch.linalg.qr(torch.randn(2 * n, 2 * k, generator=gen, dtype=F64))
    assert not check_symplectic_embedding(lambda x: x @ isometry.T, latent).ok
    # A symplectic embedding scaled by 1.1 multiplies the pulled-back form by 1.21.
    embed = _embedding(k, n, seed)
    result = check_symplectic_embedding(lambda x: 1.1 * embed(x), latent)
    assert not result.ok and "VIOLATED" in result.reason
    # A nonlinear map of q alone into p (not a gradient): p ← p + A q with A not symmetric.
    a = torch.randn(n, n, generator=gen, dtype=F64)
    a = a - a.T
    coordinates = _coordinates(k, n)

    def skewed(x: torch.Tensor) -> torch.Tensor:
        z = x @ coordinates.T
        q, p = z[:, :n], z[:, n:]
        return torch.cat((q, p + torch.tanh(q) @ a), dim=1)

    if k > 1:  # for k = 1 the coordinate slice sees only a scalar of q: still symplectic
        assert not check_symplectic_embedding(skewed, latent).ok


def test_square_case_agrees_with_check_symplectic() -> None:
    matrix = _symplectic_matrix(3, 0)
    z = torch.randn(5, 6, dtype=F64)
    square = check_symplectic(lambda x: x @ matrix.T, z)
    embedded = check_symplectic_embedding(lambda x: x @ matrix.T, z)
    assert square.ok and embedded.ok
    assert abs(square.worst - embedded.worst) <= 1e-15


def test_float32_tolerance_and_assert_form() -> None:
    latent = torch.randn(3, 2)
    lift = _embedding(1, 3, 1)
    result = check_symplectic_embedding(lambda x: lift(x.double()).float(), latent)
    assert result.ok and result.worst <= tolerance(torch.float32).exact
    assert assert_symplectic_embedding(lift, latent.double()).ok
    with pytest.raises(StructureViolation, match="symplectic embedding VIOLATED"):
        assert_symplectic_embedding(lambda x: 2.0 * lift(x), latent.double())


def test_errors() -> None:
    lift = _embedding(1, 2, 0)
    with pytest.raises(ShapeError, match="odd dimension"):
        check_symplectic_embedding(lift, torch.randn(2, 3, dtype=F64))
    with pytest.raises(ShapeError, match="wrong output"):
        check_symplectic_embedding(lambda x: x[:, :1], torch.randn(2, 2, dtype=F64))
    with pytest.raises(ShapeError, match="wrong output"):
        check_symplectic_embedding(lambda x: torch.cat((x, x[:, :1]), 1), torch.randn(2, 2))
    with pytest.raises(ConfigError, match="not callable"):
        check_symplectic_embedding(3, torch.randn(2, 2, dtype=F64))
    with pytest.raises(NonFiniteError):
        check_symplectic_embedding(lift, torch.full((2, 2), float("nan"), dtype=F64))
