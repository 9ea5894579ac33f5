"""i-ResNet blocks: Lipschitz enforcement, iterative inverses, log-det estimators, gradients."""

from __future__ import annotations

import pytest
import torch

from structdl import ConfigError, InverseError, ShapeError
from structdl.invertible import IResNetBlock
from structdl.invertible._logdet import (
    NeumannLogDet,
    make_probes,
    roulette_coefficients,
    series_coefficients,
)
from structdl.structure import (
    BiLipschitz,
    Invertible,
    check_inverse,
    check_lipschitz,
    guarantees,
    tolerance,
)

F64 = torch.float64


def _block(dim: int = 3, coefficient: float = 0.9, seed: int = 0, **options) -> IResNetBlock:
    torch.manual_seed(seed)
    return IResNetBlock(dim, hidden=8, coefficient=coefficient, **options).double()


def _brute_logdet(block: IResNetBlock, x: torch.Tensor) -> torch.Tensor:
    values = []
    for row in x:
        jac = torch.autograd.functional.jacobian(lambda v: block(v.unsqueeze(0))[0], row)
        values.append(torch.linalg.slogdet(jac)[1])
    return torch.stack(values)


@pytest.mark.parametrize("coefficient", [1.0, 1.5, 0.0, -0.5, True])
def test_lipschitz_coefficient_at_least_one_is_a_typed_error(coefficient):
    with pytest.raises(ConfigError, match="Lip\\(g\\) < 1"):
        IResNetBlock(2, coefficient=coefficient)


def test_bad_options_and_shapes_are_typed_errors():
    with pytest.raises(ConfigError, match="logdet"):
        IResNetBlock(2, logdet="magic")
    with pytest.raises(ConfigError, match="inverse_method"):
        IResNetBlock(2, inverse_method="bisection")
    with pytest.raises(ShapeError, match=r"\(batch, 2\)"):
        IResNetBlock(2)(torch.randn(4, 3))


@pytest.mark.parametrize("method", ["fixed_point", "newton", "anderson"])
def test_every_inverse_reports_residual_and_iterations(method):
    block = _block(coefficient=0.9)
    x = torch.randn(16, 3, dtype=F64)
    z = block(x)
    result = block.solve_inverse(z, method=method, tol=1e-11)
    assert result.converged and result.residual <= 1e-11
    assert result.iterations == len(result.history) - 1 >= 1
    assert result.method == method
    assert torch.allclose(result.x, x, atol=1e-9)
    block.inverse(z)  # through the Bijection API, the residual is kept too
    assert block.last_inverse is not None and block.last_inverse.converged


def test_newton_and_anderson_need_fewer_iterations_than_fixed_point():
    block = _block(dim=4, coefficient=0.97)
    block.g.scale_to_bound()
    z = block(torch.randn(32, 4, dtype=F64))
    counts = {
        m: block.solve_inverse(z, method=m, tol=1e-10).iterations
        for m in ("fixed_point", "newton", "anderson")
    }
    assert counts["newton"] < counts["fixed_point"]
    assert counts["anderson"] < counts["fixed_point"]


def test_inverse_that_does_not_converge_raises_with_residual():
    block = _block(coefficient=0.9)
    z = block(torch.randn(8, 3, dtype=F64))
    with pytest.raises(InverseError) as info:
        block.solve_inverse(z, method="fixed_point", tol=1e-14, max_iterations=1)
    assert info.value.residual is not None and info.value.residual > 1e-14
    result = block.solve_inverse(
        z, method="fixed_point", tol=1e-14, max_iterations=1, raise_on_failure=False
    )
    assert not result.converged and result.residual == pytest.approx(info.value.residual)


def test_check_inverse_passes_and_fails_on_a_truncated_solve():
    block = _block(coefficient=0.9)
    x = torch.randn(8, 3, dtype=F64)
    assert check_inverse(block, block.inverse, x).ok
    sloppy = IResNetBlock(3, hidden=8, coefficient=0.9, inverse_tol=1e-2).double()
    sloppy.load_state_dict(block.state_dict())
    result = check_inverse(sloppy, sloppy.inverse, x)  # negative control
    assert not result.ok


def test_exact_logdet_equals_brute_force_jacobian():
    block = _block(coefficient=0.9)
    x = torch.randn(6, 3, dtype=F64)
    _, logdet = block.forward_and_logdet(x)
    assert torch.allclose(logdet, _brute_logdet(block, x), atol=1e-10)
    back, inv_logdet = block.inverse_and_logdet(block(x))
    assert torch.allclose(inv_logdet, -logdet, atol=1e-9)


def test_series_converges_and_short_series_is_biased():
    block = _block(coefficient=0.9)
    block.g.scale_to_bound()
    x = torch.randn(6, 3, dtype=F64)
    exact = _brute_logdet(block, x)
    long = IResNetBlock(3, hidden=8, coefficient=0.9, logdet="series", n_terms=200).double()
    long.load_state_dict(block.state_dict())
    assert torch.allclose(long.log_abs_det(x), exact, atol=1e-10)
    short = IResNetBlock(3, hidden=8, coefficient=0.9, logdet="series", n_terms=1).double()
    short.load_state_dict(block.state_dict())
    assert (short.log_abs_det(x) - exact).abs().max() > 1e-4  # negative control: bias


