"""Per-point Jacobians of batched maps, by ``torch.func`` with an autograd fallback."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["batched_jacobian"]

# The checks need square Jacobians (symplectic form, volume), for which forward and reverse
# mode cost the same number of passes. Forward mode goes first because reverse mode under vmap
# imports torch._dynamo on first use (seconds of start-up); reverse mode is the fallback for
# operations without a forward-mode formula (custom autograd Functions).
_TRANSFORMS = (torch.func.jacfwd, torch.func.jacrev)


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

    for transform in _TRANSFORMS:
        try:
            return torch.func.vmap(transform(single))(x).reshape(n, -1, in_size).detach()
        except (RuntimeError, NotImplementedError):
            continue
    # Not functorch-compatible (``.item()``, data-dependent control flow, autograd.grad inside
    # the map …): one reverse-mode Jacobian per point.
    with torch.enable_grad():
        jac = torch.stack([torch.autograd.functional.jacobian(single, x[i]) for i in range(n)])
    return jac.reshape(n, -1, in_size).detach()
