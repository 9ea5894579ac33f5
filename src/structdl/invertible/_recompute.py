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
from torch import Tensor, nn

__all__ = [
    "DROPOUTS",
    "RngReplay",
    "active",
    "dropout_pre_hook",
    "dropout_session",
    "frozen_statistics",
    "recomputing",
    "uses_rng",
]

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
DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


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
    """Whether ``module`` draws random numbers outside dropout (a stochastic log-det).

    Dropout is replayed per module (:func:`dropout_pre_hook`); other draws by the RNG state
    captured before the whole block.
    """
    for m in module.modules():
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


def _rng_state(device: torch.device) -> tuple[Tensor, Tensor | None]:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def dropout_pre_hook(module: nn.Module, args: tuple) -> None:
    """Record (forward) or restore (recomputation) the RNG state before a dropout call.

    Registered by the reversible container on every dropout module of its blocks; inactive
    outside a recording or replaying session. Keyed by module, so an inverse that calls the
    sub-networks in another order (RevNet: ``G`` before ``F``) still gets each mask right.
    """
    session = getattr(_STATE, "session", None)
    if session is None or not args or not isinstance(args[0], Tensor):
        return
    mode, states = session
    if mode == "record":
        states.setdefault(module, _rng_state(args[0].device))
    elif module in states:
        cpu, cuda = states[module]
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state(cuda, args[0].device)


@contextlib.contextmanager
def dropout_session(mode: str, states: dict, device: torch.device) -> Iterator[None]:
    """Record dropout RNG states into ``states`` (``"record"``) or replay them (``"replay"``).

    Replaying runs inside ``fork_rng`` so that the global generators are unchanged after it.
    """
    previous = getattr(_STATE, "session", None)
    _STATE.session = (mode, states)
    try:
        if mode == "replay" and states:
            devices = [device] if device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                yield
        else:
            yield
    finally:
        _STATE.session = previous