def test_roulette_estimator_is_unbiased():
    block = _block(dim=2, coefficient=0.9, logdet="roulette")
    x = torch.randn(1, 2, dtype=F64)
    exact = _brute_logdet(block, x)
    torch.manual_seed(1)
    with torch.no_grad():
        draws = torch.cat([block.log_abs_det(x) for _ in range(300)])
    error = float(draws.mean() - exact)
    sigma = float(draws.std()) / 300**0.5
    assert abs(error) <= 4 * sigma + 1e-12


def _neumann(block, coefficients, x, params):
    probes, scale = make_probes(x.detach(), "exact", 1)
    return NeumannLogDet.apply(block.g, coefficients, probes, scale, x, *params)


def test_neumann_logdet_gradcheck_series_and_roulette():
    block = _block(dim=3, coefficient=0.5)
    params = list(block.g.parameters())
    x = torch.randn(4, 3, dtype=F64, requires_grad=True)
    for coefficients in (
        series_coefficients(12, F64),
        roulette_coefficients(2, 0.5, F64, torch.Generator().manual_seed(3)),
    ):
        assert torch.autograd.gradcheck(
            lambda x, *p, c=coefficients: _neumann(block, c, x, p), (x, *params), atol=1e-7
        )


def test_neumann_gradient_equals_exact_logdet_gradient():
    exact = _block(coefficient=0.7)
    series = IResNetBlock(3, hidden=8, coefficient=0.7, logdet="series", n_terms=120).double()
    series.load_state_dict(exact.state_dict())
    x = torch.randn(5, 3, dtype=F64)
    grads = []
    for block in (exact, series):
        block.eval()
        block.zero_grad()
        block.log_abs_det(x).sum().backward()
        grads.append(
            torch.cat(
                [
                    torch.zeros(p.numel(), dtype=F64) if p.grad is None else p.grad.flatten()
                    for p in block.g.parameters()
                ]
            )
        )
    assert torch.allclose(grads[0], grads[1], atol=1e-9)


def _saved_bytes(fn) -> int:
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


def test_neumann_memory_does_not_grow_with_the_number_of_terms():
    x = torch.randn(64, 3, dtype=F64)
    sizes = []
    for n_terms in (4, 64):
        block = _block(logdet="series", trace="hutchinson", n_terms=n_terms)
        sizes.append(_saved_bytes(lambda b=block: b.log_abs_det(x)))
    assert sizes[0] == sizes[1] > 0


def test_implicit_inverse_gradient():
    block = _block(dim=3, coefficient=0.6)
    z = torch.randn(4, 3, dtype=F64, requires_grad=True)
    last = block.g.linear_layers()[-1]
    params = [last.bias, block.g.layers[1].raw_beta]
    assert torch.autograd.gradcheck(
        lambda z, *p: block.inverse(z), (z, *params), atol=1e-6, check_undefined_grad=False
    )


def test_claims_derive_from_the_certified_constant_with_negative_control():
    block = _block(coefficient=0.9)
    found = guarantees(block)
    assert Invertible() in found
    bi = next(p for p in found if isinstance(p, BiLipschitz))
    assert bi.forward == pytest.approx(1.9, rel=1e-5)
    assert bi.inverse == pytest.approx(10.0, rel=1e-4)
    x = torch.randn(16, 3, dtype=F64)
    assert check_lipschitz(block, x, bound=bi.forward, ascent_steps=10).ok
    inverse = lambda z: block.inverse(z)  # noqa: E731
    assert check_lipschitz(inverse, block(x), bound=bi.inverse, n_pairs=32, ascent_steps=3).ok
    # Negative control: lift the first layer's bound to 4 and scale to it; Lip(g) > 1.
    first = block.g.linear_layers()[0]
    first.coefficient = 4.0
    block.g.scale_to_bound()
    assert block.lipschitz_bound() > 1.0
    assert guarantees(block) == frozenset()
    assert not check_lipschitz(block, x, bound=bi.forward, ascent_steps=10).ok


def test_power_iteration_tracks_training_and_the_bound_is_measured():
    block = _block(coefficient=0.9)
    block.g.scale_to_bound()
    optimiser = torch.optim.Adam(block.parameters(), lr=1e-2)
    x = torch.randn(64, 3, dtype=F64)
    for _ in range(20):
        optimiser.zero_grad()
        z, logdet = block.forward_and_logdet(x)
        (0.5 * (z**2).sum(1) - logdet).mean().backward()
        optimiser.step()
    block.update_normalisation(50)
    assert block.lipschitz_bound() <= 0.9 * (1 + 1e-6)
    assert Invertible() in guarantees(block)


def test_float32_round_trip():
    torch.manual_seed(0)
    block = IResNetBlock(4, hidden=16, coefficient=0.9)
    x = torch.randn(32, 4)
    back = block.inverse(block(x))
    assert (back - x).abs().max() <= tolerance(torch.float32).exact


def test_inverse_jacobian_vector_product_matches_the_implicit_function_theorem():
    # Double backward through the implicit gradient (a jvp taken as a vjp of a vjp).
    from structdl.invertible._solvers import batch_jacobian

    block = _block(coefficient=0.9)
    z, v = torch.randn(4, 3, dtype=F64), torch.randn(4, 3, dtype=F64)
    _, jv = torch.autograd.functional.jvp(block.inverse, z, v)
    jac = batch_jacobian(block.g, block.inverse(z).detach(), create_graph=False)
    expected = torch.linalg.solve(torch.eye(3, dtype=F64) + jac, v.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(jv, expected, atol=1e-10)
