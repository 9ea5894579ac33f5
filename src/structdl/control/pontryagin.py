"""The Pontryagin view of an ODE network: states, discrete costates, Hamiltonians, gradients.

Training an :class:`~structdl.dynamics.ODENet` ``z_{k+1} = Φ_{h_k}(z_k; θ_k)`` to minimise
``L = ℓ(head(z_K))`` is a discrete optimal-control problem. With the layer Hamiltonians

    H_k(z, λ, θ) = ⟨λ, Φ_{h_k}(z; θ)⟩

the minimum principle reads ``z_{k+1} = ∂_λ H_k``, ``λ_k = ∂_z H_k(z_k, λ_{k+1}, θ_k)``,
``λ_K = ∂ℓ/∂z_K``, and ``∂L/∂θ_k = ∂_θ H_k(z_k, λ_{k+1}, θ_k)``. Here ``λ_k = ∂L/∂z_k`` is the
costate in the gradient sign convention (Pontryagin's ``p_k = −λ_k`` maximises ``−H_k``).

For a Runge–Kutta step the costates are computed by the adjoint partitioned Runge–Kutta method
(``ā_ij = b_j − b_j a_ji / b_i``, see :mod:`.methods`): stage by stage, with one
vector–Jacobian product of the field per stage, never by autograd through the network. The
result equals the gradient of the discrete loss exactly (to round-off), for explicit and
implicit methods, partitioned ones (Störmer–Verlet), shared or per-layer fields and learned
step sizes. The state–costate map of one step is symplectic (:mod:`.symplectic`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .._errors import ConfigError, ShapeError
from ..dynamics import ODENet
from ._stages import StepRecord, adjoint_step, as_parts, forward_step, from_parts
from .methods import StageMethod, stage_method

__all__ = ["PontryaginSolution", "costates", "layer_hamiltonian", "pontryagin", "trajectory"]

State = Tensor | tuple[Tensor, Tensor]


def _check_net(net: object) -> ODENet:
    if not isinstance(net, ODENet):
        raise ConfigError(
            f"expected an ODENet — the Pontryagin view needs its layers, steps and "
            f"integrator — received {type(net).__name__}; build the network with ODENet(...)"
        )
    return net


def _embed(net: ODENet, x: Tensor) -> State:
    if net.embed is None:
        return x
    if net.embed == "phase":
        return x, torch.zeros_like(x)
    return x, x @ net.embed_weight.T


def _readout(net: ODENet, z: State) -> State:
    if net.embed is None or not isinstance(z, tuple):
        return z
    q, p = z
    return torch.cat((q, p), dim=-1) if net.readout == "concat" else q


def _partitioned(net: ODENet) -> bool:
    return bool(getattr(net.field(0), "partitioned", False)) or "partitioned" in net.field(0).kinds


@dataclass
class PontryaginSolution:
    """States, costates and gradients of one forward–backward sweep.

    Attributes:
        loss: the loss value (0-d tensor, detached).
        states: ``[z₀, …, z_K]`` (after the embedding).
        costates: ``[λ₀, …, λ_K]`` with ``λ_k = ∂L/∂z_k``.
        parameter_grads: ``∂L/∂θ`` for every parameter of the network, by name
            (``named_parameters``), including the head, embedding and step logits.
        step_grads: ``∂L/∂h_k``, shape ``(K,)``.
        records: the stages of every step (for the Hamiltonian and the symplectic map).
    """

    loss: Tensor
    states: list[State]
    costates: list[State]
    parameter_grads: dict[str, Tensor]
    step_grads: Tensor
    records: list[StepRecord]

    def write_grads(self, net: nn.Module) -> None:
        """Accumulate ``parameter_grads`` into ``.grad`` (as ``loss.backward()`` would)."""
        for name, param in net.named_parameters():
            grad = self.parameter_grads.get(name)
            if grad is None:
                continue
            param.grad = grad.detach().clone() if param.grad is None else param.grad + grad


def trajectory(net: ODENet, x: Tensor) -> tuple[list[State], list[StepRecord], StageMethod]:
    """Forward states and the stages of every step, computed from the stage data.

    Example:
        >>> from structdl.dynamics import ODENet, Residual, RungeKutta
        >>> net = ODENet([Residual(2) for _ in range(3)], RungeKutta("rk4")).double()
        >>> x = torch.randn(4, 2, dtype=torch.float64)
        >>> states, _, _ = trajectory(net, x)
        >>> bool(torch.allclose(states[-1], net(x)))
        True
    """
    net = _check_net(net)
    method = stage_method(net.integrator)
    partitioned = _partitioned(net)
    with torch.no_grad():
        h = net.step_sizes().detach()
        z = as_parts(_embed(net, x))
        tabs = method.for_parts(len(z))
        states: list[State] = [from_parts(z, partitioned=partitioned)]
        records: list[StepRecord] = []
        t = 0.0
        for k in range(net.steps):
            h_k = float(h[k])
            z, record = forward_step(
                net.field(k), tabs, t, z, h_k, partitioned=partitioned, name=method.name
            )
            records.append(record)
            states.append(from_parts(z, partitioned=partitioned))
            t += h_k
    return states, records, method


def pontryagin(net: ODENet, x: Tensor, loss_fn: Callable[[State], Tensor]) -> PontryaginSolution:
    """Forward sweep, discrete costates by the adjoint method, and every gradient.

    Args:
        net: the network; its integrator must be a Runge–Kutta method with nonzero weights.
        x: input batch ``(batch, d)``.
        loss_fn: maps the network output ``net(x)`` to a scalar loss.

    Returns:
        A :class:`PontryaginSolution`; ``parameter_grads`` equal ``torch.autograd`` gradients
        of ``loss_fn(net(x))`` to round-off.

    Raises:
        IncompatibleSchemeError: a tableau with some ``b_i = 0``, or a non-RK integrator.
        ShapeError: the loss is not a scalar.

    Example:
        >>> from structdl.dynamics import ODENet, Residual, Euler
        >>> net = ODENet([Residual(2) for _ in range(4)], Euler()).double()
        >>> x = torch.randn(8, 2, dtype=torch.float64)
        >>> sol = pontryagin(net, x, lambda out: out.square().mean())
        >>> len(sol.costates), sol.step_grads.shape
        (5, torch.Size([4]))
    """
    states, records, method = trajectory(net, x)
    method.check_adjoint()
    partitioned = _partitioned(net)
    # Mayer term: λ_K = ∂ℓ/∂z_K through readout, head and loss only.
    with torch.enable_grad():
        z_last = tuple(part.detach().requires_grad_(True) for part in as_parts(states[-1]))
        out = _readout(net, from_parts(z_last, partitioned=partitioned))
        if net.head is not None:
            out = net.head(out)
        loss = loss_fn(out)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ShapeError(
                "loss_fn must return a scalar tensor — the costates are gradients of one number "
                f"— received {type(loss).__name__}"
                f"{'' if not isinstance(loss, Tensor) else ' of shape ' + str(tuple(loss.shape))}"
                "; reduce it with .mean() or .sum()"
            )
        head_params = [p for p in net.head.parameters()] if net.head is not None else []
        grads = torch.autograd.grad(loss, (*z_last, *head_params), allow_unused=True)
    lam = tuple(
        g if g is not None else torch.zeros_like(z) for g, z in zip(grads, z_last, strict=False)
    )
    named = dict(net.named_parameters())
    ids = {id(p): n for n, p in named.items()}
    param_grads: dict[str, Tensor] = {}

    def add(param: Tensor, grad: Tensor | None) -> None:
        if grad is None:
            return
        key = ids[id(param)]
        param_grads[key] = grad if key not in param_grads else param_grads[key] + grad

    for param, grad in zip(head_params, grads[len(z_last) :], strict=True):
        add(param, grad)
    costates_rev: list[State] = [from_parts(lam, partitioned=partitioned)]
    step_grads = torch.zeros(net.steps, dtype=lam[0].dtype)
    later_time_grad = torch.zeros((), dtype=lam[0].dtype)
    tabs = method.for_parts(len(lam))
    for k in reversed(range(net.steps)):
        field = net.field(k)
        params = [p for p in field.parameters() if p.requires_grad]
        result = adjoint_step(
            field, tabs, records[k], lam, params, partitioned=partitioned, name=method.name
        )
        lam = result.costate
        for param, grad in zip(params, result.parameter_grads, strict=True):
            add(param, grad)
        # t_{m} = Σ_{n<m} h_n: step k's size moves the start time of every later step.
        step_grads[k] = result.step_grad + later_time_grad
        later_time_grad = later_time_grad + result.time_grad
        costates_rev.append(from_parts(lam, partitioned=partitioned))
    costates_list = costates_rev[::-1]
    _embedding_and_step_grads(net, x, lam, step_grads, add)
    return PontryaginSolution(
        loss.detach(), states, costates_list, param_grads, step_grads, records
    )


def _embedding_and_step_grads(net: ODENet, x: Tensor, lam0, step_grads: Tensor, add) -> None:  # noqa: ANN001
    """Chain ``λ₀`` through the embedding and ``∂L/∂h`` through the step-size map.

    Both are small maps outside the network's layers (``x ↦ (x, Wx)`` and ``ℓ ↦ T·softmax(ℓ)``
    or the clip rule); their local derivatives are taken by autograd on those maps alone.
    """
    if net.embed == "phase_linear":
        # p₀ = x Wᵀ ⇒ ∂L/∂W = λ_{p,0}ᵀ x.
        add(net.embed_weight, lam0[1].T @ x)
    with torch.enable_grad():
        h = net.step_sizes()
        if not h.requires_grad:
            return
        leaves = [p for p in net.parameters() if p.requires_grad]
        grads = torch.autograd.grad(
            h, leaves, grad_outputs=step_grads.to(h.dtype), allow_unused=True
        )
    for param, grad in zip(leaves, grads, strict=True):
        add(param, grad)


def costates(net: ODENet, x: Tensor, loss_fn: Callable[[State], Tensor]) -> list[State]:
    """The discrete costates ``[λ₀, …, λ_K]``, ``λ_k = ∂L/∂z_k`` (see :func:`pontryagin`).

    Example:
        >>> from structdl.dynamics import ODENet, Residual, Euler
        >>> net = ODENet(Residual(2), Euler(), steps=3).double()
        >>> lam = costates(net, torch.ones(1, 2, dtype=torch.float64), lambda y: y.sum())
        >>> len(lam)
        4
    """
    return pontryagin(net, x, loss_fn).costates


def layer_hamiltonian(
    net: ODENet,
    k: int,
    z: State,
    lam: State,
    params: dict[str, Tensor] | None = None,
) -> Tensor:
    """``H_k(z, λ, θ) = ⟨λ, Φ_{h_k}(z; θ)⟩`` summed over the batch.

    ``∂_λ H_k`` is the next state, ``∂_z H_k`` the previous costate and ``∂_θ H_k`` the layer's
    share of the loss gradient. ``params`` (names as in ``net.field(k).named_parameters()``)
    replace the layer's parameters (``torch.func.functional_call``), as the successive
    approximations do when they optimise ``θ_k`` alone.

    Example:
        >>> from structdl.dynamics import ODENet, Residual, Euler
        >>> net = ODENet([Residual(2) for _ in range(2)], Euler()).double()
        >>> z = torch.randn(3, 2, dtype=torch.float64)
        >>> H = layer_hamiltonian(net, 0, z, torch.ones_like(z))
        >>> H.shape
        torch.Size([])
    """
    net = _check_net(net)
    if not isinstance(k, int) or not 0 <= k < net.steps:
        raise ConfigError(f"layer index k must be an int in [0, {net.steps}), got {k!r}")
    h = net.step_sizes()
    t = h[:k].sum()
    field = net.field(k)
    if params is None:
        step = net.integrator.step(field, t, z, h[k])
    else:
        step = _functional_step(net, field, params, t, z, h[k])
    return sum((a * b).sum() for a, b in zip(as_parts(lam), as_parts(step), strict=True))


def _functional_step(net: ODENet, field: nn.Module, params, t, z, h):  # noqa: ANN001, ANN202
    class _Bound(nn.Module):
        def forward(self, t_, y_):  # noqa: ANN001, ANN202
            return net.integrator.step(field, t_, y_, h)

    wrapper = _Bound()
    wrapper.field = field  # registered submodule: names become "field.<name>"
    prefixed = {f"field.{name}": value for name, value in params.items()}
    return torch.func.functional_call(wrapper, prefixed, (t, z), strict=False)
