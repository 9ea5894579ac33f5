"""Search for the worst Lipschitz ratio ``‖Φ(a) − Φ(b)‖ / ‖a − b‖`` of a batched map.

Two stages, both seeded and independent of the global random state:

1. close pairs where ratios are largest: ``(x_i, x_i + r_min v_i)`` along the top right
   singular vector ``v_i`` of the Jacobian at each sample point (a few power iterations of
   ``JᵀJ`` by forward- and reverse-mode products), whose ratio is ``σ_max(DΦ(x_i))`` up to
   ``O(r_min)``; then random pairs around the sample points: *local* pairs ``(x_i, x_i + r u)``
   with a random unit direction ``u`` and a log-uniform radius ``r``, and *global* pairs
   ``(x_i, x_j)``;
2. gradient ascent on ``log ratio`` (Adam over the anchor ``a``, the direction ``u`` and the
   separation ``r``) from the worst random pairs and a few random ones. It finds expanding
   directions and regions that random sampling misses: in high dimension a random direction
   has almost no component along the one direction a layer expands.

Pairs are kept at least ``r_min = eps^(1/3) · size`` apart, where ``size`` is the typical norm of
the data: the round-off in ``Φ(a) − Φ(b)`` is about ``eps · size``, so the ratio carries a
relative round-off of at most ``eps^(2/3)`` (2e-5 in float32, 4e-11 in float64), below the
dtype's Lipschitz tolerance. Below ``r_min`` a secant ratio would measure round-off, not Φ.

A non-finite ratio (the map returns NaN or inf at a point of a pair) counts as an infinite
ratio: a map that blows up just off the samples violates every bound. The reported worst ratio
is that of an actual pair of points, a figure a user can quote.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["LipschitzSearch", "search_lipschitz"]

# How many of the worst (and as many random) pairs seed the gradient ascent; a few starts
# suffice because the ascent is local, and each costs one forward/backward pass per step.
_ASCENT_STARTS = 8
# Adam step, as a fraction of the per-coordinate data scale: large enough to cross a region the
# size of the data in tens of steps, small enough to follow a ridge of the ratio.
_ASCENT_LR = 0.05


@dataclass(frozen=True)
class LipschitzSearch:
    """Outcome of the search: the worst ratio and where it came from."""

    worst: float
    random_worst: float
    ascent_worst: float
    n_evaluated: int
    ascent_note: str


def _ratios(fn: Callable[[Tensor], Tensor], a: Tensor, b: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Ratios for flat pairs ``a, b`` of shape (k, d); a non-finite ratio becomes ``inf``."""
    fa = fn(a.reshape(-1, *shape)).reshape(a.shape[0], -1)
    fb = fn(b.reshape(-1, *shape)).reshape(b.shape[0], -1)
    ratio = (fa - fb).norm(dim=1) / (a - b).norm(dim=1)
    return torch.where(torch.isfinite(ratio), ratio, torch.full_like(ratio, math.inf))


#: Power iterations of ``JᵀJ`` per sample point for the top singular direction.
_POWER_STEPS = 12


def _top_directions(
    fn: Callable[[Tensor], Tensor], flat: Tensor, shape: tuple[int, ...], gen: torch.Generator
) -> Tensor | None:
    """Unit top right singular vectors of ``DΦ`` at each row of ``flat`` (``None`` if Φ is not
    differentiable there). Rows of a batched map are independent, so one Jacobian-vector and
    one vector-Jacobian product per iteration serve every point at once."""
    v = torch.randn(flat.shape, generator=gen, dtype=flat.dtype, device=flat.device)

    def batched(z: Tensor) -> Tensor:
        return fn(z.reshape(-1, *shape)).reshape(z.shape[0], -1)

    try:
        with torch.enable_grad():
            for _ in range(_POWER_STEPS):
                v = v / v.norm(dim=1, keepdim=True).clamp_min(torch.finfo(flat.dtype).tiny)
                _, jv = torch.autograd.functional.jvp(batched, flat, v)
                _, v = torch.autograd.functional.vjp(batched, flat, jv)
    except RuntimeError:
        return None
    norm = v.norm(dim=1, keepdim=True)
    if not bool(torch.isfinite(norm).all()) or not bool((norm > 0).all()):
        return None
    return (v / norm).detach()


