"""Structure of optimiser steps: conformal symplecticity on quadratics, and passivity."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .._errors import ConfigError, NonFiniteError, ShapeError
from ._check_symplectic import check_symplectic
from ._common import dtype_name, positive_number, verdict
from ._validate import require_callable, require_int, resolve_tolerance
from .result import CheckResult, tolerance

__all__ = ["check_conformal_step", "check_passivity", "check_reparametrisation_invariance"]

Gradient = Callable[[Tensor], Tensor]
PhaseStep = Callable[[Tensor, Tensor, Gradient], tuple[Tensor, Tensor]]


def check_conformal_step(
    step: PhaseStep,
    hessian: Tensor,
    rate: float,
    *,
    n_points: int = 4,
    seed: int = 0,
    atol: float | None = None,
) -> CheckResult:
    """Check that an optimiser's step contracts the symplectic form by ``rate`` on a quadratic.

    On ``f(q) = ½ qᵀAq`` the step ``(q, p) ↦ Φ(q, p)`` of a conformal-symplectic optimiser
    (heavy ball, conformal leapfrog, relativistic gradient descent, Hamiltonian descent)
    satisfies ``Φ'ᵀ J Φ' = rate · J`` exactly, with ``rate = e^{−γh}``; Nesterov's method does
    not (its gradient is evaluated at a point mixing ``q`` and ``p``). The Jacobian is taken
    by autograd at ``n_points`` random phase-space points in ``hessian``'s dtype.

    Args:
        step: ``step(q, p, gradient) -> (q₊, p₊)`` on batched ``(n, d)`` tensors, e.g.
            ``optimiser.phase_step``.
        hessian: the symmetric ``(d, d)`` matrix ``A``.
        rate: the claimed contraction per step (1 for a symplectic step).
        n_points: number of sample points.
        seed: seed of the sample points.
        atol: bound on ``max ‖Φ'ᵀJΦ' − rate·J‖_F``; default ``tolerance(dtype).exact``.

    Raises:
        ShapeError: a non-square or non-finite ``hessian``.
        ConfigError: a non-callable ``step`` or bad options.
    """
    check = "check_conformal_step"
    require_callable(step, "step", check)
    if (
        not isinstance(hessian, Tensor)
        or hessian.dim() != 2
        or hessian.shape[0] != hessian.shape[1]
        or not hessian.is_floating_point()
        or not bool(torch.isfinite(hessian).all())
    ):
        got = tuple(hessian.shape) if isinstance(hessian, Tensor) else type(hessian).__name__
        raise ShapeError(
            f"{check}: `hessian` is invalid — expected a finite square floating (d, d) matrix — "
            f"received {got} — pass e.g. torch.eye(d, dtype=torch.float64)"
        )
    rate = positive_number(rate, "rate", check)
    n_points = require_int(n_points, "n_points", check, 1)
    seed = require_int(seed, "seed", check, 0)
    d = hessian.shape[0]
    a = 0.5 * (hessian + hessian.T)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n_points, 2 * d, generator=gen, dtype=hessian.dtype).to(hessian.device)

    def phase_map(points: Tensor) -> Tensor:
        q, p = step(points[:, :d], points[:, d:], lambda q: q @ a)
        return torch.cat([q, p], dim=1)

    result = check_symplectic(phase_map, z, rate=rate, atol=atol)
    return CheckResult(
        result.ok, result.worst, f"optimiser step on ½qᵀAq (d = {d}): {result.reason}"
    )


def check_passivity(
    energies: Sequence[float] | Tensor,
    dissipation: Sequence[float] | Tensor,
    h: float,
    *,
    atol: float | None = None,
) -> CheckResult:
    """Check the discrete energy balance ``H_{k+1} − H_k + h·D_k = 0`` with ``D_k ≥ 0``.

    A passive (port-Hamiltonian) step loses exactly the energy its dissipation says, step by
    step: ``H_{k+1} − H_k = −h D_k``, ``D_k ≥ 0``, so ``H`` never increases. An energy-consistent
    (discrete-gradient) step satisfies the balance to round-off; explicit Euler does not.

    Args:
        energies: ``H_0, …, H_K`` (K + 1 values).
        dissipation: ``D_0, …, D_{K−1}`` (K values), each the dissipated power of step k.
        h: the step size.
        atol: bound on ``max_k |H_{k+1} − H_k + h D_k|`` (also the slack allowed below 0 for
            ``D_k``); default ``tolerance(float64).exact`` scaled by ``1 + max|H|``.

    Raises:
        ShapeError: mismatched lengths, fewer than two energies, or non-finite values.
        ConfigError: bad ``h`` or ``atol``.
    """
    check = "check_passivity"
    energy = torch.as_tensor(energies, dtype=torch.float64).reshape(-1)
    power = torch.as_tensor(dissipation, dtype=torch.float64).reshape(-1)
    if energy.numel() < 2 or power.numel() != energy.numel() - 1:
        raise ShapeError(
            f"{check}: lengths do not match — expected K + 1 energies and K dissipations (K ≥ "
            f"1) — received {energy.numel()} energies and {power.numel()} dissipations — record "
            f"H before the first step and after every step"
        )
    if not bool(torch.isfinite(energy).all() and torch.isfinite(power).all()):
        raise NonFiniteError(
            f"{check}: non-finite energies or dissipations — expected finite values — received "
            f"NaN or inf — the run diverged; reduce the step size"
        )
    h = positive_number(h, "h", check)
    scale = 1.0 + float(energy.abs().max())
    default = tolerance(torch.float64).exact * scale
    atol = resolve_tolerance(atol, default, "atol", check)
    if not isinstance(atol, float):
        raise ConfigError(f"{check}: `atol` must be a float — received {atol!r}")
    residual = (energy[1:] - energy[:-1] + h * power).abs()
    worst = float(residual.max())
    negative = float((-power).clamp_min(0.0).max())
    k = int(residual.argmax())
    measure = (
        f"max_k |H_(k+1) − H_k + h·D_k| over {power.numel()} steps (worst at step {k}; "
        f"min D_k = {float(power.min()):.3g})"
    )
    return verdict(
        max(worst, negative),
        atol,
        "passivity (discrete energy balance)",
        measure,
        f"atol {atol:.3g} ({dtype_name(torch.float64)})",
    )


def check_reparametrisation_invariance(
    step: Tensor,
    mapped_step: Tensor,
    *,
    rtol: float | None = None,
) -> CheckResult:
    """Check that a training step commutes with a reparametrisation ``θ = A(φ)``.

    ``step`` is the update taken in ``θ``; ``mapped_step`` the update taken in ``φ`` and
    mapped to ``θ`` by the (linearised) reparametrisation (for ``W = ΦB``: ``ΔW = ΔΦ·B``). The
    exact natural-gradient step passes (the Fisher transforms as ``AᵀFA``); the Euclidean
    gradient step and a damped step do not (negative controls).

    Args:
        step: flat update in θ.
        mapped_step: flat update in φ, mapped to θ.
        rtol: bound on ``max|Δ − Δ'| / max|Δ|``; default ``10·tolerance(dtype).solve``
            (1e-8 in float64: the step passes through an iterative solve).

    Raises:
        ShapeError: mismatched shapes or non-finite values.
    """
    check = "check_reparametrisation_invariance"
    if (
        not isinstance(step, Tensor)
        or not isinstance(mapped_step, Tensor)
        or step.shape != mapped_step.shape
        or not bool(torch.isfinite(step).all() and torch.isfinite(mapped_step).all())
    ):
        raise ShapeError(
            f"{check}: the two steps must be finite tensors of one shape — expected the update "
            f"in θ and the mapped update from φ — received "
            f"{getattr(step, 'shape', type(step).__name__)} and "
            f"{getattr(mapped_step, 'shape', type(mapped_step).__name__)} — map the φ-step to θ"
        )
    dtype = step.dtype
    rtol = resolve_tolerance(rtol, 10 * tolerance(dtype).solve, "rtol", check)
    scale = float(step.detach().abs().max())
    worst = float((step.detach() - mapped_step.detach()).abs().max()) / max(scale, 1e-300)
    return verdict(
        worst,
        rtol,
        "reparametrisation invariance",
        f"max|Δθ − A·Δφ| / max|Δθ| over {step.numel()} entries",
        f"rtol {rtol:.3g} ({dtype_name(dtype)})",
    )
