"""ODE networks with invertible integrators as bijections, trained with O(1) memory in depth.

An :class:`~structdl.dynamics.ODENet` whose integrator has an exact inverse step (symplectic
Euler, Störmer–Verlet / leapfrog, Yoshida, splittings of shears) is a bijection of its state:
``z_{k+1} = Φ_{h_k}(f_k, z_k)`` is undone by ``z_k = Φ_{h_k}⁻¹(f_k, z_{k+1})``. When every
step is volume preserving (divergence-free splittings into shears, symplectic maps) the
log-determinant is 0 and the network is a measure-preserving flow (a volume-preserving
normalising flow).

Because the steps invert exactly, the backward pass needs no stored states: walking the steps
backwards, each input is recovered from its output by the inverse step, the step is recomputed
with a graph, and the gradient flows through it. This is the exact gradient of the discrete
network (not the continuous adjoint, which differs from it by the discretisation error), with
activation memory independent of the number of steps.

What the wrapper claims is derived from the network's own ``guarantees()``; it uses only the
public API of :mod:`structdl.dynamics` (``step``, ``inverse_step``, ``step_sizes``, ``field``).
"""

from __future__ import annotations

from typing import Any, final

import torch
from torch import Tensor

from .._errors import ConfigError, IncompatibleSchemeError, ShapeError
from ..structure.declarations import AttributeEquals, Claim
from ..structure.properties import Invertible, VolumePreserving
from .base import Bijection

__all__ = ["ODEBijection"]

_MEMORY = ("reversible", "backprop")


@final
class ODEBijection(Bijection):
    """The structured part of an ODE network as a bijection ``x ↦ z_K``.

    For partitioned (Hamiltonian, second-order) fields a state ``(q, p)`` is the concatenation
    ``x = [q, p]`` of shape ``(batch, 2d)``; otherwise ``x`` is the network's state.

    Structure: ``Invertible`` when the integrator has an exact inverse step and the network
    guarantees invertibility; ``VolumePreserving`` (log-det 0) when the network guarantees it —
    both read from ``net.guarantees()``. A network whose steps are not volume preserving is
    refused (its log-determinant is not 0 and is not computed here).

    Args:
        net: an ``ODENet`` with ``embed=None`` and no head.
        memory: ``"reversible"`` (default; gradients by inverse steps, O(1) memory in depth)
            or ``"backprop"`` (plain autograd through the steps).

    Example:
        >>> from structdl.dynamics import ODENet, SeparableHamiltonian, StormerVerlet
        >>> net = ODENet(SeparableHamiltonian(2, width=4), StormerVerlet(), steps=16).double()
        >>> flow = ODEBijection(net)
        >>> x = torch.randn(3, 4, dtype=torch.float64)
        >>> z, logdet = flow.forward_and_logdet(x)
        >>> bool(torch.allclose(flow.inverse(z), x, atol=1e-12)), float(logdet.abs().max())
        (True, 0.0)
    """

    volume_preserving = True

    def __init__(self, net: torch.nn.Module, *, memory: str = "reversible") -> None:
        super().__init__()
        for name in ("integrator", "step_sizes", "field", "steps", "guarantees"):
            if not hasattr(net, name):
                raise ConfigError(
                    f"ODEBijection: expected a structdl.dynamics.ODENet — received "
                    f"{type(net).__name__} without `{name}` — build ODENet(fields, integrator)"
                )
        if getattr(net, "embed", None) is not None or getattr(net, "head", None) is not None:
            raise ConfigError(
                "ODEBijection: the network must map states to states — expected embed=None "
                "and head=None — received an embedding or a head, which are not bijective; "
                "build the ODENet without them"
            )
        if not net.integrator.has_inverse():
            raise IncompatibleSchemeError(
                f"ODEBijection: {net.integrator.name} has no exact inverse step — expected an "
                "explicitly invertible integrator — use SymplecticEuler, StormerVerlet, "
                "Yoshida4 or a splitting of shears (Strang/LieTrotter)"
            )
        if VolumePreserving() not in net.guarantees():
            raise IncompatibleSchemeError(
                f"ODEBijection: {net.integrator.name} on {net.field(0).name} is not volume "
                "preserving — expected log|det| = 0 — its log-determinant is not computed here; "
                "use a symplectic integrator on a Hamiltonian field or a splitting of shears"
            )
        if memory not in _MEMORY:
            raise ConfigError(
                f"ODEBijection: unknown memory mode {memory!r} — expected one of {list(_MEMORY)}"
            )
        self.net = net
        self.memory = memory
        first = net.field(0)
        # A split of a partitioned field (kick + drift) declares the layout through its kinds.
        self.partitioned = bool(getattr(first, "partitioned", False)) or (
            "partitioned" in getattr(first, "kinds", frozenset())
        )

    # -- structure, derived from the network ---------------------------------------------------

    def has_exact_inverse(self) -> bool:
        """Whether the integrator inverts exactly and the network guarantees ``Invertible``."""
        return self.net.integrator.has_inverse() and Invertible() in self.net.guarantees()

    def preserves_volume(self) -> bool:
        """Whether the network guarantees ``VolumePreserving`` (read from its guarantees)."""
        return VolumePreserving() in self.net.guarantees()

    @property
    def claims(self) -> tuple[Claim, ...]:
        """Invertible and volume preserving as far as ``net.guarantees()`` says so."""
        return (
            Claim(
                Invertible(),
                AttributeEquals("has_exact_inverse", True),
                "each integrator step has an exact inverse step",
            ),
            Claim(
                VolumePreserving(),
                AttributeEquals("preserves_volume", True),
                "every step is volume preserving, so log|det| = 0",
            ),
        )

    # -- state layout --------------------------------------------------------------------------

    def _split(self, x: Tensor) -> Any:
        if not self.partitioned:
            return x
        if x.dim() != 2 or x.shape[1] % 2:
            raise ShapeError(
                f"ODEBijection: a partitioned state is [q, p] of shape (batch, 2d) — received "
                f"{tuple(x.shape)} — concatenate q and p along axis 1"
            )
        d = x.shape[1] // 2
        return x[:, :d], x[:, d:]

    def _merge(self, z: Any) -> Tensor:
        return torch.cat(z, 1) if self.partitioned else z

    def _schedule(self) -> tuple[Tensor, list[float]]:
        h = self.net.step_sizes()
        times = (torch.cumsum(h.detach(), 0) - h.detach()).tolist()
        return h, times

    # -- the two directions --------------------------------------------------------------------

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        params = [p for p in self.net.parameters() if p.requires_grad]
        needs_graph = torch.is_grad_enabled() and (x.requires_grad or bool(params))
        if self.memory == "reversible" and needs_graph:
            z = _ReversibleSteps.apply(self, x, *params)
        else:
            z = self._steps(x)
        return z, x.new_zeros(x.shape[0])

    def _steps(self, x: Tensor) -> Tensor:
        h, times = self._schedule()
        z = self._split(x)
        integrator = self.net.integrator
        for k in range(self.net.steps):
            z = integrator.step(self.net.field(k), times[k], z, h[k])
        return self._merge(z)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        h, times = self._schedule()
        y = self._split(z)
        integrator = self.net.integrator
        for k in reversed(range(self.net.steps)):
            y = integrator.inverse_step(self.net.field(k), times[k], y, h[k])
        return self._merge(y), z.new_zeros(z.shape[0])


