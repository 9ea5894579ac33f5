"""Layer-parallel forward and backward passes by parareal over the layer index.

The ``K`` layers of an :class:`~structdl.dynamics.ODENet` are cut into ``P`` chunks of
consecutive layers. The *fine* propagator ``F_n`` runs chunk ``n`` layer by layer; the *coarse*
propagator ``G_n`` is ONE step of the network's integrator over the chunk's total length with
the chunk's middle field. Parareal iterates (Lions, Maday & Turinici 2001)

    U_{n+1}^{j+1} = G_n(U_n^{j+1}) + F_n(U_n^j) − G_n(U_n^j),

where the ``P`` fine propagations of one iteration are independent (run in parallel: one
chunk per process with ``torch.distributed``, or serially here). After ``j`` iterations the
first ``j`` chunk boundaries are exact, so ``P`` iterations reproduce the sequential pass; in
practice a few suffice. The backward pass is the same iteration on the (linear) costate
equation ``λ_k = DΦ_kᵀ λ_{k+1}`` run from the last chunk to the first, with the transposed
Jacobians of ``F_n`` and ``G_n`` applied by vector–Jacobian products; each layer's parameter
gradient is then a local product with its costate (parallel over layers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .._errors import ConfigError
from ..dynamics import ODENet

__all__ = ["PararealResult", "parareal_backward", "parareal_forward"]


@dataclass
class PararealResult:
    """Boundary values after each iteration, and the final ones.

    Attributes:
        boundaries: ``U_0 … U_P`` (forward: states; backward: costates) after the last iteration.
        history: ``boundaries`` after every iteration (for convergence plots).
    """

    boundaries: list[Tensor]
    history: list[list[Tensor]]


def _chunks(net: ODENet, chunks: int) -> list[range]:
    if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks <= 0:
        raise ConfigError(f"chunks must be a positive int, got {chunks!r}")
    if net.steps % chunks:
        raise ConfigError(
            f"parareal: {net.steps} layers cannot be cut into {chunks} equal chunks — expected a "
            f"divisor of {net.steps} — pass e.g. chunks=4"
        )
    size = net.steps // chunks
    return [range(n * size, (n + 1) * size) for n in range(chunks)]


def _fine(net: ODENet, layers: range, z: Tensor, h: list[float], t: list[float]) -> Tensor:
    for k in layers:
        z = net.integrator.step(net.field(k), t[k], z, h[k])
    return z


def _coarse(net: ODENet, layers: range, z: Tensor, h: list[float], t: list[float]) -> Tensor:
    mid = layers[len(layers) // 2]
    span = sum(h[k] for k in layers)
    return net.integrator.step(net.field(mid), t[layers[0]], z, span)


def _distribute(work: Callable[[int], Tensor], count: int, group: object | None) -> list[Tensor]:
    """``[work(n) for n in range(count)]``, split over the ranks of ``group`` if given."""
    if group is None:
        return [work(n) for n in range(count)]
    import torch.distributed as dist

    rank, size = dist.get_rank(group), dist.get_world_size(group)
    results: list[Tensor | None] = [None] * count
    for n in range(count):
        if n % size == rank:
            results[n] = work(n)
    template = next(r for r in results if r is not None)
    out = []
    for n in range(count):
        buffer = results[n] if results[n] is not None else torch.empty_like(template)
        dist.broadcast(buffer, src=n % size, group=group)
        out.append(buffer)
    return out


def _setup(net: ODENet, x: Tensor) -> tuple[list[float], list[float]]:
    if not isinstance(net, ODENet) or net.embed is not None:
        raise ConfigError("parareal needs an ODENet on tensor states (embed=None)")
    h = [float(v) for v in net.step_sizes().detach()]
    t = [sum(h[:k]) for k in range(len(h))]
    if not isinstance(x, Tensor):
        raise ConfigError(f"x must be a tensor, got {type(x).__name__}")
    return h, t


def parareal_forward(
    net: ODENet, x: Tensor, *, chunks: int = 8, iterations: int = 4, group: object | None = None
) -> PararealResult:
    """The states at the chunk boundaries by ``iterations`` parareal iterations.

    Args:
        group: a ``torch.distributed`` process group: the fine chunks are split over its ranks
            and exchanged by broadcasts (every rank returns the same result); ``None`` emulates
            the parallel iteration serially.

    Example:
        >>> from structdl.dynamics import ODENet, Residual, Euler
        >>> net = ODENet([Residual(2) for _ in range(16)], Euler()).double()
        >>> x = torch.randn(4, 2, dtype=torch.float64)
        >>> out = parareal_forward(net, x, chunks=4, iterations=4).boundaries[-1]
        >>> float((out - net(x).detach()).abs().max()) < 1e-12  # P iterations: exact
        True
    """
    h, t = _setup(net, x)
    parts = _chunks(net, chunks)
    with torch.no_grad():
        # Iteration 0: the coarse sweep alone.
        u = [x]
        for layers in parts:
            u.append(_coarse(net, layers, u[-1], h, t))
        history = [list(u)]
        for _ in range(iterations):
            fine = _distribute(lambda n, u=u: _fine(net, parts[n], u[n], h, t), len(parts), group)
            old_coarse = [_coarse(net, layers, u[n], h, t) for n, layers in enumerate(parts)]
            new = [x]
            for n, layers in enumerate(parts):
                new.append(_coarse(net, layers, new[-1], h, t) + fine[n] - old_coarse[n])
            u = new
            history.append(list(u))
    return PararealResult(u, history)


def _vjp(fn: Callable[[Tensor], Tensor], z: Tensor, lam: Tensor) -> Tensor:
    with torch.enable_grad():
        leaf = z.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(fn(leaf), leaf, lam)
    return grad


def parareal_backward(
    net: ODENet,
    states: list[Tensor],
    lam_final: Tensor,
    *,
    chunks: int = 8,
    iterations: int = 4,
    group: object | None = None,
) -> PararealResult:
    """Costates at the chunk boundaries by parareal on ``λ_k = DΦ_kᵀ λ_{k+1}``, backwards.

    Args:
        states: the forward states at the chunk boundaries (``P + 1`` tensors, e.g. from
            :func:`parareal_forward`).
        lam_final: ``∂L/∂z_K``.

    Returns:
        ``boundaries[n]`` is ``λ`` at the start of chunk ``n`` (``boundaries[P] = lam_final``).
    """
    h, t = _setup(net, lam_final)
    parts = _chunks(net, chunks)
    P = len(parts)
    if len(states) != P + 1:
        raise ConfigError(f"states must hold the {P + 1} chunk boundaries, got {len(states)}")

    def fine_t(n: int, lam: Tensor) -> Tensor:
        return _vjp(lambda z: _fine(net, parts[n], z, h, t), states[n], lam)

    def coarse_t(n: int, lam: Tensor) -> Tensor:
        return _vjp(lambda z: _coarse(net, parts[n], z, h, t), states[n], lam)

    lam = [None] * P + [lam_final]
    for n in reversed(range(P)):
        lam[n] = coarse_t(n, lam[n + 1])
    history = [list(lam)]
    for _ in range(iterations):
        fine = _distribute(lambda n, lam=lam: fine_t(n, lam[n + 1]), P, group)
        old = [coarse_t(n, lam[n + 1]) for n in range(P)]
        new = [None] * P + [lam_final]
        for n in reversed(range(P)):
            new[n] = coarse_t(n, new[n + 1]) + fine[n] - old[n]
        lam = new
        history.append(list(lam))
    return PararealResult(lam, history)  # type: ignore[arg-type]
