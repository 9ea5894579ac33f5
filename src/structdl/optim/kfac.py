"""K-FAC: Kronecker-factored natural gradient for ``nn.Linear`` and ``nn.Conv2d`` layers.

For a linear layer ``s = W̃ ã`` (``W̃ = [W, b]``, ``ã = (a, 1)``) the generalised Gauss–Newton
block of a loss averaged over ``N`` samples is

    G_W = (1/N) Σ_n (ã_n ã_nᵀ) ⊗ (Σ_c j_nc j_ncᵀ),    j_nc = ∂(L_n^{1/2} z_n)_c / ∂s_n,

where ``L_n^{1/2}`` is a square root of the loss Hessian in output space: ``I`` for the
squared loss ``½‖z − y‖²`` (``likelihood="gaussian"``), ``diag(√p) − p√pᵀ`` for softmax
cross-entropy (``likelihood="categorical"``, since ``SSᵀ = diag(p) − ppᵀ`` when ``Σp = 1``).
K-FAC (Martens & Grosse, ICML 2015) replaces the mean of Kronecker products by the Kronecker
product of means,

    G_W ≈ A ⊗ G,   A = (1/N) Σ_n ã_n ã_nᵀ,   G = (1/N) Σ_n Σ_c j_nc j_ncᵀ,

with ``j_nc`` obtained by back-propagating the columns of ``L^{1/2}`` (``factors="exact"``:
one backward pass per output — the exact "type-2" factors). ``factors="sampled"`` back-propagates
one random vector ``u_n`` with ``E[u_n u_nᵀ] = L_n`` instead (``p_n − e_{c_n}`` for a label
``c_n`` drawn from the model's ``p_n``; a standard normal vector for the squared loss): one
backward pass whatever the number of outputs, an unbiased but noisy ``G`` (the Monte-Carlo
Fisher of Martens & Grosse). The factors are kept as
exponential moving averages (the first estimate initialises them) and the damped inverses
``(A + √λ I)⁻¹``, ``(G + √λ I)⁻¹`` are refreshed every ``inverse_every`` steps; the step is

    W̃ ← W̃ − lr · (G + √λ I)⁻¹ ∇_W̃ L (A + √λ I)⁻¹.

When the layer is the network's last and the loss is the squared loss, ``Σ_c j_nc j_ncᵀ = I``
for every sample, so ``A ⊗ G`` *is* the exact GGN block (the tests check it against
``torch.func``); in general it is an approximation (Dangel et al. 2025 list the other exact
cases). ``nn.Conv2d`` (one group, numeric zero padding) is treated as a linear layer on its
unfolded patches, one row per output location; ``A`` also averages over the ``L`` locations
(``A = (1/NL) Σ_{n,l} ã ãᵀ``, ``G = (1/N) Σ_{n,l,c} j jᵀ``, the KFC factors of Grosse &
Martens 2016). Parameters of other layers take a plain gradient step.

Row-major vectorisation: ``vec(W̃)`` with the output index major, so the block is
``kron(G, A)`` in that order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor

from .._errors import ConfigError, ShapeError
from ._validate import in_unit_interval, positive, require_closure

__all__ = ["KFAC"]

Closure = Callable[[], tuple[Tensor, Tensor]]


def _supported(module: torch.nn.Module) -> bool:
    """Linear layers, and Conv2d with one group and numeric zero padding (unfold's cases)."""
    if isinstance(module, torch.nn.Linear):
        return True
    return (
        isinstance(module, torch.nn.Conv2d)
        and module.groups == 1
        and module.padding_mode == "zeros"
        and not isinstance(module.padding, str)
    )


class KFAC(torch.optim.Optimizer):
    """Kronecker-factored approximate natural gradient (GGN) for ``nn.Linear`` layers.

    ``step(closure)``: the closure runs the model and returns ``(outputs, targets)`` —
    predictions and targets of one shape for ``likelihood="gaussian"`` (loss
    ``½‖z − y‖²`` summed over outputs, averaged over samples), ``(N, C)`` logits and ``(N,)``
    labels for ``likelihood="categorical"`` — without calling ``backward``.

    Args:
        model: the module; its ``nn.Linear`` and ``nn.Conv2d`` layers are preconditioned.
        lr: step size (> 0).
        damping: λ > 0; each factor gets ``√λ I``.
        likelihood: ``"gaussian"`` or ``"categorical"``.
        ema: decay of the running factors, in ``[0, 1)`` (``0`` keeps only the latest batch).
        inverse_every: refresh the inverses every this many steps (int ≥ 1).
        factors: ``"exact"`` (one backward per output) or ``"sampled"`` (one backward).
        generator: optional ``torch.Generator`` for ``factors="sampled"``.

    The model gets forward hooks (inert outside :meth:`step` and :meth:`curvature_factors`)
    that record each Linear layer's input and output.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
        >>> x, y = torch.randn(32, 3), torch.randn(32, 2)
        >>> opt = KFAC(net, lr=0.1, damping=1e-2)
        >>> first = opt.step(lambda: (net(x), y))
        >>> for _ in range(20):
        ...     last = opt.step(lambda: (net(x), y))
        >>> bool(last < first)
        True
    """

    LIKELIHOODS: ClassVar[tuple[str, ...]] = ("gaussian", "categorical")
    FACTORS: ClassVar[tuple[str, ...]] = ("exact", "sampled")

    def __init__(
        self,
        model: torch.nn.Module,
        lr: float = 0.1,
        damping: float = 1e-3,
        *,
        likelihood: str = "gaussian",
        ema: float = 0.95,
        inverse_every: int = 10,
        factors: str = "exact",
        generator: torch.Generator | None = None,
    ) -> None:
        who = "KFAC"
        if not isinstance(model, torch.nn.Module):
            raise ConfigError(
                f"{who}: expected the model (an nn.Module) — received {type(model).__name__} — "
                f"pass KFAC(model, …) rather than model.parameters()"
            )
        if likelihood not in self.LIKELIHOODS:
            raise ConfigError(
                f"{who}: unknown likelihood {likelihood!r} — expected one of "
                f"{list(self.LIKELIHOODS)} — received {likelihood!r} — pick one of those"
            )
        if factors not in self.FACTORS:
            raise ConfigError(
                f"{who}: unknown factors {factors!r} — expected one of {list(self.FACTORS)} — "
                f"received {factors!r} — pick one of those"
            )
        self.factors, self.generator = factors, generator
        number = damping if not isinstance(damping, bool) else None
        if not isinstance(number, (int, float)) or not number > 0 or number == float("inf"):
            raise ConfigError(
                f"{who}: `damping` must be a finite number > 0 — K-FAC's factors are singular "
                f"without it — received {damping!r} — pass e.g. damping=1e-3"
            )
        if isinstance(inverse_every, bool) or not isinstance(inverse_every, int):
            raise ConfigError(f"{who}: `inverse_every` must be an int ≥ 1, got {inverse_every!r}")
        if inverse_every < 1:
            raise ConfigError(f"{who}: `inverse_every` must be an int ≥ 1, got {inverse_every!r}")
        self.model, self.likelihood = model, likelihood
        self.damping = float(damping)
        self.ema = in_unit_interval(ema, "ema", who)
        self.inverse_every = inverse_every
        self.layers = [m for m in model.modules() if _supported(m)]
        self._factors: dict[torch.nn.Linear, tuple[Tensor, Tensor]] = {}
        self._inverses: dict[torch.nn.Linear, tuple[Tensor, Tensor]] = {}
        self._captured: dict[torch.nn.Linear, tuple[Tensor, Tensor]] = {}
        self.steps = 0
        for layer in self.layers:
            layer.register_forward_hook(self._capture)
        params = [p for p in model.parameters() if p.requires_grad]
        super().__init__(params, {"lr": positive(lr, "lr", who, step=True)})

    def _capture(self, layer: torch.nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        if torch.is_grad_enabled() and self._recording:
            self._captured[layer] = (inputs[0].detach(), output)  # type: ignore[index]

    _recording = False

    def _loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        if self.likelihood == "categorical":
            if outputs.dim() != 2 or targets.shape != outputs.shape[:1]:
                raise ShapeError(
                    f"KFAC: categorical outputs must be (N, C) logits with (N,) targets — "
                    f"received {tuple(outputs.shape)} and {tuple(targets.shape)} — return "
                    f"(logits, labels) from the closure"
                )
            return torch.nn.functional.cross_entropy(outputs, targets)
        if outputs.shape != targets.shape or outputs.dim() < 1:
            raise ShapeError(
                f"KFAC: gaussian outputs and targets must have one shape (N, …) — received "
                f"{tuple(outputs.shape)} and {tuple(targets.shape)}"
            )
        return 0.5 * ((outputs - targets) ** 2).reshape(outputs.shape[0], -1).sum(1).mean()

    def _hessian_root_columns(self, outputs: Tensor) -> list[Tensor]:
        """Columns of ``L^{1/2}`` per sample, each shaped like ``outputs``."""
        flat = outputs.detach().reshape(outputs.shape[0], -1)
        if self.factors == "sampled":
            return [self._sampled_root(flat).view_as(outputs)]
        columns = []
        if self.likelihood == "gaussian":
            for c in range(flat.shape[1]):
                e = torch.zeros_like(flat)
                e[:, c] = 1.0
                columns.append(e.view_as(outputs))
            return columns
        p = torch.softmax(flat, dim=-1)
        root = p.sqrt()
        for c in range(flat.shape[1]):
            column = -p * root[:, c : c + 1]
            column[:, c] += root[:, c]
            columns.append(column)
        return columns

    def _sampled_root(self, flat: Tensor) -> Tensor:
        """One vector ``u_n`` per sample with ``E[u_n u_nᵀ] = L_n``."""
        if self.likelihood == "gaussian":
            noise = torch.randn(flat.shape, generator=self.generator, dtype=torch.float64)
            return noise.to(flat)
        p = torch.softmax(flat, dim=-1)
        labels = torch.multinomial(p.double().cpu(), 1, generator=self.generator).squeeze(1)
        return p - torch.nn.functional.one_hot(labels, flat.shape[1]).to(p)

    def curvature_factors(self, closure: Closure) -> dict[torch.nn.Linear, tuple[Tensor, Tensor]]:
        """The batch estimates ``(A, G)`` per layer (no running average, no step)."""
        with torch.enable_grad():
            outputs, targets, _ = self._forward(closure)
            return self._batch_factors(outputs)

    def _forward(self, closure: Closure) -> tuple[Tensor, Tensor, Tensor]:
        self._captured.clear()
        self._recording = True
        try:
            outputs, targets = closure()
        finally:
            self._recording = False
        missing = [layer for layer in self.layers if layer not in self._captured]
        if missing:
            raise ConfigError(
                f"KFAC: {len(missing)} Linear layer(s) did not run in the closure — expected "
                f"every Linear of the model to be used once per forward — received a closure "
                f"that skips them — build KFAC on the sub-module that is trained"
            )
        return outputs, targets, self._loss(outputs, targets)

    def _batch_factors(self, outputs: Tensor) -> dict[torch.nn.Linear, tuple[Tensor, Tensor]]:
        n = outputs.shape[0]
        layer_outputs = [self._captured[layer][1] for layer in self.layers]
        g_factors = [None] * len(self.layers)
        for column in self._hessian_root_columns(outputs):
            back = torch.autograd.grad(
                outputs, layer_outputs, grad_outputs=column, retain_graph=True
            )
            for k, j in enumerate(back):
                # Convolutions: one row per output location (channels last).
                j = j.movedim(1, -1) if isinstance(self.layers[k], torch.nn.Conv2d) else j
                j = j.reshape(-1, j.shape[-1])
                term = j.T @ j
                g_factors[k] = term if g_factors[k] is None else g_factors[k] + term
        factors = {}
        for k, layer in enumerate(self.layers):
            a = self._captured[layer][0]
            locations = 1
            if isinstance(layer, torch.nn.Conv2d):
                # Patches (N, C·kh·kw, L) → one row per output location; A averages over
                # locations too (the "expand" convention of Grosse & Martens' KFC).
                a = torch.nn.functional.unfold(
                    a, layer.kernel_size, layer.dilation, layer.padding, layer.stride
                )
                locations = a.shape[-1]
                a = a.transpose(1, 2)
            a = a.reshape(-1, a.shape[-1])
            if layer.bias is not None:
                a = torch.cat([a, torch.ones_like(a[:, :1])], dim=1)
            factors[layer] = (a.T @ a / (n * locations), g_factors[k] / n)
        return factors

    def step(self, closure: Closure | None = None) -> Tensor:  # type: ignore[override]
        """One K-FAC step; returns the loss before the step."""
        require_closure(closure, "KFAC")
        params = self.param_groups[0]["params"]
        with torch.enable_grad():
            outputs, _, loss = self._forward(closure)  # type: ignore[arg-type]
            grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            batch = self._batch_factors(outputs)
        for layer, (a, g) in batch.items():
            if layer in self._factors:
                old_a, old_g = self._factors[layer]
                a = self.ema * old_a + (1.0 - self.ema) * a
                g = self.ema * old_g + (1.0 - self.ema) * g
            self._factors[layer] = (a, g)
        if self.steps % self.inverse_every == 0:
            self._refresh_inverses()
        self.steps += 1
        lr = self.param_groups[0]["lr"]
        grad_of = {p: grad for p, grad in zip(params, grads, strict=True)}
        handled = set()
        with torch.no_grad():
            for layer in self.layers:
                a_inv, g_inv = self._inverses[layer]
                gw = grad_of.get(layer.weight)
                gw = torch.zeros_like(layer.weight) if gw is None else gw
                gw = gw.reshape(gw.shape[0], -1)
                fan_in = gw.shape[1]
                if layer.bias is not None:
                    gb = grad_of.get(layer.bias)
                    gb = torch.zeros_like(layer.bias) if gb is None else gb
                    gw = torch.cat([gw, gb.unsqueeze(1)], dim=1)
                direction = g_inv @ gw @ a_inv
                layer.weight.sub_(lr * direction[:, :fan_in].view_as(layer.weight))
                handled.add(layer.weight)
                if layer.bias is not None:
                    layer.bias.sub_(lr * direction[:, -1])
                    handled.add(layer.bias)
            for p, grad in zip(params, grads, strict=True):
                if p not in handled and grad is not None:
                    p.sub_(lr * grad)
        return loss.detach()

    def _refresh_inverses(self) -> None:
        root = self.damping**0.5
        for layer, (a, g) in self._factors.items():
            eye_a = torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
            eye_g = torch.eye(g.shape[0], dtype=g.dtype, device=g.device)
            # Cholesky inverses: both damped factors are symmetric positive definite.
            self._inverses[layer] = (
                torch.cholesky_inverse(torch.linalg.cholesky(a + root * eye_a)),
                torch.cholesky_inverse(torch.linalg.cholesky(g + root * eye_g)),
            )
