"""Small maps with known structure, built in the tests as oracles for the checks.

Phase-space states are flat ``z = (q, p)`` of shape ``(n, 2d)``; ``split``/``join`` convert.
Each map is either structure-preserving by a one-line argument (given in its docstring) or a
deliberate violator used as a negative control.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def split(z: Tensor) -> tuple[Tensor, Tensor]:
    d = z.shape[1] // 2
    return z[:, :d], z[:, d:]


def join(q: Tensor, p: Tensor) -> Tensor:
    return torch.cat([q, p], dim=1)


def rotation(theta: float):
    """Rotate every (q_i, p_i) plane by theta: orthogonal and symplectic, det 1."""
    c, s = math.cos(theta), math.sin(theta)

    def rotate(z: Tensor) -> Tensor:
        q, p = split(z)
        return join(c * q + s * p, -s * q + c * p)

    return rotate


def scaling(factor: float):
    """z -> factor·z: DΦᵀJDΦ = factor²·J, det = factor^(2d): the violator for both."""
    return lambda z: factor * z


def kick(h: float):
    """Symplectic shear (q, p) -> (q, p − h∇V(q)) with V(q) = Σ(1 − cos q)."""
    return lambda z: join(split(z)[0], split(z)[1] - h * torch.sin(split(z)[0]))


def squeeze(z: Tensor) -> Tensor:
    """(q1, q2, p1, p2) -> (2 q1, q2 / 2, p1, p2): det 1 but not symplectic."""
    scale = torch.tensor([2.0, 0.5, 1.0, 1.0], dtype=z.dtype)
    return z * scale


def verlet_step(z: Tensor, h: float) -> Tensor:
    """Störmer–Verlet for the pendulum H = p²/2 + Σ(1 − cos q): symmetric, hence reversible."""
    q, p = split(z)
    p_half = p - 0.5 * h * torch.sin(q)
    q_next = q + h * p_half
    return join(q_next, p_half - 0.5 * h * torch.sin(q_next))


def euler_step(z: Tensor, h: float) -> Tensor:
    """Forward Euler for the pendulum: neither symplectic nor reversible."""
    q, p = split(z)
    return join(q + h * p, p - h * torch.sin(q))


class AdditiveCoupling:
    """(x1, x2) -> (x1, x2 + tanh(x1 W)): volume preserving, with an exact inverse."""

    def __init__(self, dim: int, dtype: torch.dtype, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.half = dim // 2
        self.weight = torch.randn(self.half, dim - self.half, generator=gen, dtype=dtype)

    def shift(self, x1: Tensor) -> Tensor:
        return torch.tanh(x1 @ self.weight)

    def __call__(self, x: Tensor) -> Tensor:
        x1, x2 = x[:, : self.half], x[:, self.half :]
        return torch.cat([x1, x2 + self.shift(x1)], dim=1)

    def inverse(self, y: Tensor) -> Tensor:
        y1, y2 = y[:, : self.half], y[:, self.half :]
        return torch.cat([y1, y2 - self.shift(y1)], dim=1)

    def wrong_inverse(self, y: Tensor) -> Tensor:
        """Subtracts only 90 % of the shift: the negative control of check_inverse."""
        y1, y2 = y[:, : self.half], y[:, self.half :]
        return torch.cat([y1, y2 - 0.9 * self.shift(y1)], dim=1)


def affine_coupling(x: Tensor) -> Tensor:
    """(x1, x2) -> (x1, x2·exp(tanh(x1))): log|det| = Σ tanh(x1), not volume preserving."""
    half = x.shape[1] // 2
    x1, x2 = x[:, :half], x[:, half:]
    return torch.cat([x1, x2 * torch.exp(torch.tanh(x1))], dim=1)


def affine_coupling_logdet(x: Tensor) -> Tensor:
    half = x.shape[1] // 2
    return torch.tanh(x[:, :half]).sum(dim=1)


def spectral_norm(matrix: Tensor) -> float:
    return float(torch.linalg.matrix_norm(matrix, ord=2))


def tanh_layer(weight: Tensor, bias: Tensor, h: float):
    """x -> x − h Aᵀ tanh(Ax + b): Jacobian I − h AᵀDA, 1-Lipschitz iff h ≤ 2/‖A‖² (D ≤ 1)."""
    return lambda x: x - h * torch.tanh(x @ weight.T + bias) @ weight


def one_expanding_direction(dim: int, dtype: torch.dtype, seed: int = 0) -> Tensor:
    """A = Q diag(3, 1, …, 1) Qᵀ, a weight with a single dominant direction.

    With h = 3/‖A‖² = 1/3 the tanh layer near 0 has eigenvalue 1 − 3 = −2 along one direction
    and 1 − 1/3 = 2/3 along all others. A random direction has |u₁|² ≈ 1/dim, so random pairs
    see contraction; only a search finds the expansion.
    """
    gen = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))
    singular = torch.ones(dim, dtype=torch.float64)
    singular[0] = 3.0
    return ((basis * singular) @ basis.T).to(dtype)


def oscillator_energy(z: Tensor) -> Tensor:
    """H = (|q|² + |p|²)/2, conserved by every rotation of the (q, p) planes."""
    return 0.5 * z.pow(2).sum(dim=1)


def trajectory(step, z0: Tensor, n_steps: int) -> list[Tensor]:
    states = [z0]
    for _ in range(n_steps):
        states.append(step(states[-1]))
    return states


def shift_action(g: tuple[int, int], x: Tensor) -> Tensor:
    """The action of the translation group Z_H × Z_W on images (batch, C, H, W)."""
    return torch.roll(x, shifts=g, dims=(-2, -1))


def sphere_defect(x: Tensor) -> Tensor:
    return (x.norm(dim=1) - 1.0).abs()
