"""The fast paths of the matrix retractions equal their definitions.

- ``_retract_ambient(x, u)`` (used by the Riemannian optimisers, which skip the tangent
  projection where the retraction reads only the tangent part) equals ``R_x(P_x u)``;
- the square (group) form of the Stiefel Cayley map equals the Wen–Yin formula;
- the float32 Newton–Schulz correction leaves a defect at round-off level for large frames.
"""

from __future__ import annotations

import pytest
import torch

from structdl.manifolds import Grassmann, Oblique, SpecialOrthogonal, Sphere, Stiefel
from structdl.manifolds._linalg import newton_schulz

CASES = [
    (Stiefel, (7, 7)),  # square: the group form
    (Stiefel, (5, 3)),  # n ≤ 2p: the dense n × n solve
    (Stiefel, (9, 3)),  # tall: Woodbury
    (SpecialOrthogonal, (5, 5)),
    (Grassmann, (6, 2)),
    (Sphere, (3, 4)),
    (Oblique, (6, 3)),
]


@pytest.mark.parametrize(
    ("cls", "shape", "method"),
    [(cls, shape, m) for cls, shape in CASES for m in cls.retractions],
)
def test_retract_ambient_is_the_retraction_of_the_projection(cls, shape, method):
    manifold = cls(method)
    gen = torch.Generator().manual_seed(0)
    x = manifold.random_point(2, *shape, generator=gen, dtype=torch.float64)
    ambient = 0.3 * torch.randn(x.shape, generator=gen, dtype=torch.float64)
    fast = manifold._retract_ambient(x, ambient, method)
    reference = manifold.retract(x, manifold.proj_tangent(x, ambient), method)
    assert torch.allclose(fast, reference, rtol=0, atol=1e-12)
    # The ambient step is not tangent (else the test would not test the skip).
    assert float((manifold.proj_tangent(x, ambient) - ambient).abs().max()) > 1e-2


@pytest.mark.parametrize("shape", [(6, 6), (5, 3)])
def test_cayley_equals_the_wen_yin_formula(shape):
    gen = torch.Generator().manual_seed(1)
    st = Stiefel("cayley")
    x = st.random_point(*shape, generator=gen, dtype=torch.float64)
    u = st.proj_tangent(x, 0.4 * torch.randn(shape, generator=gen, dtype=torch.float64))
    # (I − A/2)⁻¹(I + A/2) X with A = P U Xᵀ − X (P U)ᵀ, P U = U − ½ X XᵀU, dense n × n.
    pu = u - 0.5 * x @ (x.T @ u)
    a = pu @ x.T - x @ pu.T
    eye = torch.eye(shape[0], dtype=torch.float64)
    reference = torch.linalg.solve(eye - 0.5 * a, (eye + 0.5 * a) @ x)
    assert torch.allclose(st.retract(x, u), reference, rtol=0, atol=1e-12)


def _defect(y: torch.Tensor) -> float:
    wide = y.double()
    return float((wide.T @ wide - torch.eye(y.shape[1], dtype=torch.float64)).abs().max())


@pytest.mark.parametrize("n", [128, 512])
def test_float32_newton_schulz_reaches_round_off(n):
    gen = torch.Generator().manual_seed(2)
    x = Stiefel().random_point(n, n, generator=gen, dtype=torch.float64)
    y = (x + 3e-5 * torch.randn(n, n, generator=gen, dtype=torch.float64) / n**0.5).float()
    assert _defect(y) > 5e-6
    corrected = newton_schulz(y)
    assert corrected.dtype == torch.float32
    # Bars of the 10⁴-step drift: 1e-6 at n = 128, 4e-6 at n = 512; one step sits far below.
    assert _defect(corrected) < 2e-7  # measured ~1e-7; a float32 Gram diagonal gives ~5e-7
    # float64: the defect is squared, O(E²).
    assert _defect(newton_schulz(y.double())) < 1e-8
