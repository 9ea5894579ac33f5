"""Continuous normalising flow: an ODE network with the instantaneous change of variables.

The data ``x = z(0)`` flows along a learned velocity ``dz/dt = v(t, z, context)`` to
``z(T)``; the log-determinant obeys (Chen et al. 2018)

    d/dt log|det ∂z(t)/∂z(0)| = tr ∂v/∂z (t, z(t)),

so the state is augmented to ``(z, ℓ)`` with ``dℓ/dt = tr ∂v/∂z`` and both are integrated
together by an :class:`~structdl.dynamics.ODENet` of classical RK4 steps on a fixed grid.
The trace is exact (``d`` vector–Jacobian products) for ``d ≤ exact_trace_max_features``,
else Hutchinson's estimator ``εᵀ(∂v/∂z)ε`` with one Rademacher ``ε`` per sample held fixed
over the integration (Grathwohl et al. 2019: FFJORD), which is unbiased for the
log-determinant but not exact. The inverse integrates the time-reversed field
``−v(T − s, ·)`` with the same grid.

Discretisation: with the exact trace the reported log-determinant and the inverse are those
of the continuous flow up to the RK4 error ``O(h⁴)``, ``h = T/steps``; they are not the
log-determinant and inverse of the discrete map to round-off, as for the couplings. Choose
``steps`` so that this error is below what the application needs.
"""

from __future__ import annotations

from typing import final

import torch
from torch import Tensor, nn

from .._errors import ConfigError, ShapeError
from ..dynamics import ODENet, RungeKutta, VectorField
from ..structure._validate import require_int
from ._nets import check_context
from .base import Bijection

__all__ = ["ContinuousFlow"]

_TRACES = ("auto", "exact", "hutchinson")


class _Velocity(nn.Module):
    """``v(t, z, context)``: a tanh MLP on ``cat(z, t, context)`` (smooth, so RK4 is 4th order)."""

    def __init__(self, features: int, hidden: int, depth: int, context_features: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = features + 1 + context_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.Tanh()]
            width = hidden
        last = nn.Linear(width, features)
        with torch.no_grad():
            last.weight.mul_(0.1)
            last.bias.zero_()
        self.net = nn.Sequential(*layers, last)

    def forward(self, t: float | Tensor, z: Tensor, context: Tensor | None) -> Tensor:
        time = torch.as_tensor(t, dtype=z.dtype, device=z.device).reshape(1, 1)
        parts = [z, time.expand(z.shape[0], 1)]
        if context is not None:
            parts.append(context.to(z.dtype))
        return self.net(torch.cat(parts, dim=1))


class _AugmentedField(VectorField):
    """``d(z, ℓ)/dt = (s·v(t₀ + s·t, z), s·tr ∂v/∂z)``; ``s = −1, t₀ = T`` runs time backwards."""

    def __init__(self, flow: ContinuousFlow, *, backwards: bool) -> None:
        super().__init__()
        # Held in a list so the velocity's parameters are registered once, by the flow.
        self._flow = [flow]
        self.backwards = backwards

    def forward(self, t: float | Tensor, y: Tensor) -> Tensor:
        flow = self._flow[0]
        sign = -1.0 if self.backwards else 1.0
        time = flow.T - t if self.backwards else t
        z = y[:, :-1]
        keep_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            if not z.requires_grad:
                z = z.detach().requires_grad_(True)
            v = flow.velocity(time, z, flow._context)
            trace = flow._trace(v, z, create_graph=keep_graph)
        if not keep_graph:
            v, trace = v.detach(), trace.detach()
        return sign * torch.cat((v, trace[:, None]), dim=1)


@final
class ContinuousFlow(Bijection):
    """A continuous normalising flow on ``(batch, features)`` with a fixed RK4 grid.

    Invertible (the reverse-time integration, up to the RK4 error ``O(h⁴)``).

    Args:
        features: ``d``.
        hidden: width of the velocity MLP.
        depth: hidden layers of the velocity MLP.
        steps: RK4 steps over ``[0, T]``.
        T: integration time.
        trace: ``"exact"``, ``"hutchinson"`` or ``"auto"`` (exact for
            ``d ≤ exact_trace_max_features``).
        context_features: features of the context (0: unconditional).
        exact_trace_max_features: the largest ``d`` that ``"auto"`` traces exactly.

    Example:
        >>> cnf = ContinuousFlow(2, hidden=8, steps=8)
        >>> x = torch.randn(4, 2, dtype=torch.float64)
        >>> cnf = cnf.double()
        >>> z, logdet = cnf.forward_and_logdet(x)
        >>> bool((cnf.inverse(z) - x).abs().max() < 1e-6)
        True
    """

    def __init__(
        self,
        features: int,
        *,
        hidden: int = 64,
        depth: int = 2,
        steps: int = 16,
        T: float = 1.0,
        trace: str = "auto",
        context_features: int = 0,
        exact_trace_max_features: int = 8,
    ) -> None:
        super().__init__()
        owner = "ContinuousFlow"
        self.features = require_int(features, "features", owner)
        self.context_features = require_int(context_features, "context_features", owner, 0)
        require_int(steps, "steps", owner)
        if trace not in _TRACES:
            raise ConfigError(
                f"{owner}: unknown trace {trace!r} — expected one of {_TRACES} — 'exact' costs "
                f"d backward passes per evaluation, 'hutchinson' one"
            )
        exact = trace == "exact" or (trace == "auto" and features <= exact_trace_max_features)
        self.exact_trace = exact
        self.T = float(T)
        self.velocity = _Velocity(
            features,
            require_int(hidden, "hidden", owner),
            require_int(depth, "depth", owner),
            context_features,
        )
        self.forward_net = ODENet(
            _AugmentedField(self, backwards=False), RungeKutta("rk4"), steps=steps, T=T
        )
        self.backward_net = ODENet(
            _AugmentedField(self, backwards=True), RungeKutta("rk4"), steps=steps, T=T
        )
        self._context: Tensor | None = None
        self._noise: Tensor | None = None

    def _trace(self, v: Tensor, z: Tensor, *, create_graph: bool) -> Tensor:
        if self.exact_trace:
            diagonal = []
            for i in range(self.features):
                (row,) = torch.autograd.grad(
                    v[:, i].sum(), z, create_graph=create_graph, retain_graph=True
                )
                diagonal.append(row[:, i])
            return torch.stack(diagonal, dim=1).sum(dim=1)
        (projected,) = torch.autograd.grad(
            v, z, self._noise, create_graph=create_graph, retain_graph=True
        )
        return (projected * self._noise).sum(dim=1)

    def _integrate(self, x: Tensor, context: Tensor | None, net: ODENet) -> tuple[Tensor, Tensor]:
        if x.dim() != 2 or x.shape[1] != self.features:
            raise ShapeError(
                f"ContinuousFlow: wrong input shape — expected (batch, {self.features}) — "
                f"received {tuple(x.shape)} — flatten the input"
            )
        check_context(context, self.context_features, x.shape[0], "ContinuousFlow")
        self._context = context
        if not self.exact_trace:
            self._noise = torch.randint(0, 2, x.shape, device=x.device).to(x.dtype) * 2 - 1
        try:
            y = net(torch.cat((x, x.new_zeros(x.shape[0], 1)), dim=1))
        finally:
            self._context, self._noise = None, None
        return y[:, :-1], y[:, -1]

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return self._integrate(x, context, self.forward_net)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return self._integrate(z, context, self.backward_net)
