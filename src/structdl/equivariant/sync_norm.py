"""Group batch norm with statistics synchronised over data-parallel processes.

Under ``torch.nn.parallel.DistributedDataParallel`` each process sees only its share of the
batch. :class:`GroupBatchNorm` would normalise each share by its own statistics, so the model
trained on ``W`` processes would differ from the model trained on the whole batch. Like
``torch.nn.SyncBatchNorm``, :class:`SyncGroupBatchNorm` all-reduces the statistics over the
process group, so training on ``W`` processes with local batches ``B_r`` computes exactly what
one process computes on the concatenated batch (up to the order of floating-point sums).
"""

from __future__ import annotations

import torch
from torch import nn

from .actions import RegularRep
from .norm import GroupBatchNorm

__all__ = ["SyncGroupBatchNorm"]


def _world(group: object | None) -> int:
    if not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return 1
    return torch.distributed.get_world_size(group)


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes whose backward sums the gradients over processes too.

    Every process's loss depends on every process's inputs through the pooled statistics, so
    the gradient reaching the statistics of one process is the sum of the gradients of all
    processes (what DDP then averages is the gradient of the summed loss).
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, group: object | None) -> torch.Tensor:  # noqa: D102
        ctx.group = group
        reduced = tensor.clone()
        torch.distributed.all_reduce(reduced, group=group)
        return reduced

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        reduced = grad.clone()
        torch.distributed.all_reduce(reduced, group=ctx.group)
        return reduced, None


def _all_reduce(tensor: torch.Tensor, group: object | None) -> torch.Tensor:
    return _AllReduceSum.apply(tensor, group)


class SyncGroupBatchNorm(GroupBatchNorm):
    r"""Group batch norm whose statistics pool the batches of all processes.

    .. math::

        y_c(g, x) = \gamma_c \frac{f_c(g, x) - \mu_c}{\sqrt{\sigma_c^2 + \varepsilon}} + \beta_c,
        \quad \mu_c, \sigma_c^2 \text{ over } (b, g, x) \text{ and over all processes}

    **Preserves** equivariance exactly as :class:`GroupBatchNorm` (same claim): the pooled
    statistics are invariant under the group and spatial permutations of every process's
    inputs. Without an initialised process group (or with one process, or in eval mode) it is
    :class:`GroupBatchNorm` itself. It subclasses :class:`GroupBatchNorm` (an exception to
    wrapping rather than subclassing) so that ``state_dict`` keys, claims and checks are the
    same and a trained model converts either way.

    Args:
        num_channels: number of fields ``C``.
        group: ``G`` (only for bookkeeping and input checks).
        rep: ``"regular"`` (input ``(B, C, |G|, H, W)``) or ``"trivial"`` (``(B, C, H, W)``).
        eps: variance offset ``ε``.
        momentum: running-statistics momentum.
        affine: learn ``γ_c, β_c``.
        process_group: the processes to synchronise over (default: all).

    Example:
        >>> from structdl.equivariant import C4, GroupBatchNorm
        >>> plain = torch.nn.Sequential(GroupBatchNorm(2, C4))
        >>> synced = SyncGroupBatchNorm.convert(plain)
        >>> type(synced[0]).__name__
        'SyncGroupBatchNorm'
        >>> x = torch.randn(3, 2, 4, 5, 5)
        >>> torch.allclose(synced(x), GroupBatchNorm(2, C4)(x))  # one process: the same
        True
    """

    def __init__(
        self,
        num_channels: int,
        group: object,
        *,
        rep: str = "regular",
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        process_group: object | None = None,
    ) -> None:
        super().__init__(num_channels, group, rep=rep, eps=eps, momentum=momentum, affine=affine)  # type: ignore[arg-type]
        self.process_group = process_group

    @classmethod
    def convert(cls, module: nn.Module, process_group: object | None = None) -> nn.Module:
        """Replace every :class:`GroupBatchNorm` in ``module`` (in place) by this class.

        Parameters and running statistics are kept. Returns the converted module (a new
        object only when ``module`` itself is a :class:`GroupBatchNorm`).
        """
        if isinstance(module, GroupBatchNorm) and not isinstance(module, cls):
            synced = cls(
                module.num_channels,
                module.group,
                rep="regular" if isinstance(module.in_rep, RegularRep) else "trivial",
                eps=module.eps,
                momentum=module.momentum,
                affine=module.weight is not None,
                process_group=process_group,
            )
            # Same dtype and device first, so that loading the state keeps the values exactly.
            synced = synced.to(module.running_mean.device, module.running_mean.dtype)
            synced.load_state_dict(module.state_dict())
            synced.train(module.training)
            return synced
        for name, child in module.named_children():
            setattr(module, name, cls.convert(child, process_group))
        return module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` by the statistics of the whole distributed batch (in training)."""
        if not self.training or _world(self.process_group) == 1:
            return super().forward(x)
        super().forward(x[:0])  # the same input checks, on an empty slice (no statistics)
        flat = x.reshape(x.shape[0], self.num_channels, -1).transpose(0, 1).flatten(1)
        count = torch.tensor(float(flat.shape[1]), dtype=x.dtype, device=x.device)
        # Two passes (mean, then centred squares): as accurate as the one-process batch norm.
        total = _all_reduce(torch.cat([flat.sum(1), count.reshape(1)]), self.process_group)
        n = total[-1].detach()
        if float(n) < 2:
            return super().forward(x)  # raises the one-value-per-channel error
        mean = total[:-1] / n
        centred = flat - mean[:, None]
        var = _all_reduce((centred * centred).sum(1), self.process_group) / n
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(m * mean.detach())
            self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1))
        shape = (1, self.num_channels) + (1,) * (x.dim() - 2)
        out = (x - mean.reshape(shape)) * torch.rsqrt(var.reshape(shape) + self.eps)
        if self.weight is not None:
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        return out
