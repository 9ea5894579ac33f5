"""Mean-field two-layer ReLU networks and their particle (Wasserstein) gradient flow.

A two-layer network with the mean-field ``1/m`` scaling is an average over ``m`` neurons,

    f_μ(x) = (1/m) Σ_i a_i ReLU(w_iᵀx + b_i) = ∫ φ(θ, x) dμ(θ),   φ(θ, x) = a ReLU(wᵀx + b),

where ``θ_i = (a_i, w_i, b_i)`` are *particles* and ``μ = (1/m) Σ_i δ_{θ_i}`` is their empirical
measure (Chizat & Bach, NeurIPS 2018; Mei, Montanari & Nguyen, PNAS 2018). With the squared
loss ``F(μ) = (1/2n) Σ_k (f_μ(x_k) − y_k)²`` the first variation of ``F`` at ``μ`` is

    V_μ(θ) = (δF/δμ)(θ) = (1/n) Σ_k r_k φ(θ, x_k),    r_k = f_μ(x_k) − y_k,

and particle gradient descent moves each particle along ``−∇_θ V_μ(θ_i)``:

    θ_i ← θ_i − h ∇_θ V_μ(θ_i),

    ∇_a V = (1/n) Σ_k r_k ReLU(z_ik),   ∇_{(w,b)} V = (a_i/n) Σ_k r_k 1[z_ik > 0] (x_k, 1),

with ``z_ik = w_iᵀx_k + b_i``. Because ``∂F/∂θ_i = (1/m) ∇_θ V_μ(θ_i)``, this is plain gradient
descent on the particles with learning rate ``h·m``: the step ``h`` is a time step of the flow
``∂_t μ = div(μ ∇_θ V_μ)`` (the Wasserstein gradient flow of ``F``), the same for every ``m``,
so loss curves for growing ``m`` approach one limit curve. The velocities are formed in
closed form with no autograd graph, in one pass over blocks of samples: since
``ReLU(z) = 1[z > 0] z``, every component follows from the sums
``S_i = (1/n) Σ_k r_k 1[z_ik > 0] (x_k, 1)`` (``∇_(w,b) V = a_i S_i``, ``∇_a V = (w_i, b_i)ᵀ S_i``),
and each block of pre-activations serves its outputs, residuals and mask while in cache.
:func:`autograd_velocity` is the autograd reference for the same quantity.

Structure: for a small enough step the loss is non-increasing along the particle flow (a
discretised gradient flow dissipates ``F``); the tests check it with ``check_energy``.

Particle layout: a tensor ``(m, d + 2)`` with columns ``[a, w_1, …, w_d, b]``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._errors import ConfigError, NonFiniteError, ShapeError
from ._validate import positive

__all__ = [
    "MeanFieldNetwork",
    "ParticleGradientDescent",
    "autograd_velocity",
    "mean_field_loss",
    "mean_field_velocity",
    "particle_histogram",
    "planar_positions",
]


# Entries of one (samples × particles) pre-activation block: 1 MiB of float32, so that the
# block, its mask and the (m × (d + 1)) sums stay in a 2 MiB L2 cache.
_BLOCK_ENTRIES = 1 << 18


def _all_finite(t: Tensor) -> bool:
    # One reduction: NaN and ±inf propagate into the sum; only an overflow of finite entries
    # makes it non-finite, and then the entries are checked one by one.
    return bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def _check_particles(particles: Tensor, who: str) -> None:
    if not isinstance(particles, Tensor) or particles.dim() != 2 or particles.shape[1] < 3:
        shape = tuple(particles.shape) if isinstance(particles, Tensor) else type(particles)
        raise ShapeError(
            f"{who}: particles must be a tensor (m, d + 2) with columns [a, w_1..w_d, b] and "
            f"d ≥ 1 — received {shape} — build them with MeanFieldNetwork(d, m)"
        )
    if particles.shape[0] < 1:
        raise ConfigError(
            f"{who}: the number of particles m must be ≥ 1 — received m = 0 — pass m ≥ 1"
        )
    if not _all_finite(particles):
        raise NonFiniteError(
            f"{who}: particles contain NaN or inf — expected finite values — a previous step "
            f"probably diverged — lower the step h"
        )


def _check_data(particles: Tensor, x: Tensor, y: Tensor | None, who: str) -> None:
    d = particles.shape[1] - 2
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != d:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x)
        raise ShapeError(
            f"{who}: inputs must be (n, d) with d = {d} (the particles are (m, {d + 2})) — "
            f"received {shape}"
        )
    if y is not None and (not isinstance(y, Tensor) or tuple(y.shape) != (x.shape[0],)):
        shape = tuple(y.shape) if isinstance(y, Tensor) else type(y)
        raise ShapeError(
            f"{who}: targets must be (n,) = ({x.shape[0]},) to match the inputs — received "
            f"{shape} — flatten them with y.reshape(-1)"
        )
    for name, t in (("inputs", x), ("targets", y)):
        if t is not None and not _all_finite(t):
            raise NonFiniteError(
                f"{who}: {name} contain NaN or inf — expected finite values — clean the data"
            )


def _forward_parts(particles: Tensor, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(x̃, z, f)``: inputs with a ones column, pre-activations ``(n, m)``, outputs ``(n,)``."""
    a, wb = particles[:, 0], particles[:, 1:]
    x_aug = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
    z = x_aug @ wb.T
    f = torch.relu(z) @ a / particles.shape[0]
    return x_aug, z, f


