"""Port-Hamiltonian optimiser with an energy-consistent discrete-gradient step.

Parameters ``w`` and velocities ``v`` form the state ``ξ = (w, v)`` of a port-Hamiltonian
system (Massaroli, Poli, Califano, Faragasso, Park, Yamashita & Asama 2019)::

    H(w, v) = a·L(w) + b‖v‖² + c‖w‖²,      dξ/dt = (J − R) ∇H(ξ),
    J = [[0, I], [−I, 0]],   R = diag(0, β I),

so ``dw/dt = 2b v`` and ``dv/dt = −a∇L(w) − 2c w − 2βb v``; the system is passive,
``dH/dt = −β‖∇_v H‖² ≤ 0``. The step replaces ``∇H`` by a *discrete gradient* ``∇̄H`` with
``H(ξ₊) − H(ξ) = ∇̄H · (ξ₊ − ξ)`` (Gonzalez 1996; McLachlan, Quispel & Robidoux 1999)::

    ξ₊ = ξ + h (J − R) ∇̄H(ξ, ξ₊)   ⇒   H₊ − H + h D = 0,   D = β‖∇̄_v H‖² ≥ 0,

an exact discrete energy balance for every step size. The quadratic parts use the midpoint
(an exact discrete gradient for quadratics); the loss uses ``∇̄L = g + s Δw`` with
``g = ∇L(w)`` and the scalar ``s`` fixed by ``∇̄L · Δw = L(w₊) − L(w)``. Given ``s`` the step is
linear with a scalar operator and is solved in closed form; ``s`` solves one scalar equation by
secant iterations, each one *forward pass* of the same mini-batch. So a step costs one
gradient and a few loss evaluations — no ODE solver, mini-batch friendly (the reference code
integrates the ODE with SciPy's ``solve_ivp`` on flattened parameters per batch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from .._errors import ConfigError, StepSizeError
from ..structure.declarations import ALWAYS, Claim
from ..structure.properties import Dissipative
from ._validate import non_negative, positive, require_closure

__all__ = ["PortHamiltonian"]


class PortHamiltonian(torch.optim.Optimizer):
    """Energy-consistent port-Hamiltonian optimiser (see the module docstring).

    ``step(closure)``: the closure re-evaluates the mini-batch loss and returns it WITHOUT
    calling ``backward`` (the optimiser differentiates the first evaluation and calls the
    closure under ``torch.no_grad`` for the loss-only evaluations of the secant solve).
    After each step :attr:`last_step` holds ``energy_before``, ``energy_after``,
    ``dissipation`` (``D``), ``h`` and the solve's ``residual`` and ``evaluations``, so
    :func:`structdl.structure.check_passivity` can verify the balance over a run.

    Args:
        params: parameters (one group).
        lr: step size h > 0.
        beta: damping β ≥ 0.
        a, b: weights of the loss and the kinetic term (> 0); c: weight decay term (≥ 0).
        max_evaluations: most loss evaluations of the scalar solve per step.
        tol: relative tolerance of the solve, on ``|ΔH + hD| / (1 + |H|)``; default
            ``64·eps`` of the parameters' dtype.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([2.0, -1.0], dtype=torch.float64))
        >>> opt = PortHamiltonian([w], lr=0.5, beta=1.0)
        >>> for _ in range(60):
        ...     _ = opt.step(lambda: (w ** 4).sum() + (w ** 2).sum())
        >>> s = opt.last_step
        >>> abs(s["energy_after"] - s["energy_before"] + s["h"] * s["dissipation"]) < 1e-12
        True
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.1,
        beta: float = 1.0,
        a: float = 1.0,
        b: float = 0.5,
        c: float = 0.0,
        *,
        max_evaluations: int = 20,
        tol: float | None = None,
    ) -> None:
        who = "PortHamiltonian"
        if isinstance(max_evaluations, bool) or not isinstance(max_evaluations, int):
            raise ConfigError(
                f"{who}: `max_evaluations` must be an int ≥ 1, got {max_evaluations!r}"
            )
        if max_evaluations < 1:
            raise ConfigError(
                f"{who}: `max_evaluations` must be an int ≥ 1, got {max_evaluations!r}"
            )
        defaults = {
            "lr": positive(lr, "lr", who, step=True),
            "beta": non_negative(beta, "beta", who),
            "a": positive(a, "a", who),
            "b": positive(b, "b", who),
            "c": non_negative(c, "c", who),
        }
        self.max_evaluations = max_evaluations
        self.tol = None if tol is None else positive(tol, "tol", who)
        self.last_step: dict[str, float] = {}
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ConfigError(
                f"{who}: one parameter group is supported — expected all parameters in one "
                f"group — received {len(self.param_groups)} — use one optimiser per group"
            )

    claims = (
        Claim(
            Dissipative("energy"),
            when=ALWAYS,
            reason="discrete gradient: H₊ − H = −h β‖∇̄_v H‖² ≤ 0 for every step size",
        ),
    )

    def energy(self, loss: float) -> float:
        """``H = a L + b‖v‖² + c‖w‖²`` at the current parameters and velocities."""
        group = self.param_groups[0]
        w, v = self._vectors()
        return float(group["a"] * loss + group["b"] * (v @ v) + group["c"] * (w @ w))

    def _vectors(self) -> tuple[Tensor, Tensor]:
        params = self.param_groups[0]["params"]
        w = torch.cat([p.detach().reshape(-1) for p in params])
        v = torch.cat([self._velocity(p).reshape(-1) for p in params])
        return w, v

    def _velocity(self, p: Tensor) -> Tensor:
        state = self.state[p]
        if "velocity" not in state:
            state["velocity"] = torch.zeros_like(p)
        return state["velocity"]

    def _write(self, w: Tensor, v: Tensor) -> None:
        offset = 0
        for p in self.param_groups[0]["params"]:
            n = p.numel()
            p.copy_(w[offset : offset + n].view_as(p))
            self.state[p]["velocity"] = v[offset : offset + n].view_as(p).clone()
            offset += n

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor:  # type: ignore[override]
        """One discrete-gradient step; returns the loss at the parameters before the step."""
        who = "PortHamiltonian"
        require_closure(closure, who)
        group = self.param_groups[0]
        params = group["params"]
        h, beta, a, b, c = (group[k] for k in ("lr", "beta", "a", "b", "c"))
        for p in params:
            p.grad = None
        with torch.enable_grad():
            loss = closure()  # type: ignore[misc]
            if not isinstance(loss, Tensor) or loss.dim() != 0:
                raise ConfigError(
                    f"{who}: the closure must return the scalar loss — expected a 0-d tensor — "
                    f"received {type(loss).__name__} — return loss without calling backward()"
                )
            loss.backward()
        loss0 = float(loss.detach())
        if not math.isfinite(loss0):
            raise StepSizeError(
                f"{who}: the loss is not finite — expected a finite mini-batch loss — received "
                f"{loss0} — reduce the step size or check the data"
            )
        w0, v0 = self._vectors()
        g0 = torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
        )
        force = h * (a * g0 + 2.0 * c * w0)
        tol = self.tol if self.tol is not None else 64.0 * torch.finfo(w0.dtype).eps
        energy0 = a * loss0 + b * float(v0 @ v0) + c * float(w0 @ w0)

        def move(s: float) -> tuple[Tensor, Tensor, Tensor]:
            kappa = 2.0 * b * h * (a * s * h + c * h + beta)
            if 1.0 + 0.5 * kappa <= 0.0:
                raise StepSizeError(
                    f"{who}: the step is too large for the local curvature — expected "
                    f"1 + κ/2 > 0 — received κ = {kappa:.3g} (negative curvature {s:.3g}) — "
                    f"reduce lr"
                )
            dv = -(force + kappa * v0) / (1.0 + 0.5 * kappa)
            vbar = v0 + 0.5 * dv
            return w0 + 2.0 * b * h * vbar, v0 + dv, vbar

        def mismatch(s: float) -> tuple[float, tuple[Tensor, Tensor, Tensor], float, float]:
            w1, v1, vbar = move(s)
            self._write(w1, v1)
            loss1 = float(closure())  # type: ignore[misc]
            dw = w1 - w0
            dw2 = float(dw @ dw)
            # F(s) = L(w₊) − L(w) − g·Δw − s‖Δw‖²: zero exactly when ∇̄L·Δw = ΔL.
            return loss1 - loss0 - float(g0 @ dw) - s * dw2, (w1, v1, vbar), dw2, loss1

        # Start from the previous step's curvature, take one fixed-point step
        # s ← s + F(s)/‖Δw‖², then secant iterations on F.
        s_prev = self.state[params[0]].get("curvature", 0.0)
        f_prev, moved, dw2, loss1 = mismatch(s_prev)
        best = (abs(f_prev), s_prev, moved, loss1)
        s, evaluations = s_prev + (f_prev / dw2 if dw2 > 0 else 0.0), 1
        while a * best[0] > tol * (1.0 + abs(energy0)) and evaluations < self.max_evaluations:
            f_s, moved, dw2, loss1 = mismatch(s)
            evaluations += 1
            if abs(f_s) < best[0]:
                best = (abs(f_s), s, moved, loss1)
            if f_s == f_prev or not math.isfinite(f_s):
                break
            s, s_prev, f_prev = s - f_s * (s - s_prev) / (f_s - f_prev), s, f_s
        residual, s, (w1, v1, vbar), loss1 = best
        self._write(w1, v1)
        self.state[params[0]]["curvature"] = s
        self.last_step = {
            "energy_before": energy0,
            "energy_after": a * loss1 + b * float(v1 @ v1) + c * float(w1 @ w1),
            "dissipation": beta * 4.0 * b * b * float(vbar @ vbar),
            "h": h,
            "residual": a * residual,
            "evaluations": float(evaluations),
        }
        return loss.detach()
