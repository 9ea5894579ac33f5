"""Regularisers of the control ``θ(t)``, multilevel training in depth, and deep-limit distances.

An :class:`~structdl.dynamics.ODENet` with ``K`` per-layer fields and equal steps ``h = T/K``
is a piecewise-constant control ``θ_K(t) = θ_k`` on the cell ``[kh, (k+1)h)``. Regularisers are
discretisations of integrals in ``t`` so that they keep their meaning as ``K`` grows:

* weight decay ``Σ_k h ‖θ_k‖² ≈ ∫‖θ‖² dt``;
* time smoothness (discrete H¹ seminorm) ``Σ_k ‖θ_{k+1} − θ_k‖² / h ≈ ∫‖θ'‖² dt``;
* kinetic energy of the flow ``Σ_k h · mean_s ‖f_k(z_k)‖² ≈ ∫ E‖ż‖² dt`` (Finlay et al. 2020).

Multilevel training trains ``K`` layers, *prolongates* ``θ_K`` to ``mK`` layers by linear
interpolation in ``t`` between cell centres (constant beyond the outer centres), and continues;
:func:`restrict` averages ``m`` neighbouring cells back. For the H¹-regularised problem the
trained ``θ_K(t)`` converge as ``K → ∞`` (the deep limit, Thorpe & van Gennip 2018);
:func:`level_distance` measures ``‖θ_K − θ_{K'}‖_{L²(0,T)}`` on the common refinement.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from .._errors import ConfigError
from ..dynamics import ODENet

__all__ = [
    "control_values",
    "h1_smoothness",
    "kinetic_energy",
    "level_distance",
    "prolongate",
    "restrict",
    "weight_decay",
]


def _check(net: object, what: str) -> ODENet:
    if not isinstance(net, ODENet):
        raise ConfigError(f"{what} needs an ODENet, got {type(net).__name__}")
    if net.shared:
        raise ConfigError(
            f"{what} acts on per-layer controls θ_k — expected an ODENet with one field per "
            "layer — received a shared field; build it with a list of fields"
        )
    return net


def control_values(net: ODENet) -> Tensor:
    """``θ_k`` flattened, one row per layer: shape ``(K, n_params)``."""
    net = _check(net, "control_values")
    return torch.stack(
        [torch.cat([p.reshape(-1) for p in net.field(k).parameters()]) for k in range(net.steps)]
    )


def weight_decay(net: ODENet) -> Tensor:
    """``Σ_k h_k ‖θ_k‖²``."""
    theta = control_values(net)
    return (net.step_sizes() * theta.pow(2).sum(-1)).sum()


def h1_smoothness(net: ODENet) -> Tensor:
    """``Σ_k ‖θ_{k+1} − θ_k‖² / ((h_k + h_{k+1})/2)`` (zero for one layer).

    Example:
        >>> from structdl.dynamics import ODENet, Residual, Euler
        >>> field = Residual(2)
        >>> net = ODENet([copy.deepcopy(field) for _ in range(3)], Euler())
        >>> float(h1_smoothness(net).detach())  # identical layers: a constant control
        0.0
    """
    theta = control_values(net)
    if theta.shape[0] < 2:
        return theta.new_zeros(())
    h = net.step_sizes()
    gaps = 0.5 * (h[1:] + h[:-1])
    return ((theta[1:] - theta[:-1]).pow(2).sum(-1) / gaps).sum()


def kinetic_energy(net: ODENet, x: Tensor) -> Tensor:
    """``Σ_k h_k · mean_s ‖f_k(z_k)‖²`` along the trajectory of ``x``."""
    net = _check(net, "kinetic_energy")
    states = net.trajectory(x)
    h = net.step_sizes()
    total = h.new_zeros(())
    t = h.new_zeros(())
    for k in range(net.steps):
        velocity = net.field(k)(t, states[k])
        parts = velocity if isinstance(velocity, tuple) else (velocity,)
        total = total + h[k] * sum(v.pow(2).sum(-1).mean() for v in parts)
        t = t + h[k]
    return total


def _levels(net: ODENet, depth: int, what: str) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth <= 0:
        raise ConfigError(f"{what}: depth must be a positive int, got {depth!r}")
    if net.step_logits is not None or net.step_rule is not None:
        raise ConfigError(
            f"{what} interpolates θ(t) on equal cells — expected fixed equal steps — received "
            "learned steps or a step rule; build the network with learn_steps=False"
        )
    return depth


def _rebuild(net: ODENet, theta: Tensor) -> ODENet:
    """A copy of ``net`` with ``theta.shape[0]`` layers whose parameters are the rows of theta."""
    template = net.field(0)
    fields = []
    for row in theta:
        field = copy.deepcopy(template)
        start = 0
        with torch.no_grad():
            for p in field.parameters():
                p.copy_(row[start : start + p.numel()].reshape(p.shape))
                start += p.numel()
        fields.append(field)
    new = ODENet(
        fields,
        net.integrator,
        T=net.T,
        embed=net.embed,
        head=copy.deepcopy(net.head),
        readout=net.readout,
    )
    if net.embed == "phase_linear":
        with torch.no_grad():
            new.embed_weight.copy_(net.embed_weight)
    return new.to(theta.dtype)


def prolongate(net: ODENet, depth: int) -> ODENet:
    """``θ_K`` interpolated linearly in ``t`` to ``depth = mK`` layers (a new network).

    Raises:
        ConfigError: ``depth`` is not a positive multiple of ``K``, or learned steps.

    Example:
        >>> from structdl.dynamics import ODENet, Residual, Euler
        >>> net = ODENet([Residual(2) for _ in range(4)], Euler())
        >>> prolongate(net, 8).steps
        8
        >>> restrict(prolongate(net, 8), 4).steps
        4
    """
    net = _check(net, "prolongate")
    depth = _levels(net, depth, "prolongate")
    K = net.steps
    if depth % K:
        raise ConfigError(
            f"prolongate: the new depth must be a multiple of the current depth K={K} — so that "
            f"every old cell splits into whole new cells — received depth={depth}; pass e.g. "
            f"depth={2 * K}"
        )
    with torch.no_grad():
        theta = control_values(net)
        new = (torch.arange(depth, dtype=theta.dtype) + 0.5) / depth
        # Linear interpolation between old cell centres, constant beyond the outer ones.
        pos = (new * K - 0.5).clamp(0, K - 1)
        left = pos.floor().long().clamp(max=K - 1)
        right = (left + 1).clamp(max=K - 1)
        weight = (pos - left.to(theta.dtype)).unsqueeze(-1)
        values = (1 - weight) * theta[left] + weight * theta[right]
    return _rebuild(net, values)


def restrict(net: ODENet, depth: int) -> ODENet:
    """``θ`` averaged over groups of ``K/depth`` neighbouring cells (a new network).

    Raises:
        ConfigError: ``K`` is not a multiple of ``depth``.
    """
    net = _check(net, "restrict")
    depth = _levels(net, depth, "restrict")
    K = net.steps
    if K % depth:
        raise ConfigError(
            f"restrict: the current depth K={K} must be a multiple of the new depth — received "
            f"depth={depth}; pass a divisor of {K}"
        )
    with torch.no_grad():
        theta = control_values(net)
        values = theta.reshape(depth, K // depth, -1).mean(1)
    return _rebuild(net, values)


def level_distance(coarse: ODENet, fine: ODENet) -> float:
    """``‖θ_K − θ_{K'}‖_{L²(0,T)}`` of piecewise-constant controls (``K'`` a multiple of ``K``)."""
    coarse, fine = _check(coarse, "level_distance"), _check(fine, "level_distance")
    K, Kf = coarse.steps, fine.steps
    if Kf % K:
        raise ConfigError(f"level_distance: {Kf} layers is not a multiple of {K}")
    with torch.no_grad():
        a = control_values(coarse).repeat_interleave(Kf // K, dim=0)
        b = control_values(fine)
        return float(((a - b).pow(2).sum(-1) * (fine.T / Kf)).sum().sqrt())
