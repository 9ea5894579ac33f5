"""Training loops for learned dynamics: derivative matching and rollouts through an integrator.

* :func:`fit_derivatives` — ``min_θ mean ‖f_θ(x_i) − ẋ_i‖²`` (the HNN protocol: states and their
  exact time derivatives), full batch or minibatches, Adam;
* :func:`fit_rollout` — the integrator in the loop: from each start ``z_i`` the model map
  ``Φ_θ`` (a :class:`~structdl.dynamics.learning.FlowMap`, a SympNet …) is applied ``r`` times
  and compared with the next ``r`` observed states, ``mean_{i,k} ‖Φ_θ^k(z_i) − z_{i+k}‖²``;
* :func:`symplectic_gradient` — ``J∇E(z)`` of any scalar function by ``torch.func`` (``vmap``
  over ``grad``): the batched route for energies without a closed-form gradient.

Every loss is evaluated on the whole batch at once; nothing loops over samples.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..._errors import ConfigError, ShapeError
from ...structure._validate import require_int
from ._validate import canonical_rotation, positive_float

__all__ = ["fit_derivatives", "fit_rollout", "rollout", "rollout_loss", "symplectic_gradient"]


def symplectic_gradient(energy: Callable[[Tensor], Tensor], z: Tensor) -> Tensor:
    """``J ∇E(z)`` for a scalar ``E`` on single states, batched with ``torch.func.vmap``.

    Args:
        energy: ``E: (2d,) → ()`` (one state at a time; ``vmap`` batches it).
        z: states ``(batch, 2d)``.

    Example:
        >>> import torch
        >>> z = torch.tensor([[1.0, 2.0]])
        >>> symplectic_gradient(lambda s: 0.5 * (s * s).sum(), z)  # H = ½|z|²: (p, −q)
        tensor([[ 2., -1.]])
    """
    if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] % 2:
        got = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
        raise ShapeError(
            f"symplectic_gradient: wrong states — expected (batch, 2d) — received {got} — "
            f"concatenate q and p along dim 1"
        )
    return canonical_rotation(torch.func.vmap(torch.func.grad(energy))(z))


def _optimiser(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if not isinstance(weight_decay, (int, float)) or weight_decay < 0:
        raise ConfigError(
            f"weight_decay must be ≥ 0 — expected e.g. 1e-4 — received {weight_decay!r} — "
            f"pass a non-negative float"
        )
    return torch.optim.Adam(
        model.parameters(), lr=positive_float(lr, "lr", "fit"), weight_decay=weight_decay
    )


def _schedule(optimiser: torch.optim.Optimizer, steps: int, final_lr_fraction: float):  # noqa: ANN202
    """Cosine decay from ``lr`` to ``final_lr_fraction · lr`` over ``steps``."""
    if not 0.0 < final_lr_fraction <= 1.0:
        raise ConfigError(
            f"final_lr_fraction must lie in (0, 1] — expected e.g. 0.01 — received "
            f"{final_lr_fraction!r} — pass a fraction"
        )
    return torch.optim.lr_scheduler.CosineAnnealingLR(
        optimiser, T_max=steps, eta_min=optimiser.param_groups[0]["lr"] * final_lr_fraction
    )


def fit_derivatives(
    model: nn.Module,
    x: Tensor,
    dx: Tensor,
    *,
    steps: int,
    lr: float = 1e-3,
    batch_size: int | None = None,
    weight_decay: float = 0.0,
    final_lr_fraction: float = 1.0,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Fit ``model.time_derivative(x) ≈ dx`` by Adam; returns the loss of every step.

    Args:
        model: any module with ``time_derivative(z) -> (batch, 2d)``.
        x: states ``(N, 2d)``; ``dx``: their time derivatives.
        steps: optimiser steps.
        lr: Adam learning rate.
        batch_size: minibatch size (``None``: full batch).
        weight_decay: Adam weight decay.
        final_lr_fraction: cosine decay of the learning rate to this fraction (1: constant).
        generator: seeds the minibatch draws.
    """
    steps = require_int(steps, "steps", "fit_derivatives")
    if x.shape != dx.shape:
        raise ShapeError(
            f"fit_derivatives: x and dx differ — expected equal shapes — received "
            f"{tuple(x.shape)} and {tuple(dx.shape)} — pass one derivative per state"
        )

    def loss(rows: Tensor | None) -> Tensor:
        xb, dxb = (x, dx) if rows is None else (x[rows], dx[rows])
        return (model.time_derivative(xb) - dxb).pow(2).mean()

    return fit_minibatches(
        model,
        loss,
        x.shape[0],
        steps=steps,
        lr=lr,
        batch_size=batch_size,
        weight_decay=weight_decay,
        final_lr_fraction=final_lr_fraction,
        generator=generator,
    )