def mean_field_loss(particles: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """``F(μ) = (1/2n) Σ_k (f_μ(x_k) − y_k)²`` for the empirical measure of ``particles``."""
    _check_particles(particles, "mean_field_loss")
    _check_data(particles, x, y, "mean_field_loss")
    f = _forward_parts(particles, x)[2]
    return 0.5 * ((f - y) ** 2).mean()


def mean_field_velocity(particles: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Closed-form particle velocities ``−∇_θ V_μ(θ_i)`` and the loss ``F(μ)``.

    Args:
        particles: ``(m, d + 2)``, columns ``[a, w, b]``.
        x: inputs ``(n, d)``; y: targets ``(n,)``.

    Returns:
        ``(velocity (m, d + 2), loss ())``; ``velocity = −m · ∂F/∂particles``.

    Example:
        >>> import torch
        >>> p = torch.randn(50, 4, dtype=torch.float64)
        >>> x, y = torch.randn(20, 2, dtype=torch.float64), torch.randn(20, dtype=torch.float64)
        >>> v, loss = mean_field_velocity(p, x, y)
        >>> bool(torch.allclose(v, autograd_velocity(p, x, y)[0], atol=1e-12))
        True
    """
    _check_particles(particles, "mean_field_velocity")
    _check_data(particles, x, y, "mean_field_velocity")
    return _velocity(particles, x, y)


def _sample_block(n: int, m: int) -> int:
    """Rows of samples per block: a ``(rows × m)`` pre-activation block of ~``_BLOCK_ENTRIES``."""
    return max(1, min(n, _BLOCK_ENTRIES // m))


def _gradient_sums(particles: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """``Sᵀ`` (``(d + 1) × m``), ``S_i = (1/n) Σ_k r_k 1[z_ik > 0] x̃_k``, and the loss: one pass.

    Every velocity component follows from ``S``: ``∇_(w,b) V(θ_i) = a_i S_i`` and, because
    ``ReLU(z) = 1[z > 0] z`` with ``z_ik = w̃_iᵀx̃_k``, ``∇_a V(θ_i) = w̃_iᵀ S_i``. The sum runs
    over blocks of samples, not of particles: a block's residuals ``r_k`` are known as soon as
    its outputs ``f(x_k)`` are, so each ``(rows × m)`` pre-activation block is computed once,
    while it is in cache, and overwritten in place by its ReLU and then by its 0/1 mask (the
    sign of the ReLU) — one pass over the data, no ``(n × m)`` array, no recomputation.
    """
    n, m = x.shape[0], particles.shape[0]
    # Contiguous copies (O(md)) make the per-block products run on unit-stride operands.
    a, wb = particles[:, 0].contiguous(), particles[:, 1:].contiguous()
    x_aug = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
    x_over_n = x_aug / n  # the 1/n of the loss, folded in once
    neg_y = -y
    residuals = torch.empty_like(y)
    # Sᵀ, (d + 1) × m: the rank-`rows` update Sᵀ += (r ⊙ X̃)ᵀ mask writes m-long rows, ~8×
    # faster than updating the m × (d + 1) layout (measured, MKL).
    sums_t = torch.zeros(x_aug.shape[1], m, dtype=x.dtype, device=x.device)
    rows = _sample_block(n, m)
    buffer = torch.empty(rows, m, dtype=x.dtype, device=x.device)  # reused by every block
    for start in range(0, n, rows):
        block = slice(start, start + rows)
        active = buffer[: min(rows, n - start)]
        torch.mm(x_aug[block], wb.T, out=active).relu_()  # (rows, m): ReLU(z)
        # r_k = f(x_k) − y_k with f = ReLU(z) a / m, written into its slot of `residuals`.
        r = torch.addmv(neg_y[block], active, a, alpha=1.0 / m, out=residuals[block])
        # The mask 1[z > 0] is the sign of ReLU(z), overwriting it in place.
        sums_t.addmm_((x_over_n[block] * r.unsqueeze(1)).T, active.sign_())
    return sums_t, residuals.dot(residuals) * (0.5 / n)


def _velocity(particles: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    sums_t, loss = _gradient_sums(particles, x, y)
    # Built as (d + 2) × m rows (unit stride) and returned as its (m, d + 2) transpose.
    velocity_t = torch.empty(
        particles.shape[1], particles.shape[0], dtype=sums_t.dtype, device=sums_t.device
    )
    torch.mul(sums_t, particles[:, 0].neg(), out=velocity_t[1:])  # −a_i S_i
    torch.sum(sums_t.mul_(particles[:, 1:].T), dim=0, out=velocity_t[0]).neg_()  # −w̃_iᵀS_i
    return velocity_t.T, loss


def autograd_velocity(particles: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """The same velocity by autograd: ``−m · ∂F/∂particles`` (the tests' reference)."""
    _check_particles(particles, "autograd_velocity")
    _check_data(particles, x, y, "autograd_velocity")
    with torch.enable_grad():
        p = particles.detach().requires_grad_(True)
        loss = 0.5 * ((_forward_parts(p, x)[2] - y) ** 2).mean()
        (grad,) = torch.autograd.grad(loss, p)
    return -particles.shape[0] * grad, loss.detach()


class MeanFieldNetwork(torch.nn.Module):
    """``f(x) = (1/m) Σ_i a_i ReLU(w_iᵀx + b_i)``: a two-layer ReLU network as a measure.

    The parameters are one tensor :attr:`particles` ``(m, d + 2)`` (columns ``[a, w, b]``),
    i.e. the support of the empirical measure ``μ = (1/m) Σ δ_{θ_i}`` with equal weights
    :attr:`weights`. Initialisation draws the particles i.i.d. from one law (``w`` uniform on
    the unit sphere times ``init_scale``, ``a`` and ``b`` normal times ``init_scale``), so
    networks of different widths sample the same initial measure.

    Args:
        d: input dimension (≥ 1).
        m: number of particles (≥ 1).
        init_scale: scale of the initial particles (> 0).
        generator: optional ``torch.Generator`` for the initial draw.
        dtype: parameter dtype.

    Example:
        >>> import torch
        >>> net = MeanFieldNetwork(2, 100, generator=torch.Generator().manual_seed(0))
        >>> net(torch.randn(5, 2)).shape
        torch.Size([5])
        >>> net.particles.shape
        torch.Size([100, 4])
    """

    def __init__(
        self,
        d: int,
        m: int,
        *,
        init_scale: float = 1.0,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        for name, value in (("d", d), ("m", m)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"MeanFieldNetwork: `{name}` must be an int ≥ 1 — received {value!r} — "
                    f"pass e.g. {name}=10"
                )
        scale = positive(init_scale, "init_scale", "MeanFieldNetwork")
        w = torch.randn(m, d, generator=generator, dtype=torch.float64)
        w = w / w.norm(dim=1, keepdim=True)
        ab = torch.randn(m, 2, generator=generator, dtype=torch.float64)
        particles = torch.cat([ab[:, :1], w, ab[:, 1:]], dim=1) * scale
        self.particles = torch.nn.Parameter(particles.to(dtype))

    @classmethod
    def from_particles(cls, particles: Tensor) -> MeanFieldNetwork:
        """A network whose measure is the empirical measure of ``particles`` ``(m, d + 2)``."""
        _check_particles(particles, "MeanFieldNetwork.from_particles")
        net = cls(particles.shape[1] - 2, particles.shape[0], dtype=particles.dtype)
        with torch.no_grad():
            net.particles.copy_(particles)
        return net

    @property
    def m(self) -> int:
        """Number of particles."""
        return self.particles.shape[0]

    @property
    def weights(self) -> Tensor:
        """The empirical measure's weights, ``1/m`` each."""
        return torch.full((self.m,), 1.0 / self.m, dtype=self.particles.dtype)

    def forward(self, x: Tensor) -> Tensor:
        """``(n, d) → (n,)``."""
        _check_data(self.particles, x, None, "MeanFieldNetwork")
        return _forward_parts(self.particles, x)[2]

    def velocity(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Closed-form particle velocities and loss (see :func:`mean_field_velocity`)."""
        return mean_field_velocity(self.particles.detach(), x, y)


class ParticleGradientDescent:
    """Forward-Euler time stepping of the particle flow: ``θ_i ← θ_i + h · v_i``.

    ``v_i = −∇_θ V_μ(θ_i)`` in closed form; ``h`` is a time step of the Wasserstein gradient
    flow, the same for every width ``m`` (it equals SGD on the particles at lr ``h·m``).

    Args:
        network: a :class:`MeanFieldNetwork`.
        h: time step (> 0).

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> net = MeanFieldNetwork(2, 200, generator=g, dtype=torch.float64)
        >>> x = torch.randn(30, 2, generator=g, dtype=torch.float64)
        >>> y = torch.relu(x[:, 0])
        >>> opt = ParticleGradientDescent(net, h=0.1)
        >>> first = opt.step(x, y)
        >>> for _ in range(50):
        ...     last = opt.step(x, y)
        >>> bool(last < first)
        True
    """

    def __init__(self, network: MeanFieldNetwork, h: float) -> None:
        if not isinstance(network, MeanFieldNetwork):
            raise ConfigError(
                f"ParticleGradientDescent: expected a MeanFieldNetwork — received "
                f"{type(network).__name__} — wrap the particles with "
                f"MeanFieldNetwork.from_particles"
            )
        self.network = network
        self.h = positive(h, "h", "ParticleGradientDescent", step=True)

    def step(self, x: Tensor, y: Tensor) -> float:
        """One time step on the data ``(x, y)``; returns the loss before the step."""
        velocity, loss = self.network.velocity(x, y)
        with torch.no_grad():
            self.network.particles.add_(velocity, alpha=self.h)
        value = float(loss)
        if not math.isfinite(value):
            raise NonFiniteError(
                f"ParticleGradientDescent: the loss is {value} — expected a finite loss — "
                f"lower the step h (now {self.h})"
            )
        return value


def planar_positions(particles: Tensor) -> Tensor:
    """``|a_i| · w_i`` for ``d = 2``: where a neuron points, scaled by its output weight.

    ReLU is positively 1-homogeneous, so ``(a, w, b) ↦ (a/c, c·w, c·b)`` leaves ``φ``
    unchanged; ``|a| w`` is the natural picture of a particle in the input plane (the one of
    Chizat & Bach's figures). Returns ``(m, 2)``.
    """
    _check_particles(particles, "planar_positions")
    if particles.shape[1] != 4:
        raise ShapeError(
            f"planar_positions: expected particles of a d = 2 network, (m, 4) — received "
            f"{tuple(particles.shape)} — use particle_histogram for other d"
        )
    return particles[:, :1].abs() * particles[:, 1:3]


def particle_histogram(
    particles: Tensor,
    column: int = 0,
    bins: int = 40,
    value_range: tuple[float, float] | None = None,
) -> tuple[Tensor, Tensor]:
    """The empirical measure's marginal along one particle coordinate, as a density.

    Args:
        particles: ``(m, d + 2)``.
        column: which coordinate (``0`` is ``a``, ``1..d`` are ``w``, ``d + 1`` is ``b``).
        bins: number of bins (≥ 1).
        value_range: ``(low, high)``; default the data range.

    Returns:
        ``(density (bins,), edges (bins + 1,))`` with ``Σ density · width = 1``.

    Example:
        >>> import torch
        >>> density, edges = particle_histogram(torch.randn(1000, 4), column=0, bins=10)
        >>> round(float((density * edges.diff()).sum()), 6)
        1.0
    """
    _check_particles(particles, "particle_histogram")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ConfigError(f"particle_histogram: `bins` must be an int ≥ 1 — received {bins!r}")
    if isinstance(column, bool) or not isinstance(column, int):
        raise ConfigError(f"particle_histogram: `column` must be an int — received {column!r}")
    if not -particles.shape[1] <= column < particles.shape[1]:
        raise ShapeError(
            f"particle_histogram: column {column} is out of range — expected 0..."
            f"{particles.shape[1] - 1} — received {column}"
        )
    values = particles[:, column].detach().double().cpu()
    low, high = (
        value_range if value_range is not None else (float(values.min()), float(values.max()))
    )
    if high <= low:
        high = low + 1.0
    counts = torch.histc(values, bins=bins, min=low, max=high)
    edges = torch.linspace(low, high, bins + 1, dtype=torch.float64)
    density = counts / (counts.sum().clamp_min(1.0) * (edges[1] - edges[0]))
    return density, edges