def _random_pairs(
    flat: Tensor, n_pairs: int, r_min: float, r_max: float, gen: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Local and global random pairs around the rows of ``flat`` (n, d)."""
    n, d = flat.shape
    opts = {"generator": gen, "dtype": flat.dtype, "device": flat.device}
    n_global = n_pairs // 2 if n > 1 else 0
    n_local = n_pairs - n_global
    idx = torch.randint(n, (n_local,), generator=gen, device=flat.device)
    direction = torch.randn(n_local, d, **opts)
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(
        torch.finfo(flat.dtype).tiny
    )
    log_r = math.log(r_min) + torch.rand(n_local, 1, **opts) * (math.log(r_max) - math.log(r_min))
    a = flat[idx]
    b = a + log_r.exp() * direction
    if n_global:
        i = torch.randint(n, (n_global,), generator=gen, device=flat.device)
        # j ≠ i: shift by 1 … n−1 modulo n.
        j = (i + 1 + torch.randint(n - 1, (n_global,), generator=gen, device=flat.device)) % n
        far = (flat[i] - flat[j]).norm(dim=1) >= r_min
        a = torch.cat([a, flat[i][far]])
        b = torch.cat([b, flat[j][far]])
    return a, b


def _ascent_starts(ratios: Tensor, gen: torch.Generator) -> Tensor:
    """Indices of the pairs that seed the ascent: the worst ones plus random others.

    The ratio landscape can have a contracting valley between the sampled points and an
    expanding region, so a few random starts are kept besides the greedy ones.
    """
    order = ratios.argsort(descending=True)
    greedy = order[:_ASCENT_STARTS]
    rest = order[_ASCENT_STARTS:]
    pick = torch.randperm(len(rest), generator=gen, device=rest.device)[:_ASCENT_STARTS]
    return torch.cat([greedy, rest[pick]])


def search_lipschitz(
    fn: Callable[[Tensor], Tensor], x: Tensor, n_pairs: int, ascent_steps: int, seed: int
) -> LipschitzSearch:
    """Worst ratio over random pairs and a gradient-ascent search (see module docstring)."""
    shape = tuple(x.shape[1:])
    flat = x.reshape(x.shape[0], -1)
    n, d = flat.shape
    eps = torch.finfo(x.dtype).eps
    gen = torch.Generator(device=x.device).manual_seed(seed)

    spread = float((flat - flat.mean(0)).pow(2).mean().sqrt()) if n > 1 else 0.0
    typical = float(flat.norm(dim=1).max())
    scale = spread if spread > 0 else (typical / math.sqrt(d) if typical > 0 else 1.0)
    size = max(scale * math.sqrt(d), typical)
    r_min = eps ** (1.0 / 3.0) * size
    r_max = max(scale * math.sqrt(d), 2 * r_min)

    a, b = _random_pairs(flat, n_pairs, r_min, r_max, gen)
    # Not under no_grad: maps built from Hamiltonian fields differentiate inside their forward.
    ratios = _ratios(fn, a, b, shape).detach()
    starts = _ascent_starts(ratios, gen)
    # Close pairs along the most expanding direction at every point (own generator, so that the
    # random pairs and ascent starts above do not depend on it); the best seed the ascent too.
    top = _top_directions(fn, flat, shape, torch.Generator(device=x.device).manual_seed(seed + 1))
    if top is not None:
        close = _ratios(fn, flat, flat + r_min * top, shape).detach()
        best_close = close.argsort(descending=True)[: _ASCENT_STARTS // 2] + len(ratios)
        a, b = torch.cat([a, flat]), torch.cat([b, flat + r_min * top])
        ratios = torch.cat([ratios, close])
        starts = torch.cat([starts, best_close])
    random_worst = float(ratios.max())
    if ascent_steps == 0 or not math.isfinite(random_worst):
        note = "no ascent" if ascent_steps == 0 else "a pair gave a non-finite ratio"
        return LipschitzSearch(random_worst, random_worst, 0.0, len(ratios), note)

    # Pair = (a, a + r·u/‖u‖) with r = r_min + e^s: the separation never falls below r_min, and
    # the direction u moves independently of the scale of the data.
    a, b = a[starts], b[starts]
    offset = b - a
    radius = offset.norm(dim=1)
    anchor = a.clone().requires_grad_(True)
    direction = (offset / radius.unsqueeze(1)).requires_grad_(True)
    log_excess = (radius - r_min).clamp_min(r_min).log().requires_grad_(True)
    optimiser = torch.optim.Adam(
        [
            {"params": [anchor], "lr": _ASCENT_LR * scale},
            {"params": [direction], "lr": _ASCENT_LR / math.sqrt(d)},
            {"params": [log_excess], "lr": _ASCENT_LR},
        ]
    )
    params = [anchor, direction, log_excess]
    ascent_worst = 0.0
    note = f"{ascent_steps} ascent steps from {len(starts)} starts"
    with torch.enable_grad():
        for step in range(ascent_steps + 1):
            unit = direction / direction.norm(dim=1, keepdim=True)
            other = anchor + (r_min + log_excess.exp()).unsqueeze(1) * unit
            ratio = _ratios(fn, anchor, other, shape)
            ascent_worst = max(ascent_worst, float(ratio.detach().max()))
            if step == ascent_steps or not math.isfinite(ascent_worst):
                break
            if not ratio.requires_grad:
                note = "ascent skipped: the map's output is not differentiable"
                break
            positive = ratio > 0
            if not bool(positive.any()):
                break
            objective = ratio[positive].log().sum()
            # autograd.grad (not backward) so that no .grad accumulates on the map's parameters.
            grads = torch.autograd.grad(objective, params, allow_unused=True)
            for param, grad in zip(params, grads, strict=True):
                param.grad = None if grad is None else -grad
            optimiser.step()
            if not all(bool(torch.isfinite(p).all()) for p in params):
                note = "ascent stopped: the iterates became non-finite"
                break
    worst = max(random_worst, ascent_worst)
    return LipschitzSearch(worst, random_worst, ascent_worst, len(ratios), note)
