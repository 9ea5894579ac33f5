"""Self-tests of the checkers, run by ``structdl check`` next to every subpackage's checks.

A checker that accepts everything would make every other registered check meaningless, so each
entry runs one check on a map that has the property *and* on a negative control that violates
it; it passes only when the first is accepted and the second rejected. All maps are small,
seeded and in float64.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .check_registry import register_check
from .checks import (
    check_energy,
    check_equivariance,
    check_inverse,
    check_lipschitz,
    check_symplectic,
    check_volume_preserving,
)
from .result import CheckResult

__all__: list[str] = []


def _points(n: int, dim: int, seed: int = 0) -> Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _rotate(z: Tensor, theta: float = 0.7) -> Tensor:
    """Rotation of every (q_i, p_i) plane: symplectic, volume preserving, an isometry."""
    d = z.shape[1] // 2
    q, p = z[:, :d], z[:, d:]
    c, s = math.cos(theta), math.sin(theta)
    return torch.cat([c * q + s * p, -s * q + c * p], dim=1)


def _discriminates(positive: CheckResult, negative: CheckResult) -> CheckResult:
    """Pass iff the positive case passes and the negative control fails."""
    ok = positive.ok and not negative.ok
    verdict = "accepts the positive case and rejects the negative control" if ok else "FAILS"
    return CheckResult(
        ok,
        negative.worst,
        f"checker {verdict} — positive: {positive.reason} | negative: {negative.reason}",
    )


@register_check("structure.checker_symplectic")
def _symplectic() -> CheckResult:
    z = _points(8, 4)
    return _discriminates(check_symplectic(_rotate, z), check_symplectic(lambda v: 1.1 * v, z))


@register_check("structure.checker_volume")
def _volume() -> CheckResult:
    x = _points(8, 4)
    return _discriminates(
        check_volume_preserving(_rotate, x), check_volume_preserving(lambda v: 1.1 * v, x)
    )


@register_check("structure.checker_lipschitz_adversarial")
def _lipschitz() -> CheckResult:
    """The hidden expansion: x − h Aᵀtanh(Ax) with A = Q diag(3, 1, …, 1) Qᵀ and h = 1/3.

    Near 0 its Jacobian has eigenvalue −2 along one direction of R^32 and 2/3 along the others,
    so random pairs see contraction or a mild expansion while the adversarial search has to
    find the −2 direction (ratio ≈ 2). The stepped layer with h = 2/9 = 2/‖A‖² is the positive.
    """
    dim = 32
    basis, _ = torch.linalg.qr(_points(dim, dim, seed=1))
    singular = torch.ones(dim, dtype=torch.float64)
    singular[0] = 3.0
    weight = (basis * singular) @ basis.T
    x = 0.05 * _points(8, dim)

    def layer(h: float):
        return lambda v: v - h * torch.tanh(v @ weight.T) @ weight

    return _discriminates(
        check_lipschitz(layer(2.0 / 9.0), x, n_pairs=32, ascent_steps=50),
        check_lipschitz(layer(3.0 / 9.0), x, n_pairs=32, ascent_steps=50),
    )


@register_check("structure.checker_inverse")
def _inverse() -> CheckResult:
    x = _points(8, 4)
    forward = _rotate
    return _discriminates(
        check_inverse(forward, lambda y: _rotate(y, -0.7), x),
        check_inverse(forward, lambda y: _rotate(y, -0.69), x),
    )


@register_check("structure.checker_energy")
def _energy() -> CheckResult:
    def energy(z: Tensor) -> Tensor:
        return 0.5 * z.pow(2).sum(dim=1)

    exact, euler = [_points(4, 2)], [_points(4, 2)]
    for _ in range(10):
        exact.append(_rotate(exact[-1], 0.1))
        q, p = euler[-1][:, :1], euler[-1][:, 1:]
        euler.append(torch.cat([q + 0.1 * p, p - 0.1 * q], dim=1))
    return _discriminates(check_energy(energy, exact), check_energy(energy, euler))


@register_check("structure.checker_equivariance")
def _equivariance() -> CheckResult:
    images = _points(2, 36).reshape(2, 1, 6, 6)
    kernel = _points(1, 9, seed=2).reshape(1, 1, 3, 3)
    shifts = [(1, 0), (0, 2), (3, 3)]

    def act(g: tuple[int, int], x: Tensor) -> Tensor:
        return torch.roll(x, shifts=g, dims=(-2, -1))

    def circular(x: Tensor) -> Tensor:
        padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="circular")
        return torch.nn.functional.conv2d(padded, kernel.to(x.dtype))

    def zero_padded(x: Tensor) -> Tensor:
        return torch.nn.functional.conv2d(x, kernel.to(x.dtype), padding=1)

    return _discriminates(
        check_equivariance(circular, shifts, act, act, images),
        check_equivariance(zero_padded, shifts, act, act, images),
    )