def _detach(state: Any) -> Any:
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def _leaf(state: Any) -> Any:
    if isinstance(state, tuple):
        return tuple(s.detach().requires_grad_(True) for s in state)
    return state.detach().requires_grad_(True)


def _parts(state: Any) -> list[Tensor]:
    return list(state) if isinstance(state, tuple) else [state]


class _ReversibleSteps(torch.autograd.Function):
    """Steps forward without a graph; backward by inverse steps and per-step recomputation."""

    @staticmethod
    def forward(ctx: Any, wrapper: ODEBijection, x: Tensor, *params: Tensor) -> Tensor:  # type: ignore[override]
        with torch.no_grad():
            z = wrapper._steps(x)
        ctx.wrapper = wrapper
        ctx.save_for_backward(z)
        return z

    @staticmethod
    def backward(ctx: Any, grad_z: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        wrapper: ODEBijection = ctx.wrapper
        (z,) = ctx.saved_tensors
        net, integrator = wrapper.net, wrapper.net.integrator
        params = [p for p in net.parameters() if p.requires_grad]
        grads: dict[int, Tensor] = {}
        with torch.enable_grad():
            h_graph = net.step_sizes()  # a graph to learned step logits, if any
        steps_learned = h_graph.requires_grad
        h_values = h_graph.detach()
        times = (torch.cumsum(h_values, 0) - h_values).tolist()
        grad_h = torch.zeros_like(h_values)
        state = _detach(wrapper._split(z))
        grad_state = _parts(wrapper._split(grad_z))
        for k in reversed(range(net.steps)):
            field, t, h_k = net.field(k), times[k], h_values[k]
            # Fields may differentiate an energy inside their step, hence enable_grad.
            with torch.enable_grad():
                previous = _detach(integrator.inverse_step(field, t, state, h_k))
                leaf = _leaf(previous)
                h_leaf = h_k.clone().requires_grad_(True) if steps_learned else h_k
                out = integrator.step(field, t, leaf, h_leaf)
                field_params = [p for p in field.parameters() if p.requires_grad]
                inputs = _parts(leaf) + field_params + ([h_leaf] if steps_learned else [])
                found = torch.autograd.grad(_parts(out), inputs, grad_state, allow_unused=True)
            n = len(_parts(leaf))
            grad_state = [
                g if g is not None else torch.zeros_like(s)
                for g, s in zip(found[:n], _parts(leaf), strict=True)
            ]
            for p, g in zip(field_params, found[n : n + len(field_params)], strict=True):
                if g is not None:
                    grads[id(p)] = grads[id(p)] + g if id(p) in grads else g
            if steps_learned and found[-1] is not None:
                grad_h[k] = found[-1]
            state = previous
        if steps_learned:
            with torch.enable_grad():
                extra = torch.autograd.grad(h_graph, params, grad_h, allow_unused=True)
            for p, g in zip(params, extra, strict=True):
                if g is not None:
                    grads[id(p)] = grads[id(p)] + g if id(p) in grads else g
        grad_x = torch.cat(grad_state, 1) if wrapper.partitioned else grad_state[0]
        return (None, grad_x, *[grads.get(id(p)) for p in params])
