"""Per-point Jacobians of batched maps, by ``torch.func`` with an autograd fallback."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["batched_jacobian"]


def batched_jacobian(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Jacobians ``DΦ(x_i)`` of a batched map at every point of a batch.

    ``fn`` maps ``(batch, *in_shape)`` to ``(batch, *out_shape)`` with rows independent of each
    other. The Jacobian of row ``i`` is computed by evaluating ``fn`` on a batch of one, so
    maps that mix the batch (batch norm in training mode) are measured per point.

    Args:
        fn: the batched map.
        x: points, shape ``(n, *in_shape)``.

    Returns:
        Tensor of shape ``(n, prod(out_shape), prod(in_shape))``.
    """
    n = x.shape[0]
    in_size = x[0].numel()

    def single(row: Tensor) -> Tensor:
        return fn(row.unsqueeze(0))[0].reshape(-1)

    try:
        # Reverse mode, as in torch.func's docs; its first call in a process imports
        # torch._dynamo (a one-off of a few seconds). Forward mode (jacfwd) would avoid that but
        # its first call emits a torch.jit DeprecationWarning, an error under our pytest config.
        return torch.func.vmap(torch.func.jacrev(single))(x).reshape(n, -1, in_size).detach()
    except (RuntimeError, NotImplementedError):
        pass
    # Not functorch-compatible (``.item()``, data-dependent control flow, autograd.grad inside
    # the map …): one reverse-mode Jacobian per point.
    with torch.enable_grad():
        jac = torch.stack([torch.autograd.functional.jacobian(single, x[i]) for i in range(n)])
    return jac.reshape(n, -1, in_size).detach()
