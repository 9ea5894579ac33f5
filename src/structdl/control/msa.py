"""Training by the maximum principle: the method of successive approximations (MSA).

One MSA iteration on an :class:`~structdl.dynamics.ODENet` with per-layer parameters ``θ_k``:

1. forward: the states ``z_k`` for the current ``θ``;
2. backward: the discrete costates ``λ_k = ∂L/∂z_k`` (:func:`~structdl.control.pontryagin`);
3. every layer at once: ``θ_k ← argmin_θ H̃_k(θ)`` with ``z_k, z_{k+1}, λ_k, λ_{k+1}`` frozen,

where, for ``S`` samples (``λ`` of a mean loss carries the factor ``1/S``),

    H̃_k(θ) = H_k(z_k, λ_{k+1}, θ)
             + (ρ/2)(1/S) Σ_s ‖z_{k+1,s} − Φ_{h_k}(z_{k,s}; θ)‖²
             + (ρ/2) S Σ_s ‖λ_{k,s} − ∂_z H_k(z_{k,s}, λ_{k+1,s}, θ)‖²

and ``H_k(z, λ, θ) = Σ_s ⟨λ_s, Φ_{h_k}(z_s; θ)⟩`` is the layer Hamiltonian (minimum-principle
sign: ``λ`` is the gradient; Pontryagin's ``p = −λ`` maximises ``−H``). ``ρ = 0`` is the basic
MSA (Chernousko–Lyubushin), which can diverge when the layer-wise minimisers move far from the
current trajectory; ``ρ > 0`` is the extended MSA of Li, Chen, Tai & E (JMLR 2018): the two
penalties measure how far the update leaves the state and costate equations, and the
extended Hamiltonian's descent is guaranteed for ρ large enough. The inner minimisation is a
few steps of a torch optimiser (``"adam"``, ``"sgd"``) or of L-BFGS, chosen by the user.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .._errors import ConfigError
from ..dynamics import ODENet
from ..structure._validate import require_int
from .pontryagin import _functional_step, pontryagin

__all__ = ["INNER_OPTIMISERS", "MSA", "ExtendedMSA"]

#: The inner optimisers by name.
INNER_OPTIMISERS = ("adam", "sgd", "lbfgs")


def _nonnegative(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{what} must be a finite number ≥ 0, got {value!r}; pass e.g. 1.0")
    if value < 0:
        raise ConfigError(
            f"{what} must be ≥ 0 — the augmented Hamiltonian penalises leaving the state and "
            f"costate equations with weight ρ/2 — received {value!r}; pass ρ ≥ 0 (0 is the "
            "basic MSA)"
        )
    return float(value)


class ExtendedMSA:
    """Extended method of successive approximations as a trainer (loop shape of ``optimizer.step``).

    Args:
        net: an :class:`ODENet` with one field per layer (``θ_k`` are that field's parameters).
        rho: penalty ``ρ ≥ 0`` of the augmented Hamiltonian (0: basic MSA).
        inner: ``"adam"``, ``"sgd"`` or ``"lbfgs"``, or a factory ``params -> Optimizer``.
        inner_steps: optimiser steps per layer and iteration (L-BFGS: iterations of one call).
        lr: learning rate of the inner optimiser.
        reset_inner: rebuild the inner optimisers every iteration (L-BFGS always is).

    Parameters outside the layers (a head, the embedding, step logits) are moved by the same
    inner optimiser on the loss with the layers frozen.

    Example:
        >>> from structdl.dynamics import ODENet, Residual, Euler
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> net = ODENet([Residual(2) for _ in range(4)], Euler()).double()
        >>> x = torch.randn(16, 2, dtype=torch.float64)
        >>> loss_fn = lambda out: (out - 1.0).square().mean()
        >>> trainer = ExtendedMSA(net, rho=1.0, inner_steps=3, lr=0.05)
        >>> first = trainer.step(x, loss_fn)
        >>> later = [trainer.step(x, loss_fn) for _ in range(5)][-1]
        >>> later < first
        True
    """

    def __init__(
        self,
        net: ODENet,
        rho: float = 1.0,
        *,
        inner: str | Callable[[list[Tensor]], torch.optim.Optimizer] = "adam",
        inner_steps: int = 5,
        lr: float = 0.01,
        reset_inner: bool = False,
    ) -> None:
        if not isinstance(net, ODENet):
            raise ConfigError(f"MSA trains an ODENet, got {type(net).__name__}")
        if net.shared:
            raise ConfigError(
                "MSA minimises each layer's Hamiltonian over that layer's parameters θ_k — "
                "expected an ODENet with one field per layer — received a shared field; build "
                "the network with a list of fields"
            )
        self.net = net
        self.rho = _nonnegative(rho, "rho")
        if not (callable(inner) or inner in INNER_OPTIMISERS):
            raise ConfigError(
                f"unknown inner optimiser {inner!r} — expected one of {list(INNER_OPTIMISERS)} "
                "or a callable params -> torch.optim.Optimizer"
            )
        self.inner = inner
        self.inner_steps = require_int(inner_steps, "inner_steps", "ExtendedMSA")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ConfigError(f"lr must be a positive number, got {lr!r}")
        self.lr = float(lr)
        self.reset_inner = bool(reset_inner)
        layer_ids = {id(p) for f in net.fields for p in f.parameters()}
        self._outer = [p for p in net.parameters() if p.requires_grad and id(p) not in layer_ids]
        self._optimisers: dict[int, torch.optim.Optimizer] = {}
        self.iterations = 0
        self._steps: Tensor | None = None  # step sizes frozen during one iteration

    def set_lr(self, lr: float) -> None:
        """Change the inner learning rate (a schedule), keeping the optimisers' state."""
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ConfigError(f"lr must be a positive number, got {lr!r}")
        self.lr = float(lr)
        for optimiser in self._optimisers.values():
            for group in optimiser.param_groups:
                group["lr"] = self.lr

    def _optimiser(self, key: int, params: list[Tensor]) -> torch.optim.Optimizer:
        if callable(self.inner):
            return self.inner(params)
        if self.inner == "lbfgs":
            return torch.optim.LBFGS(
                params, lr=self.lr, max_iter=self.inner_steps, line_search_fn="strong_wolfe"
            )
        if key not in self._optimisers or self.reset_inner:
            cls = torch.optim.Adam if self.inner == "adam" else torch.optim.SGD
            self._optimisers[key] = cls(params, lr=self.lr)
        return self._optimisers[key]

    def augmented_hamiltonian(
        self,
        k: int,
        params: dict[str, Tensor] | None,
        z: Tensor | tuple[Tensor, Tensor],
        z_next: Tensor | tuple[Tensor, Tensor],
        lam: Tensor | tuple[Tensor, Tensor],
        lam_next: Tensor | tuple[Tensor, Tensor],
    ) -> Tensor:
        """``H̃_k(θ)`` at the frozen states and costates (see the module docstring)."""
        parts = z if isinstance(z, tuple) else (z,)
        leaves = tuple(p.detach().requires_grad_(self.rho > 0) for p in parts)
        z_leaf = leaves if isinstance(z, tuple) else leaves[0]
        h = self._steps if self._steps is not None else self.net.step_sizes()
        field = self.net.field(k)
        if params is None:  # the layer's own (live) parameters: no functional call needed
            step = self.net.integrator.step(field, h[:k].sum(), z_leaf, h[k])
        else:
            step = _functional_step(self.net, field, params, h[:k].sum(), z_leaf, h[k])
        steps = step if isinstance(step, tuple) else (step,)
        lam_nexts = lam_next if isinstance(lam_next, tuple) else (lam_next,)
        value = sum((a.detach() * b).sum() for a, b in zip(lam_nexts, steps, strict=True))
        if self.rho == 0:
            return value
        samples = leaves[0].shape[0]
        nexts = z_next if isinstance(z_next, tuple) else (z_next,)
        state_defect = sum(((a.detach() - b) ** 2).sum() for a, b in zip(nexts, steps, strict=True))
        grads = torch.autograd.grad(value, leaves, create_graph=True)
        lams = lam if isinstance(lam, tuple) else (lam,)
        costate_defect = sum(
            ((a.detach() - g) ** 2).sum() for a, g in zip(lams, grads, strict=True)
        )
        return value + 0.5 * self.rho * (state_defect / samples + samples * costate_defect)

    def step(self, x: Tensor | tuple[Tensor, Tensor], loss_fn: Callable[[Tensor], Tensor]) -> float:
        """One MSA iteration; returns the loss *before* the update (as ``optimizer.step``).

        The layer problems are independent (``H̃_k`` depends on ``θ_k`` alone), so they are
        solved together: one inner optimiser on ``Σ_k H̃_k`` whose gradient with respect to
        ``θ_k`` is that of ``H̃_k`` (Adam and SGD act coordinate-wise, so this equals one
        optimiser per layer; L-BFGS shares its line search across layers).

        Args:
            x: the training batch.
            loss_fn: maps the network output to a scalar loss.
        """
        net = self.net
        sol = pontryagin(net, x, loss_fn)
        self._steps = net.step_sizes().detach()
        layers = []
        for k in range(net.steps):
            named = [(n, p) for n, p in net.field(k).named_parameters() if p.requires_grad]
            if named:
                layers.append((k, [n for n, _ in named], [p for _, p in named]))
        params = [p for _, _, ps in layers for p in ps]
        if params:
            optimiser = self._optimiser(0, params)

            def closure() -> Tensor:
                optimiser.zero_grad()
                with torch.enable_grad():
                    total = sum(
                        self.augmented_hamiltonian(
                            k,
                            None,
                            sol.states[k],
                            sol.states[k + 1],
                            sol.costates[k],
                            sol.costates[k + 1],
                        )
                        for k, _, _ in layers
                    )
                    grads = torch.autograd.grad(total, params)
                for p, g in zip(params, grads, strict=True):
                    p.grad = g
                return total.detach()

            if self.inner == "lbfgs":
                optimiser.step(closure)
            else:
                for _ in range(self.inner_steps):
                    closure()
                    optimiser.step()
        self._steps = None
        self._update_outer(x, loss_fn)
        self.iterations += 1
        return float(sol.loss)

    def _update_outer(self, x: Tensor | tuple[Tensor, Tensor], loss_fn: Callable) -> None:  # noqa: ANN001
        """One step on the parameters outside the layers (Adam when the inner is L-BFGS)."""
        if not self._outer:
            return
        if -1 not in self._optimisers:
            cls = torch.optim.SGD if self.inner == "sgd" else torch.optim.Adam
            self._optimisers[-1] = cls(self._outer, lr=self.lr)
        optimiser = self._optimisers[-1]
        grads = pontryagin(self.net, x, loss_fn).parameter_grads
        ids = {id(p): n for n, p in self.net.named_parameters()}
        for p in self._outer:
            p.grad = grads.get(ids[id(p)], torch.zeros_like(p))
        optimiser.step()


class MSA(ExtendedMSA):
    """The basic method of successive approximations: :class:`ExtendedMSA` with ``ρ = 0``.

    Each layer's parameters minimise ``H_k(z_k, λ_{k+1}, θ)`` alone, by a few inner optimiser
    steps from the current value; without the penalties it can overshoot (Li et al. 2018 show
    divergence examples), which :class:`ExtendedMSA` repairs.

    Example:
        >>> from structdl.dynamics import ODENet, Residual, Euler
        >>> net = ODENet([Residual(2) for _ in range(2)], Euler()).double()
        >>> MSA(net, inner_steps=2).rho
        0.0
    """

    def __init__(
        self,
        net: ODENet,
        *,
        inner: str | Callable[[list[Tensor]], torch.optim.Optimizer] = "adam",
        inner_steps: int = 5,
        lr: float = 0.01,
        reset_inner: bool = False,
    ) -> None:
        super().__init__(
            net, 0.0, inner=inner, inner_steps=inner_steps, lr=lr, reset_inner=reset_inner
        )
