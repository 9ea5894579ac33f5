"""``log|det(I + J_g)|`` for ``Lip(g) < 1``: exact, power series, Russian roulette.

Power series (convergent because ``‖J_g‖ < 1``)::

    log det(I + J) = Σ_{k≥1} (−1)^{k+1} tr(J^k) / k

Every estimator here is ``Σ_{k=1}^{N} c_k tr(J^k)`` for coefficients ``c_k``: the truncated
series takes ``c_k = (−1)^{k+1}/k``; the Russian-roulette estimator (Chen et al. 2019) draws
``N`` at random and divides each term by ``P(N ≥ k)``, which makes it unbiased. Traces are
exact (probes = the ``d`` basis vectors, summed) or Hutchinson (``E[vᵀAv] = tr A`` for
Rademacher ``v``). ``vᵀJ^k`` is formed by ``k`` vector–Jacobian products.

The gradient (:class:`NeumannLogDet`) does not differentiate through the ``N`` products —
that would store ``N`` graphs. Since ``∂ tr(J^k)/k = tr(J^{k−1} ∂J)``, the derivative of the
estimate is ``∂(aᵀ J v)`` with ``a = Σ_k k c_k (J^{k−1})ᵀ v`` held fixed: one extra
vector–Jacobian product recomputed in the backward pass, so memory is O(1) in ``N`` (the
Neumann-series gradient of Residual Flows). With exact traces this is the exact derivative of
the estimate; with Hutchinson probes it is an unbiased estimate of the true gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ._solvers import batch_jacobian, small_matrices

__all__ = [
    "NeumannLogDet",
    "exact_logdet",
    "make_probes",
    "roulette_coefficients",
    "series_coefficients",
]


def exact_logdet(g: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``log|det(I + J_g(x_b))|`` per sample from the full Jacobian (small ``d``)."""
    create_graph = torch.is_grad_enabled()
    jac = batch_jacobian(g, x, create_graph=create_graph)
    eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    with small_matrices():
        return torch.linalg.slogdet(eye + jac)[1]


def series_coefficients(n_terms: int, dtype: torch.dtype) -> Tensor:
    """``c_k = (−1)^{k+1}/k`` for ``k = 1 … n_terms`` (the truncated series, biased)."""
    k = torch.arange(1, n_terms + 1, dtype=dtype)
    return (-1.0) ** (k + 1) / k


def roulette_coefficients(
    n_exact: int, p: float, dtype: torch.dtype, generator: torch.Generator | None = None
) -> Tensor:
    """One Russian-roulette draw: ``N = n_exact + M``, ``P(M ≥ j) = (1 − p)^j``.

    ``c_k = (−1)^{k+1} / (k · P(N ≥ k))`` with ``P(N ≥ k) = 1`` for ``k ≤ n_exact`` and
    ``(1 − p)^{k − n_exact}`` beyond, so ``E[Σ_{k≤N} c_k tr(J^k)] = log det(I + J)``.
    The variance is finite when ``Lip(g)² < 1 − p``.
    """
    u = float(torch.rand((), generator=generator, dtype=torch.float64))
    extra = int(math.floor(math.log(max(u, 1e-300)) / math.log1p(-p)))
    n = n_exact + extra
    k = torch.arange(1, n + 1, dtype=torch.float64)
    survival = torch.where(k <= n_exact, torch.ones_like(k), (1.0 - p) ** (k - n_exact))
    return ((-1.0) ** (k + 1) / (k * survival)).to(dtype)


def make_probes(
    x: Tensor, trace: str, n_probes: int, generator: torch.Generator | None = None
) -> tuple[Tensor, float]:
    """Probe vectors ``(P, batch, d)`` and the weight that turns ``Σ_p vᵀAv`` into ``tr A``."""
    batch, dim = x.shape
    if trace == "exact":
        basis = torch.eye(dim, dtype=x.dtype, device=x.device)
        return basis.unsqueeze(1).expand(dim, batch, dim), 1.0
    signs = torch.randint(0, 2, (n_probes, batch, dim), generator=generator)
    return (2.0 * signs - 1.0).to(dtype=x.dtype, device=x.device), 1.0 / n_probes


def _stacked(x: Tensor, n_probes: int) -> Tensor:
    batch, dim = x.shape
    return x.unsqueeze(0).expand(n_probes, batch, dim).reshape(n_probes * batch, dim)


class NeumannLogDet(torch.autograd.Function):
    """``Σ_k c_k tr(J_g(x)^k)`` with the O(1)-memory Neumann-series backward.

    ``apply(g, coefficients, probes, scale, x, *params)`` → shape ``(batch,)``; ``params`` are
    the parameters of ``g`` that should receive gradients.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        g: nn.Module,
        coefficients: Tensor,
        probes: Tensor,
        scale: float,
        x: Tensor,
        *params: Tensor,
    ) -> Tensor:
        """The estimate, without an autograd graph through the ``N`` products."""
        n_probes, batch, dim = probes.shape
        seeds = probes.reshape(n_probes * batch, dim)
        with torch.enable_grad():
            stacked = _stacked(x.detach().requires_grad_(True), n_probes)
            out = g(stacked)
            u = seeds
            total = torch.zeros(n_probes * batch, dtype=x.dtype, device=x.device)
            adjoint = torch.zeros_like(seeds)
            for k, c_k in enumerate(coefficients.tolist(), start=1):
                adjoint = adjoint + (k * c_k) * u  # a += k c_k (J^{k-1})ᵀ v
                (u,) = torch.autograd.grad(out, stacked, u, retain_graph=k < len(coefficients))
                total = total + c_k * (u * seeds).sum(-1)
        ctx.g, ctx.scale, ctx.params = g, scale, params
        ctx.save_for_backward(x, adjoint, seeds)
        ctx.n_probes = n_probes
        return scale * total.reshape(n_probes, batch).sum(0)

    @staticmethod
    def backward(ctx: Any, grad_value: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        """``∂(aᵀ J_g v)`` with ``a`` fixed: one recomputed vector–Jacobian product."""
        x, adjoint, seeds = ctx.saved_tensors
        wanted: Sequence[Tensor] = [p for p in ctx.params if p.requires_grad]
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            stacked = _stacked(leaf, ctx.n_probes)
            out = ctx.g(stacked)
            (ja,) = torch.autograd.grad(out, stacked, adjoint, create_graph=True)
            surrogate = ctx.scale * (ja * seeds).sum(-1).reshape(ctx.n_probes, -1).sum(0)
            grads = torch.autograd.grad(surrogate, [leaf, *wanted], grad_value, allow_unused=True)
        by_param = dict(zip(map(id, wanted), grads[1:], strict=True))
        param_grads = [by_param.get(id(p)) for p in ctx.params]
        grad_x = grads[0] if ctx.needs_input_grad[4] else None
        return (None, None, None, None, grad_x, *param_grads)
