"""Recomputation state for memory-efficient backpropagation.

While a container recomputes a block in its backward pass, side effects of the forward pass
must not happen twice: a block's power iteration must not advance (:func:`active`), BatchNorm
running statistics must not be updated again (:func:`frozen_statistics`), and random draws
(dropout masks, stochastic log-determinants) must repeat those of the forward pass
(:class:`RngReplay`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["RngReplay", "active", "frozen_statistics", "recomputing", "uses_rng"]

_STATE = threading.local()


def active() -> bool:
    """Whether a container is recomputing (or inverting) blocks in a backward pass."""
    return getattr(_STATE, "depth", 0) > 0


@contextlib.contextmanager
def recomputing() -> Iterator[None]:
    """Mark the enclosed code as a recomputation (see :func:`active`)."""
    _STATE.depth = getattr(_STATE, "depth", 0) + 1
    try:
        yield
    finally:
        _STATE.depth -= 1


_NORMS = (nn.modules.batchnorm._BatchNorm,)
_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


@contextlib.contextmanager
def frozen_statistics(module: nn.Module) -> Iterator[None]:
    """Restore every BatchNorm running statistic of ``module`` on exit.

    Inside, normalisation layers still use the batch statistics in training mode (so the
    recomputed values and gradients are those of the forward pass) but their running averages
    are put back, so that each training step updates them exactly once.
    """
    saved = []
    for m in module.modules():
        if isinstance(m, _NORMS) and m.track_running_stats and m.running_mean is not None:
            saved.append(
                (m, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
            )
    try:
        yield
    finally:
        for m, mean, var, count in saved:
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(count)


def uses_rng(module: nn.Module) -> bool:
    """Whether ``module`` draws random numbers in training mode (dropout, stochastic log-det)."""
    for m in module.modules():
        if isinstance(m, _DROPOUTS) and m.training and m.p > 0:
            return True
        if getattr(m, "uses_rng", False) is True:
            return True
    return False


class RngReplay:
    """The RNG state before a block's forward pass, replayed around its recomputation.

    The CPU generator state (and the current CUDA device's, when the input is on CUDA) is
    captured; :meth:`replay` runs the enclosed code from that state and restores the global
    generators afterwards, so the recomputed block draws the same dropout masks and probes.
    """

    def __init__(self, device: torch.device) -> None:
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        self.device = device

    @contextlib.contextmanager
    def replay(self) -> Iterator[None]:
        """Run the enclosed code from the captured state; restore the global state after."""
        devices = [self.device] if self.cuda is not None else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu)
            if self.cuda is not None:
                torch.cuda.set_rng_state(self.cuda, self.device)
            yield