def fit_minibatches(
    model: nn.Module,
    loss: Callable[[Tensor | None], Tensor],
    rows: int,
    *,
    steps: int,
    lr: float,
    batch_size: int | None,
    weight_decay: float,
    final_lr_fraction: float,
    generator: torch.Generator | None,
) -> list[float]:
    """Adam with cosine decay on ``loss(batch_rows)``; returns the loss of every step.

    The loop behind :func:`fit_derivatives` and :func:`~structdl.dynamics.learning.
    fit_autoencoder`: each step draws ``batch_size`` of the ``rows`` data rows without
    replacement (``loss`` receives their indices) or, with ``batch_size`` ``None`` or ``≥ rows``,
    passes ``None`` for the full batch.
    """
    optimiser = _optimiser(model, lr, weight_decay)
    schedule = _schedule(optimiser, steps, final_lr_fraction)
    full_batch = batch_size is None or batch_size >= rows
    losses = []
    for _ in range(steps):
        drawn = None if full_batch else torch.randperm(rows, generator=generator)[:batch_size]
        value = loss(drawn)
        optimiser.zero_grad(set_to_none=True)
        value.backward()
        optimiser.step()
        schedule.step()
        losses.append(float(value.detach()))
    return losses


def rollout(step_map: Callable[[Tensor], Tensor], z: Tensor, n: int) -> Tensor:
    """``z, Φ(z), …, Φⁿ(z)``, shape ``(batch, n + 1, 2d)``."""
    states = [z]
    for _ in range(require_int(n, "n", "rollout")):
        states.append(step_map(states[-1]))
    return torch.stack(states, dim=1)


def rollout_loss(step_map: Callable[[Tensor], Tensor], starts: Tensor, targets: Tensor) -> Tensor:
    """``mean_{i,k} ‖Φ^k(z_i) − target_{i,k}‖²``, ``k = 1 … r`` (``targets``: ``(N, r, 2d)``)."""
    if targets.dim() != 3 or targets.shape[0] != starts.shape[0]:
        raise ShapeError(
            f"rollout_loss: wrong targets — expected (N, r, 2d) with N = {starts.shape[0]} — "
            f"received {tuple(targets.shape)} — stack the r following states per start"
        )
    predicted = rollout(step_map, starts, targets.shape[1])[:, 1:]
    return (predicted - targets).pow(2).sum(dim=-1).mean()


def fit_rollout(
    step_map: nn.Module,
    starts: Tensor,
    targets: Tensor,
    *,
    steps: int,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    final_lr_fraction: float = 1.0,
    keep_best: bool = False,
) -> list[float]:
    """Fit ``Φ_θ^k(starts) ≈ targets[:, k−1]`` (full batch, Adam); returns the losses.

    Args:
        step_map: the model map (its parameters are trained).
        starts: ``(N, 2d)`` start states.
        targets: ``(N, r, 2d)``: the ``r`` observed states after each start.
        steps: optimiser steps.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        final_lr_fraction: cosine decay of the learning rate to this fraction.
        keep_best: restore the parameters of the lowest training loss at the end.
    """
    steps = require_int(steps, "steps", "fit_rollout")
    optimiser = _optimiser(step_map, lr, weight_decay)
    schedule = _schedule(optimiser, steps, final_lr_fraction)
    losses: list[float] = []
    best, best_state = float("inf"), None
    for _ in range(steps):
        loss = rollout_loss(step_map, starts, targets)
        value = float(loss.detach())
        if keep_best and value < best:
            best = value
            best_state = {k: v.detach().clone() for k, v in step_map.state_dict().items()}
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(value)
    if keep_best and best_state is not None:
        step_map.load_state_dict(best_state)
    return losses
