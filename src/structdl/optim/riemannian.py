"""Riemannian SGD (with transported momentum) and Riemannian Adam.

Both are :class:`torch.optim.Optimizer` subclasses with the usual signature. A parameter
that carries a manifold (a :class:`~structdl.manifolds.ManifoldParameter`, or any tensor given
one by :func:`~structdl.manifolds.attach`) is updated along the manifold::

    g_R   = M.egrad_to_rgrad(x, ∇f(x))                 Riemannian gradient
    x₊    = M.retract(x, −lr · d)                      d: the step direction (tangent)
    m     ← M.transport(x, x₊, m)                      momentum carried to T_{x₊}M

Every other parameter gets the Euclidean update of the same method, so one optimiser trains a
network with some constrained and some free weights. The iterate stays on the manifold by
construction (up to round-off of the retraction; see the manifolds' docs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from .._errors import ConfigError
from ._validate import evaluate_closure, in_unit_interval, non_negative, positive

__all__ = ["RiemannianAdam", "RiemannianSGD"]


def _manifold(p: Tensor) -> Any:
    return getattr(p, "manifold", None)


class RiemannianSGD(torch.optim.Optimizer):
    """Riemannian gradient descent with heavy-ball momentum transported between tangent spaces.

    ``m ← μ m + (1 − dampening) g_R``, ``x₊ = R_x(−lr m)``, ``m ← T_{x→x₊}(m)`` (Bonnabel 2013).
    With ``momentum=0`` this is ``x₊ = R_x(−lr g_R)``. Euclidean parameters: torch's SGD.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (> 0).
        momentum: μ in ``[0, 1)``.
        dampening: in ``[0, 1)``.
        weight_decay: L2 penalty added to the Euclidean gradient (≥ 0).

    Example:
        >>> import torch
        >>> from structdl.manifolds import ManifoldParameter, Sphere
        >>> s = Sphere()
        >>> x = ManifoldParameter(s.random_point(3, generator=torch.Generator().manual_seed(0)), s)
        >>> opt = RiemannianSGD([x], lr=0.1, momentum=0.9)
        >>> for _ in range(200):
        ...     opt.zero_grad()
        ...     (x @ torch.tensor([1.0, 2.0, 2.0])).backward()
        ...     opt.step()
        >>> [round(v, 3) for v in x.tolist()]  # the minimiser −(1, 2, 2)/3
        [-0.333, -0.667, -0.667]
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        who = "RiemannianSGD"
        defaults = {
            "lr": positive(lr, "lr", who, step=True),
            "momentum": in_unit_interval(momentum, "momentum", who),
            "dampening": in_unit_interval(dampening, "dampening", who),
            "weight_decay": non_negative(weight_decay, "weight_decay", who),
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One step; ``closure`` (optional) re-evaluates the loss."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            lr, mu = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                manifold = _manifold(p)
                if manifold is not None:
                    grad = manifold._egrad_to_rgrad(p, grad)
                direction = grad
                if mu:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = grad.clone()
                    else:
                        buf.mul_(mu).add_(grad, alpha=1.0 - group["dampening"])
                    state["momentum_buffer"] = buf
                    direction = buf
                if manifold is None:
                    p.add_(direction, alpha=-lr)
                    continue
                new = manifold._retract(p, -lr * direction, manifold.retraction)
                if mu:
                    state["momentum_buffer"] = manifold._transport(p, new, direction)
                p.copy_(new)
        return loss


class RiemannianAdam(torch.optim.Optimizer):
    """Adam on manifolds (Bécigneul & Ganea 2019): moments in the tangent space, transported.

    With ``g_R`` the Riemannian gradient::

        m ← β₁ m + (1 − β₁) g_R,      v ← β₂ v + (1 − β₂) g_R ⊙ g_R
        d = P_x( m̂ / (√v̂ + ε) ),      x₊ = R_x(−lr d),      m ← T_{x→x₊}(m)

    with bias corrections ``m̂ = m/(1 − β₁ᵗ)``, ``v̂ = v/(1 − β₂ᵗ)`` and ``P_x`` the tangent
    projection (the element-wise scaling leaves the tangent space; a retraction that reads its
    argument only through the tangent part — Stiefel's Cayley map — skips the explicit
    ``P_x``). Euclidean parameters get torch's Adam update.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (> 0).
        betas: ``(β₁, β₂)``, each in ``[0, 1)``.
        eps: added to ``√v̂`` (> 0).
        weight_decay: L2 penalty added to the Euclidean gradient (≥ 0).

    Example:
        >>> import torch
        >>> from structdl.manifolds import ManifoldParameter, Stiefel
        >>> st = Stiefel()
        >>> start = st.random_point(6, 2, generator=torch.Generator().manual_seed(0))
        >>> w = ManifoldParameter(start, st)
        >>> opt = RiemannianAdam([w], lr=1e-2)
        >>> for _ in range(20):
        ...     opt.zero_grad()
        ...     (w.sum() ** 2).backward()
        ...     opt.step()
        >>> st.check_point(w.detach())
        True
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        who = "RiemannianAdam"
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ConfigError(
                f"{who}: `betas` is invalid — expected a pair (β₁, β₂) — received {betas!r} — "
                f"pass e.g. betas=(0.9, 0.999)"
            )
        defaults = {
            "lr": positive(lr, "lr", who, step=True),
            "betas": (
                in_unit_interval(betas[0], "betas[0]", who),
                in_unit_interval(betas[1], "betas[1]", who),
            ),
            "eps": positive(eps, "eps", who),
            "weight_decay": non_negative(weight_decay, "weight_decay", who),
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One step; ``closure`` (optional) re-evaluates the loss."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                manifold = _manifold(p)
                if manifold is not None:
                    grad = manifold._egrad_to_rgrad(p, grad)
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.mul_(beta1).add_(grad, alpha=1.0 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                t = state["step"]
                step_size = group["lr"] / (1.0 - beta1**t)
                # √(v / (1 − β₂ᵗ)) + ε, then −step_size · m / that, in place on one buffer.
                step = exp_avg_sq.sqrt().div_(math.sqrt(1.0 - beta2**t)).add_(group["eps"])
                step = torch.div(exp_avg, step, out=step).mul_(-step_size)
                if manifold is None:
                    p.add_(step)
                    continue
                # The step leaves the tangent space (element-wise scaling): R_x(P_x step),
                # with the projection skipped by retractions that only read the tangent part.
                new = manifold._retract_ambient(p, step, manifold.retraction)
                state["exp_avg"] = manifold._transport(p, new, exp_avg)
                p.copy_(new)
        return loss
