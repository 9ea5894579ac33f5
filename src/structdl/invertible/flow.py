"""Normalising flows as distributions: ``x = f⁻¹(z)``, ``z ~ base``.

With the bijection ``f`` mapping data to the base space (``z = f(x)``), the change of
variables gives

    log p(x) = log p_base(f(x)) + log|det ∂f/∂x|,

and a sample is ``x = f⁻¹(z)`` with ``z ~ p_base``; its log-density comes from the same pass,
``log p(x) = log p_base(z) − log|det ∂f⁻¹/∂z|`` (:meth:`Flow.sample_and_log_prob`).
A conditional flow passes a ``context`` of shape ``(batch, k)`` to every bijection.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import final

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, constraints

from .._errors import ConfigError, ShapeError
from .base import Bijection, Compose

__all__ = ["Flow", "StandardNormal"]


@final
class StandardNormal(nn.Module):
    """The standard normal on ``shape`` as a module (follows ``.to(device, dtype)``).

    Args:
        shape: event shape, e.g. ``(2,)`` or ``(64,)``.
    """

    def __init__(self, shape: int | Sequence[int]) -> None:
        super().__init__()
        dims = (shape,) if isinstance(shape, int) else tuple(shape)
        if not dims or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
            raise ConfigError(
                f"StandardNormal: shape must be positive integers — received {shape!r} — pass "
                f"e.g. 2 or (1, 8, 8)"
            )
        self.shape = torch.Size(dims)
        self.register_buffer("anchor", torch.zeros(()))

    @property
    def event_shape(self) -> torch.Size:
        """The event shape."""
        return self.shape

    def log_prob(self, z: Tensor) -> Tensor:
        """``Σ −z²/2 − log(2π)/2`` over the event dimensions."""
        flat = z.reshape(*z.shape[: z.dim() - len(self.shape)], -1)
        return -0.5 * (flat * flat).sum(-1) - 0.5 * flat.shape[-1] * math.log(2 * math.pi)

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """Standard normal draws of shape ``sample_shape + shape``."""
        shape = torch.Size(sample_shape) + self.shape
        return torch.randn(shape, dtype=self.anchor.dtype, device=self.anchor.device)

    rsample = sample


def _as_bijection(transforms: Bijection | Iterable[Bijection]) -> Bijection:
    if isinstance(transforms, Bijection):
        return transforms
    return Compose(list(transforms))


@final
class Flow(nn.Module, Distribution):
    """A normalising flow ``x = f⁻¹(z)``, ``z ~ base``, as a ``torch.distributions.Distribution``.

    Also an ``nn.Module``: ``flow.parameters()`` are the transforms' (and a module base's)
    parameters, and ``.to(dtype)`` converts everything.

    Args:
        base: a ``Distribution`` (or :class:`StandardNormal`) over the base space, or an int /
            shape meaning the standard normal on it.
        transforms: a bijection or a sequence of them, data → base (applied in order).
        event_shape: the data's event shape (default: the base's; set it when the transforms
            change the shape, as a multiscale flow does).

    Example:
        >>> from structdl.invertible import AffineCoupling, Reverse
        >>> flow = Flow(2, [AffineCoupling(2), Reverse(), AffineCoupling(2)])
        >>> x, log_p = flow.sample_and_log_prob((5,))
        >>> torch.allclose(flow.log_prob(x), log_p, atol=1e-5)
        True
    """

    arg_constraints: dict = {}  # noqa: RUF012 - the torch.distributions protocol
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        base: Distribution | nn.Module | int | Sequence[int],
        transforms: Bijection | Iterable[Bijection],
        *,
        event_shape: Sequence[int] | None = None,
    ) -> None:
        nn.Module.__init__(self)
        if isinstance(base, (int, tuple, list, torch.Size)):
            base = StandardNormal(base)
        if not callable(getattr(base, "log_prob", None)) or not callable(
            getattr(base, "rsample", None)
        ):
            raise ConfigError(
                f"Flow: base must be a distribution with log_prob and rsample — received "
                f"{type(base).__name__} — pass e.g. the event size (2) for a standard normal"
            )
        self.base = base
        self.transform = _as_bijection(transforms)
        shape = tuple(base.event_shape) if event_shape is None else tuple(event_shape)
        Distribution.__init__(
            self, batch_shape=torch.Size(), event_shape=torch.Size(shape), validate_args=False
        )

    # nn.Module and Distribution both define __repr__; the module's lists the transforms.
    __repr__ = nn.Module.__repr__

    def _check_data(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or tuple(x.shape[1:]) != tuple(self.event_shape):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            event = ", ".join(map(str, self.event_shape))
            raise ShapeError(
                f"Flow: wrong data shape — expected (batch, {event}) — received {got} — pass a "
                f"batch of events"
            )

    def log_prob(self, value: Tensor, context: Tensor | None = None) -> Tensor:
        """``log p(x) = log p_base(f(x)) + log|det ∂f/∂x|``, shape ``(batch,)``."""
        self._check_data(value)
        z, logdet = self.transform.forward_and_logdet(value, context)
        return self.base.log_prob(z) + logdet

    def _draw(self, sample_shape: Sequence[int], context: Tensor | None) -> tuple[Tensor, Tensor]:
        shape = torch.Size(sample_shape)
        count = math.prod(shape)
        if context is not None:
            if not isinstance(context, Tensor) or context.dim() != 2:
                raise ShapeError(
                    f"Flow: the context must be a (batch, k) tensor — received "
                    f"{getattr(context, 'shape', type(context).__name__)} — one row per condition"
                )
            rows = context.shape[0]
            context = context.repeat(count, 1)
            shape = shape + torch.Size([rows])
            count *= rows
        z = self.base.rsample(torch.Size([count]))
        x, logdet = self.transform.inverse_and_logdet(z, context)
        log_p = self.base.log_prob(z) - logdet
        return x.reshape(*shape, *x.shape[1:]), log_p.reshape(shape)

    def rsample_and_log_prob(
        self, sample_shape: Sequence[int] = (), context: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Reparametrised samples and their log-density in one inverse pass."""
        return self._draw(sample_shape, context)

    def sample_and_log_prob(
        self, sample_shape: Sequence[int] = (), context: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Samples and their log-density in one inverse pass, without gradients.

        With a context of ``B`` rows the result has shape ``sample_shape + (B, …)``.
        """
        with torch.no_grad():
            return self._draw(sample_shape, context)

    def rsample(self, sample_shape: Sequence[int] = (), context: Tensor | None = None) -> Tensor:
        """Reparametrised samples ``f⁻¹(z)`` (gradients reach the parameters)."""
        return self._draw(sample_shape, context)[0]

    def sample(self, sample_shape: Sequence[int] = (), context: Tensor | None = None) -> Tensor:
        """Samples ``f⁻¹(z)`` without gradients."""
        with torch.no_grad():
            return self._draw(sample_shape, context)[0]

    def condition(self, context: Tensor) -> _ConditionedFlow:
        """The distribution ``p(x | context)`` as a plain ``Distribution`` (one context row)."""
        return _ConditionedFlow(self, context)


class _ConditionedFlow(Distribution):
    """``p(x | c)`` for a fixed context: ``log_prob(x)`` repeats ``c`` over the batch."""

    arg_constraints: dict = {}  # noqa: RUF012
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, flow: Flow, context: Tensor) -> None:
        if not isinstance(context, Tensor) or context.dim() not in (1, 2):
            raise ShapeError(
                f"Flow.condition: expected one context row of shape (k,) or (1, k) — received "
                f"{getattr(context, 'shape', type(context).__name__)} — pass a single condition"
            )
        self.flow = flow
        self.context = context.reshape(1, -1)
        super().__init__(
            batch_shape=torch.Size(), event_shape=flow.event_shape, validate_args=False
        )

    def log_prob(self, value: Tensor) -> Tensor:
        """``log p(x | c)``."""
        return self.flow.log_prob(value, self.context.expand(value.shape[0], -1))

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """Reparametrised draws of shape ``sample_shape + event_shape``."""
        shape = torch.Size(sample_shape)
        count = math.prod(shape)
        x, _ = self.flow._draw((count,), self.context)
        return x.reshape(*shape, *x.shape[2:])

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """Draws without gradients."""
        with torch.no_grad():
            return self.rsample(sample_shape)
