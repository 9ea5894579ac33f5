"""Exact natural gradient for small models: conjugate gradient on Fisher-vector products.

For a model with outputs ``z = f(x; θ)`` and a likelihood ``p(y | z)``, the natural-gradient
step (Amari 1998) is

    θ₊ = θ − lr · (F + λI)⁻¹ ∇L(θ),     F = (1/N) Σ_i J_iᵀ H_i J_i,

with ``J_i = ∂z_i/∂θ`` and the output-space curvature ``H_i``:

- ``fisher="true"``: the Fisher of the model's own predictive distribution —
  ``diag(p_i) − p_i p_iᵀ`` for a categorical likelihood (softmax cross-entropy), ``I`` for a
  Gaussian one (mean squared error ½‖z − y‖²); it equals the generalised Gauss–Newton matrix;
- ``fisher="empirical"``: ``r_i r_iᵀ`` with the residual ``r_i = ∂ℓ_i/∂z_i`` at the data labels
  (the outer products of per-sample gradients, ``(1/N) Σ g_i g_iᵀ``).

``F v`` is formed without materialising ``F``: ``J v`` by the double-backward trick, then
``Jᵀ(H J v)`` by one more backward pass. The linear system is solved by conjugate gradient
(``solver="cg"``) or, for small models, by building ``F`` column by column and a
minimum-norm least-squares solve (``solver="direct"``); both return the minimum-norm solution
when ``F`` is singular (a softmax Fisher always is, along the logit shift ``z ↦ z + c·1``).

With ``λ = 0`` and a non-singular true Fisher, the step is invariant under an invertible linear
reparametrisation ``θ = Aφ``: the step taken in ``φ`` and mapped by ``A`` equals the step taken
in ``θ`` (the Fisher transforms as ``AᵀFA``, the gradient as ``Aᵀ∇L``). A non-singular
empirical Fisher shares that algebra (so its step is invariant under linear maps too, though it
is not the Fisher of the model); damping ``λ > 0`` breaks the invariance, and the Euclidean
gradient step has none (the negative controls of the invariance check).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import torch
from torch import Tensor

from .._errors import ConfigError
from ..structure.declarations import AttributeEquals, Claim
from ..structure.properties import ReparametrisationInvariant
from ._validate import check_outputs, non_negative, positive, require_closure

__all__ = ["NaturalGradient"]

Closure = Callable[[], tuple[Tensor, Tensor]]


class NaturalGradient(torch.optim.Optimizer):
    """Damped natural gradient with an exact (CG or direct) Fisher solve.

    ``step(closure)``: the closure returns ``(outputs, targets)`` — logits ``(N, C)`` and class
    indices ``(N,)`` for ``likelihood="categorical"``, predictions and targets of equal shape
    for ``likelihood="gaussian"`` — computed with gradients enabled and without calling
    ``backward``. The loss is the mean negative log-likelihood (cross-entropy, or
    ``½‖z − y‖²`` summed over outputs and averaged over samples). :attr:`last_direction` holds
    the solved direction ``(F + λI)⁻¹∇L`` as a flat vector.

    Args:
        params: parameters (one group).
        lr: step size (> 0).
        damping: λ ≥ 0 (``λ = 0`` requires a non-singular Fisher).
        fisher: ``"true"`` or ``"empirical"``.
        likelihood: ``"categorical"`` or ``"gaussian"``.
        solver: ``"cg"`` or ``"direct"``.
        cg_iters: most CG iterations; cg_tol: relative residual tolerance.

    Example:
        >>> import torch
        >>> net = torch.nn.Linear(3, 2).double()
        >>> x, y = torch.randn(16, 3, dtype=torch.float64), torch.randint(0, 2, (16,))
        >>> opt = NaturalGradient(net.parameters(), lr=1.0, damping=1e-3)
        >>> loss = opt.step(lambda: (net(x), y))
        >>> opt.last_direction.shape
        torch.Size([8])
    """

    FISHERS: ClassVar[tuple[str, ...]] = ("true", "empirical")
    LIKELIHOODS: ClassVar[tuple[str, ...]] = ("categorical", "gaussian")
    SOLVERS: ClassVar[tuple[str, ...]] = ("cg", "direct")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        damping: float = 1e-3,
        *,
        fisher: str = "true",
        likelihood: str = "categorical",
        solver: str = "cg",
        cg_iters: int = 200,
        cg_tol: float = 1e-12,
    ) -> None:
        who = "NaturalGradient"
        for name, value, options in (
            ("fisher", fisher, self.FISHERS),
            ("likelihood", likelihood, self.LIKELIHOODS),
            ("solver", solver, self.SOLVERS),
        ):
            if value not in options:
                raise ConfigError(
                    f"{who}: unknown {name} {value!r} — expected one of {list(options)} — "
                    f"received {value!r} — pick one of those"
                )
        if isinstance(cg_iters, bool) or not isinstance(cg_iters, int) or cg_iters < 1:
            raise ConfigError(f"{who}: `cg_iters` must be an int ≥ 1, got {cg_iters!r}")
        self.fisher, self.likelihood, self.solver = fisher, likelihood, solver
        self.damping = non_negative(damping, "damping", who)
        self.cg_iters, self.cg_tol = cg_iters, positive(cg_tol, "cg_tol", who)
        self.last_direction = torch.zeros(0)
        super().__init__(params, {"lr": positive(lr, "lr", who, step=True)})
        if len(self.param_groups) != 1:
            raise ConfigError(
                f"{who}: one parameter group is supported, got {len(self.param_groups)}"
            )

    #: Invariance holds for the exact, undamped true-Fisher step.
    claims = (
        Claim(
            ReparametrisationInvariant(),
            when=AttributeEquals("invariant_configuration", True),
            reason="(AᵀFA)⁻¹Aᵀg = A⁻¹F⁻¹g: the step commutes with θ = Aφ when λ = 0",
        ),
    )

    @property
    def invariant_configuration(self) -> bool:
        """True Fisher, no damping: the configuration whose step is reparametrisation invariant."""
        return self.fisher == "true" and self.damping == 0.0

    def _curvature(self, outputs: Tensor, targets: Tensor) -> Callable[[Tensor], Tensor]:
        """``u ↦ H u`` per sample (output-space curvature), divided by N."""
        n = outputs.shape[0]
        z = outputs.detach()
        if self.likelihood == "categorical":
            p = torch.softmax(z, dim=-1)
            if self.fisher == "true":
                return lambda u: (p * u - p * (p * u).sum(-1, keepdim=True)) / n
            r = p - torch.nn.functional.one_hot(targets, z.shape[-1]).to(z.dtype)
        else:
            if self.fisher == "true":
                return lambda u: u / n
            r = z - targets.detach()
        return lambda u: r * (r * u).sum(-1, keepdim=True) / n

    def _loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        check_outputs(outputs, targets, self.likelihood, "NaturalGradient")
        if self.likelihood == "categorical":
            return torch.nn.functional.cross_entropy(outputs, targets)
        return 0.5 * ((outputs - targets) ** 2).reshape(outputs.shape[0], -1).sum(1).mean()

    def step(self, closure: Closure | None = None) -> Tensor:  # type: ignore[override]
        """One natural-gradient step; returns the loss before the step."""
        require_closure(closure, "NaturalGradient")
        params = [p for p in self.param_groups[0]["params"] if p.requires_grad]
        with torch.enable_grad():
            outputs, targets = closure()  # type: ignore[misc]
            loss = self._loss(outputs, targets)
            grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            # Parameters the outputs do not depend on are left alone (as torch's optimisers
            # skip parameters without a gradient).
            params = [p for p, grad in zip(params, grads, strict=True) if grad is not None]
            grads = tuple(grad for grad in grads if grad is not None)
            g = torch.cat([t.reshape(-1) for t in grads]).detach()
            curvature = self._curvature(outputs, targets)
            dummy = torch.zeros_like(outputs, requires_grad=True)
            vjp = torch.autograd.grad(outputs, params, grad_outputs=dummy, create_graph=True)

            def fvp(v: Tensor) -> Tensor:
                pieces, offset = [], 0
                for p in params:
                    pieces.append(v[offset : offset + p.numel()].view_as(p))
                    offset += p.numel()
                jv = torch.autograd.grad(vjp, dummy, grad_outputs=pieces, retain_graph=True)[0]
                back = torch.autograd.grad(
                    outputs, params, grad_outputs=curvature(jv), retain_graph=True
                )
                return torch.cat([t.reshape(-1) for t in back]) + self.damping * v

            direction = self._solve(fvp, g)
        self.last_direction = direction
        with torch.no_grad():
            offset, lr = 0, self.param_groups[0]["lr"]
            for p in params:
                p.sub_(lr * direction[offset : offset + p.numel()].view_as(p))
                offset += p.numel()
        return loss.detach()

    def _solve(self, fvp: Callable[[Tensor], Tensor], g: Tensor) -> Tensor:
        if self.solver == "direct":
            eye = torch.eye(g.numel(), dtype=g.dtype, device=g.device)
            matrix = torch.stack([fvp(eye[i]) for i in range(g.numel())], dim=1)
            matrix = 0.5 * (matrix + matrix.T)
            # Minimum-norm least squares (SVD): a categorical Fisher is singular along the
            # logit shift z ↦ z + c·1, and CG started at 0 also returns the minimum-norm
            # solution, which ``gelsd`` reproduces where ``solve`` would amplify round-off.
            return torch.linalg.lstsq(matrix, g.unsqueeze(1), driver="gelsd").solution.squeeze(1)
        x = torch.zeros_like(g)
        r = g.clone()
        p = r.clone()
        rr = float(r @ r)
        stop = (self.cg_tol**2) * rr
        for _ in range(self.cg_iters):
            if rr <= stop:
                break
            ap = fvp(p)
            alpha = rr / float(p @ ap)
            x = x + alpha * p
            r = r - alpha * ap
            rr_new = float(r @ r)
            p = r + (rr_new / rr) * p
            rr = rr_new
        return x
