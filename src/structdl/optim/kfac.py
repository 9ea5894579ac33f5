"""K-FAC: Kronecker-factored natural gradient for Linear, Conv2d, Embedding, norm layers.

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
the exact "type-2" factors). ``factors="sampled"`` back-propagates one random vector ``u_n``
with ``E[u_n u_nᵀ] = L_n`` instead (``p_n − e_{c_n}`` for a label ``c_n`` drawn from the
model's ``p_n``; a standard normal vector for the squared loss): an unbiased but noisy ``G``
(the Monte-Carlo Fisher of Martens & Grosse). The factors are kept as exponential moving
averages (the first estimate initialises them) and the damped inverses ``(A + √λ I)⁻¹``,
``(G + √λ I)⁻¹`` are refreshed every ``inverse_every`` steps; the step is

    W̃ ← W̃ − lr · (G + √λ I)⁻¹ ∇_W̃ L (A + √λ I)⁻¹.

When the layer is the network's last and the loss is the squared loss, ``Σ_c j_nc j_ncᵀ = I``
for every sample, so ``A ⊗ G`` *is* the exact GGN block (the tests check it against
``torch.func``); in general it is an approximation (Dangel et al. 2025 list the other exact
cases). ``nn.Conv2d`` (one group, numeric zero padding) is treated as a linear layer on its
unfolded patches, one row per output location; ``A`` also averages over the ``L`` locations
(``A = (1/NL) Σ_{n,l} ã ãᵀ``, ``G = (1/N) Σ_{n,l,c} j jᵀ``, the KFC factors of Grosse &
Martens 2016); a Linear layer applied to ``(N, T, d)`` inputs is treated the same way, with
``T`` in place of ``L`` (the "expand" convention of Eschenhagen et al. 2023). An
``nn.Embedding`` table ``E`` is a linear layer on one-hot inputs with ``W̃ = Eᵀ``: its ``A`` is
the diagonal of token frequencies (the padding row, which torch never trains, counts zero),
its gradient a scatter of the output cotangents, and its step
``E ← E − lr·(A + √λI)⁻¹ ∇_E L (G + √λI)⁻¹``.

Normalisation layers (``nn.LayerNorm``, and ``nn.BatchNorm*`` in eval mode with running
statistics) compute ``y = γ ⊙ x̂ + β`` sample by sample, with ``x̂`` independent of
``(γ, β)``; their Jacobian-transpose maps an output cotangent ``j`` to
``v = [Σ_loc x̂ ⊙ j, Σ_loc j]`` (sums over the positions sharing a feature), so the whole
``2d × 2d`` block ``F = (1/N) Σ_n Σ_c v_nc v_ncᵀ`` is cheap to keep, and with the exact columns
it *is* the GGN block of ``(γ, β)`` wherever the layer sits (tested against ``torch.func``).
Their step is ``(F + λI)⁻¹ ∇L``. BatchNorm on batch statistics (training mode) couples the
samples, so it takes the plain gradient step ``∇_γ L = Σ x̂ ⊙ ∂L/∂y``, ``∇_β L = Σ ∂L/∂y``.
Parameters of other layers take a plain gradient step.

How a step is computed:

- forward hooks record each layer's input ``a`` and output ``s``;
- the output-space cotangents are written in closed form (no autograd graph for the loss): the
  loss gradient ``∂L/∂z = (z − y)/N`` or ``(p − e_y)/N``, and on steps that estimate the
  factors the columns of ``L^{1/2}`` (exact) or the sampled ``u``;
- they are back-propagated to the layer outputs only (not to the weights): exact factors send
  the loss gradient and the ``C`` columns *together* in one batched backward pass
  (``is_grads_batched``); sampled factors send the loss gradient and ``u`` in two plain
  passes over one graph (for a single extra vector the batching machinery costs more than a
  backward pass of a small network);
- the weight gradient is then ``∇_W̃ L = (∂L/∂s)ᵀ ã``, from tensors already at hand (no
  ``.grad`` is formed), and the preconditioned direction
  ``(G + √λI)⁻¹ (∂L/∂s)ᵀ ã (A + √λI)⁻¹`` is one ``multi_dot`` call, which picks the cheapest
  order of the four products; the factor updates are single in-place ``addmm_`` calls
  (``A ← ema·A + (1 − ema)·ãᵀã/R``); one ``_foreach_add_`` updates every tensor.

``factor_every`` (default 1: the factors are estimated on every step) spaces the factor
estimates out like the ``factor_update_steps`` of kfac-pytorch: on the other steps the
backward pass carries only the loss gradient, so such a step costs one forward, one backward
and one ``multi_dot`` per layer. The damped inverses use a Cholesky factorisation
(cheaper than an eigendecomposition — about 5× at 65×65 on one CPU thread; a factor that is
numerically indefinite in low precision falls back to an eigendecomposition with its
eigenvalues clipped at zero).

Row-major vectorisation: ``vec(W̃)`` with the output index major, so the block is
``kron(G, A)`` in that order.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import ClassVar

import torch
from torch import Tensor

from .._errors import ConfigError
from ._validate import check_outputs, in_unit_interval, positive, require_closure

__all__ = ["KFAC"]

Closure = Callable[[], tuple[Tensor, Tensor]]


def _supported(module: torch.nn.Module) -> bool:
    """Linear layers, Conv2d with one group and numeric zero padding (unfold's cases), and
    dense Embedding tables without max-norm renormalisation."""
    if isinstance(module, torch.nn.Linear):
        return True
    if isinstance(module, torch.nn.Embedding):
        return module.max_norm is None and not module.sparse
    return (
        isinstance(module, torch.nn.Conv2d)
        and module.groups == 1
        and module.padding_mode == "zeros"
        and not isinstance(module.padding, str)
    )


class _Layer:
    """What the optimiser keeps per preconditioned layer (plain attributes: cheap to read)."""

    __slots__ = ("bias", "conv", "fan_in", "input", "module", "output", "version", "weight")
    table = False  # an embedding table (see _Embedding)

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module
        self.conv = isinstance(module, torch.nn.Conv2d)
        self.weight: Tensor = module.weight
        bias = module.bias
        self.bias: Tensor | None = bias if bias is not None and bias.requires_grad else None
        self.fan_in = self.weight[0].numel()
        self.input: Tensor | None = None
        self.output: Tensor | None = None
        self.version = 0

    def rows(self) -> Tensor:
        """``ã``: one row per (sample, location), with a trailing 1 for the bias."""
        a: Tensor = self.input  # type: ignore[assignment]  # set by the forward hook
        if self.conv:
            m = self.module
            # Patches (N, C·kh·kw, L) → one row per output location.
            a = torch.nn.functional.unfold(a, m.kernel_size, m.dilation, m.padding, m.stride)
            a = a.transpose(1, 2)
        if a.dim() != 2:
            a = a.reshape(-1, self.fan_in)
        if self.bias is not None:
            a = torch.nn.functional.pad(a, (0, 1), value=1.0)
        return a

    def output_rows(self, back: Tensor) -> Tensor:
        """Cotangents of the output as rows ``(…, channels)`` (convolutions: channels last)."""
        if self.conv:
            back = back.movedim(-3, -1)
        return back if back.dim() == 2 else back.reshape(-1, back.shape[-1])

    def matrix(self) -> Tensor:
        """The weight as the ``(out, fan_in)`` matrix the step updates (a view)."""
        return self.weight.view(self.weight.shape[0], -1) if self.conv else self.weight


class _Embedding(_Layer):
    """An embedding table ``y = E[i]``: a linear layer on one-hot inputs, ``W̃ = Eᵀ``.

    Its input factor is diagonal, ``A = diag(counts)/R`` (kept as a vector), its gradient a
    scatter of the output cotangents into the rows of the indices used, and its direction
    ``(A + √λI)⁻¹ ∇_E L (G + √λI)⁻¹`` (``∇_E L`` is ``(∇_W̃ L)ᵀ``; both factors symmetric).
    """

    table = True

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module
        self.weight: Tensor = module.weight
        self.conv, self.bias = False, None
        self.fan_in: int = module.num_embeddings  # type: ignore[assignment]
        self.input = self.output = None
        self.version = 0

    def rows(self) -> Tensor:
        """The indices, one per row."""
        return self.input.reshape(-1)  # type: ignore[union-attr]

    def counts(self, indices: Tensor) -> Tensor:
        counts = torch.bincount(indices, minlength=self.fan_in).to(self.weight.dtype)
        padding = self.module.padding_idx
        if padding is not None:  # the padding row is not trained: no curvature either
            counts[padding] = 0.0
        return counts

    def gradient(self, indices: Tensor, g_rows: Tensor) -> Tensor:
        grad = g_rows.new_zeros(self.fan_in, g_rows.shape[1]).index_add_(0, indices, g_rows)
        padding = self.module.padding_idx
        if padding is not None:  # torch's embedding never updates the padding row
            grad[padding] = 0.0
        return grad


def _affine(module: torch.nn.Module) -> bool:
    """LayerNorm and BatchNorm with a trainable per-feature scale."""
    norms = (torch.nn.LayerNorm, torch.nn.modules.batchnorm._BatchNorm)
    weight = getattr(module, "weight", None)
    return isinstance(module, norms) and weight is not None and weight.requires_grad


class _Affine:
    """A normalisation layer ``y = γ ⊙ x̂ + β``: its whole GGN block over ``(γ, β)`` is kept."""

    __slots__ = ("bias", "features", "input", "layer_norm", "module", "output", "version", "weight")

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module
        self.layer_norm = isinstance(module, torch.nn.LayerNorm)
        self.weight: Tensor = module.weight  # type: ignore[assignment]
        bias = module.bias
        self.bias: Tensor | None = bias if bias is not None and bias.requires_grad else None  # type: ignore[assignment]
        self.features = self.weight.numel()
        self.input: Tensor | None = None
        self.output: Tensor | None = None
        self.version = 0

    def per_sample(self) -> bool:
        """Whether each output depends on its own sample only (then the block is the GGN's).

        LayerNorm always; BatchNorm in eval mode with running statistics. BatchNorm on batch
        statistics couples the samples: it gets the plain gradient step.
        """
        m = self.module
        return self.layer_norm or (not m.training and m.running_mean is not None)

    def normalised(self) -> Tensor:
        """``x̂`` as ``(N, locations, features)``."""
        x: Tensor = self.input  # type: ignore[assignment]  # set by the forward hook
        m = self.module
        n = x.shape[0]
        if self.layer_norm:
            hat = torch.nn.functional.layer_norm(x, m.normalized_shape, None, None, m.eps)
            return hat.reshape(n, -1, self.features)
        if self.per_sample():
            hat = torch.nn.functional.batch_norm(
                x, m.running_mean, m.running_var, None, None, False, 0.0, m.eps
            )
        else:  # batch statistics, without touching the running ones
            hat = torch.nn.functional.batch_norm(x, None, None, None, None, True, 0.0, m.eps)
        return hat.reshape(n, self.features, -1).transpose(1, 2)

    def vectors(self, hat: Tensor, back: Tensor) -> Tensor:
        """``[Σ_loc x̂ ⊙ j, Σ_loc j]`` per (column, sample): the rows of ``J_θᵀ`` applied."""
        n, locations, features = hat.shape
        if self.layer_norm:
            j = back.reshape(-1, n, locations, features)
        else:
            j = back.reshape(-1, n, features, locations).transpose(2, 3)
        scale = (j * hat).sum(2)
        v = scale if self.bias is None else torch.cat([scale, j.sum(2)], dim=-1)
        return v.reshape(-1, v.shape[-1])


class KFAC(torch.optim.Optimizer):
    """Kronecker-factored approximate natural gradient (GGN) for ``nn.Linear``/``nn.Conv2d``.

    ``step(closure)``: the closure runs the model and returns ``(outputs, targets)`` —
    predictions and targets of one shape for ``likelihood="gaussian"`` (loss
    ``½‖z − y‖²`` summed over outputs, averaged over samples), ``(N, C)`` logits and ``(N,)``
    labels for ``likelihood="categorical"`` — without calling ``backward`` (the optimiser
    back-propagates itself; ``.grad`` fields are not used).

    Args:
        model: the module; its ``nn.Linear``, ``nn.Conv2d`` and ``nn.Embedding`` layers get
            the Kronecker factors, its ``nn.LayerNorm`` and eval-mode ``nn.BatchNorm*``
            layers their whole ``(γ, β)`` block; every other trainable parameter takes a
            plain gradient step.
        lr: step size (> 0).
        damping: λ > 0; each factor gets ``√λ I``.
        likelihood: ``"gaussian"`` or ``"categorical"``.
        ema: decay of the running factors, in ``[0, 1)`` (``0`` keeps only the latest batch).
        inverse_every: refresh the inverses every this many steps (int ≥ 1).
        factor_every: estimate the factors every this many steps (int ≥ 1; default 1, every
            step). Steps in between reuse the running factors and do no curvature work.
        factors: ``"exact"`` (the columns of ``L^{1/2}``: as many back-propagated vectors as
            outputs) or ``"sampled"`` (one vector per sample).
        momentum: heavy-ball coefficient μ in ``[0, 1)`` on the preconditioned direction
            (``v ← μv + d``, ``θ ← θ − lr·v``); 0 (default) is plain K-FAC.
        pi_damping: split the damping between the factors by their scales,
            ``A + π√λ I`` and ``G + (√λ/π) I`` with ``π² = (tr A/dim A)/(tr G/dim G)``
            (Martens & Grosse 2015, §6.3); off by default (``π = 1``).
        kl_clip: if set, shrink each step so that ``lr²·dᵀ∇L ≤ kl_clip`` (the KL clipping of
            Ba et al. 2017, as in kfac-pytorch); off by default.
        generator: optional ``torch.Generator`` for ``factors="sampled"``.

    Each layer must run once per forward pass, and its output must not be modified in place
    afterwards (use ``inplace=False`` activations). The model gets forward hooks (inert
    outside :meth:`step` and :meth:`curvature_factors`) that record each layer's input and
    output. The running factors and inverses live in ``self.state`` (under each layer's
    weight), so ``state_dict``/``load_state_dict`` resume a run exactly.

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
        factor_every: int = 1,
        factors: str = "exact",
        momentum: float = 0.0,
        pi_damping: bool = False,
        kl_clip: float | None = None,
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
        number = damping if not isinstance(damping, bool) else None
        if not isinstance(number, (int, float)) or not number > 0 or number == float("inf"):
            raise ConfigError(
                f"{who}: `damping` must be a finite number > 0 — K-FAC's factors are singular "
                f"without it — received {damping!r} — pass e.g. damping=1e-3"
            )
        for name, every in (("inverse_every", inverse_every), ("factor_every", factor_every)):
            if isinstance(every, bool) or not isinstance(every, int) or every < 1:
                raise ConfigError(
                    f"{who}: `{name}` is invalid — expected an int ≥ 1 — received {every!r} — "
                    f"pass e.g. {name}=10"
                )
        self.model, self.likelihood, self.factors = model, likelihood, factors
        self.generator = generator
        self.damping = float(damping)
        self.ema = in_unit_interval(ema, "ema", who)
        self.inverse_every, self.factor_every = inverse_every, factor_every
        self.momentum = in_unit_interval(momentum, "momentum", who)
        self.pi_damping = bool(pi_damping)
        self.kl_clip = None if kl_clip is None else positive(kl_clip, "kl_clip", who)
        modules = [m for m in model.modules() if _supported(m) and m.weight.requires_grad]
        self.layers = modules
        self._records = [
            _Embedding(m) if isinstance(m, torch.nn.Embedding) else _Layer(m) for m in modules
        ]
        self._affines = [_Affine(m) for m in model.modules() if _affine(m)]
        tracked = [*self._records, *self._affines]
        covered = {id(r.weight) for r in tracked}
        covered |= {id(r.bias) for r in tracked if r.bias is not None}
        params = [p for p in model.parameters() if p.requires_grad]
        # Parameters outside the preconditioned layers: a plain gradient step.
        self._others = [p for p in params if id(p) not in covered]
        self._recording = False
        for record in tracked:
            record.module.register_forward_hook(partial(self._capture, record))
        super().__init__(params, {"lr": positive(lr, "lr", who, step=True), "steps": 0})

    @property
    def steps(self) -> int:
        """Steps taken so far (restored by ``load_state_dict``)."""
        return self.param_groups[0]["steps"]

    # ----------------------------------------------------------------------------- forward
    def _capture(
        self,
        record: _Layer | _Affine,
        module: torch.nn.Module,
        inputs: tuple[Tensor, ...],
        out: Tensor,
    ) -> None:
        if not self._recording or not torch.is_grad_enabled():
            return
        if record.output is not None:
            raise ConfigError(
                f"KFAC: the layer {module} ran twice in one forward pass — expected every "
                f"preconditioned layer to run once (its factors would mix two uses) — "
                f"received a shared layer — build KFAC on a model without weight sharing"
            )
        # The input is only read under no_grad: no need to detach it.
        record.input, record.output, record.version = inputs[0], out, out._version

    def _forward(self, closure: Closure) -> tuple[Tensor, Tensor]:
        tracked = [*self._records, *self._affines]
        for record in tracked:
            record.input = record.output = None
        self._recording = True
        try:
            with torch.enable_grad():
                outputs, targets = closure()
        finally:
            self._recording = False
        missing = [r for r in tracked if r.output is None]
        if missing:
            raise ConfigError(
                f"KFAC: {len(missing)} preconditioned layer(s) did not run in the closure — "
                f"expected every preconditioned layer of the model to be used once per forward "
                f"— received a closure that skips them — build KFAC on the sub-module that is "
                f"trained"
            )
        for record in tracked:
            if record.output._version != record.version:  # type: ignore[union-attr]
                raise ConfigError(
                    f"KFAC: the output of {record.module} was modified in place after the layer "
                    f"ran — expected it untouched (its cotangent is read from it) — received an "
                    f"in-place operation such as ReLU(inplace=True) — use inplace=False"
                )
        check_outputs(outputs, targets, self.likelihood, "KFAC")
        return outputs, targets

    # ------------------------------------------------------------------ output-space algebra
    def _loss_and_gradient(
        self, outputs: Tensor, targets: Tensor
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """The loss, its gradient ``∂L/∂z`` and (categorical) ``p``, in closed form."""
        z = outputs.detach()
        n = z.shape[0]
        if self.likelihood == "categorical":
            log_p = torch.log_softmax(z, dim=-1)
            loss = torch.nn.functional.nll_loss(log_p, targets)
            p = log_p.exp_()
            gradient = p.scatter_add(1, targets.unsqueeze(1), p.new_full((n, 1), -1.0))
            return loss, gradient.div_(n), p
        residual = z - targets
        return residual.square().sum().mul_(0.5 / n), residual.div_(n), None

    def _exact_roots(self, outputs: Tensor, p: Tensor | None) -> Tensor:
        """The columns of ``L^{1/2}`` per sample, stacked: ``(C, *outputs.shape)``."""
        z = outputs.detach()
        n, c = z.shape[0], z[0].numel()
        if p is None:  # gaussian: L = I, the columns are the unit vectors
            eye = torch.eye(c, dtype=z.dtype, device=z.device)
            return eye.unsqueeze(1).expand(c, n, c).reshape(c, *z.shape)
        root = p.sqrt()
        # roots[c, n, i] = √p_nc (δ_ic − p_ni): column c of diag(√p_n) − p_n √p_nᵀ.
        return torch.diag_embed(root).transpose(0, 1) - root.T.unsqueeze(2) * p.unsqueeze(0)

    def _sampled_root(self, outputs: Tensor, p: Tensor | None) -> Tensor:
        """One vector ``u_n`` per sample with ``E[u_n u_nᵀ] = L_n``, shaped like ``outputs``."""
        z = outputs.detach()
        if p is None:
            noise = torch.randn(z.shape, generator=self.generator, dtype=torch.float64)
            return noise.to(z)
        n, c = p.shape
        # A label c_n ~ p_n by inverting the cumulative distribution (multinomial is slower).
        uniform = torch.rand(n, 1, generator=self.generator, dtype=torch.float64).to(p.device)
        labels = (p.cumsum(1) < uniform).sum(1, keepdim=True).clamp_(max=c - 1)
        return p.scatter_add(1, labels, p.new_full((n, 1), -1.0))

    def _grad(
        self,
        outputs: Tensor,
        inputs: list[Tensor],
        cotangents: Tensor,
        *,
        batched: bool = False,
        retain: bool = False,
    ) -> list:
        """Back-propagate ``cotangents`` from ``outputs``; unreached layer outputs get zeros."""
        back = list(
            torch.autograd.grad(
                outputs,
                inputs,
                grad_outputs=cotangents,
                retain_graph=retain,
                allow_unused=True,
                is_grads_batched=batched,
            )
        )
        for k, record in enumerate([*self._records, *self._affines]):
            if back[k] is None:  # the layer ran but does not reach the outputs
                out: Tensor = record.output  # type: ignore[assignment]
                shape = (cotangents.shape[0], *out.shape) if batched else out.shape
                back[k] = out.new_zeros(shape)
        return back

    # ---------------------------------------------------------------------------- the step
    def curvature_factors(self, closure: Closure) -> dict[torch.nn.Module, tuple[Tensor, ...]]:
        """The batch estimates per layer (no running average, no step).

        ``(A, G)`` for a Linear/Conv2d layer; ``(F,)`` for a normalisation layer, its whole
        curvature block over ``(vec γ, vec β)``.
        """
        outputs, targets = self._forward(closure)
        _, _, p = self._loss_and_gradient(outputs, targets)
        tracked = [*self._records, *self._affines]
        layer_outputs = [r.output for r in tracked]
        if self.factors == "exact":
            back = self._grad(outputs, layer_outputs, self._exact_roots(outputs, p), batched=True)
        else:
            back = self._grad(outputs, layer_outputs, self._sampled_root(outputs, p))
        n = outputs.shape[0]
        factors: dict[torch.nn.Module, tuple[Tensor, ...]] = {}
        with torch.no_grad():
            for record, cotangent in zip(self._records, back, strict=False):
                a, j = record.rows(), record.output_rows(cotangent)
                if record.table:
                    a_factor = torch.diag(record.counts(a) / a.shape[0])  # type: ignore[attr-defined]
                else:
                    a_factor = a.T @ a / a.shape[0]
                factors[record.module] = (a_factor, j.T @ j / n)
            for affine, cotangent in zip(self._affines, back[len(self._records) :], strict=True):
                v = affine.vectors(affine.normalised(), cotangent)
                factors[affine.module] = (v.T @ v / n,)
        self._release()
        return factors

    def step(self, closure: Closure | None = None) -> Tensor:  # type: ignore[override]
        """One K-FAC step; returns the loss before the step."""
        require_closure(closure, "KFAC")
        group = self.param_groups[0]
        lr, steps = group["lr"], group["steps"]
        outputs, targets = self._forward(closure)  # type: ignore[arg-type]
        loss, gradient, p = self._loss_and_gradient(outputs, targets)
        records, affines = self._records, self._affines
        tracked = len(records) + len(affines)
        layer_outputs = [r.output for r in records] + [f.output for f in affines]
        inputs = layer_outputs + self._others
        estimate = steps % self.factor_every == 0
        curvature: list | None = None
        if estimate and self.factors == "exact":
            # One batched backward pass: the loss gradient (index 0) and the C columns.
            cotangents = torch.cat([gradient.unsqueeze(0), self._exact_roots(outputs, p)])
            batched = self._grad(outputs, inputs, cotangents, batched=True)
            curvature = [b[1:] for b in batched[:tracked]]
            back = [None if b is None else b[0] for b in batched]
        else:
            # A single sampled vector: two plain backward passes beat one batched pass of two
            # (the batching machinery costs more than a backward pass of a small network).
            back = self._grad(outputs, inputs, gradient, retain=estimate)
            if estimate:
                curvature = self._grad(outputs, layer_outputs, self._sampled_root(outputs, p))
        n = outputs.shape[0]
        with torch.no_grad():
            rows = [record.rows() for record in records]
            hats = [affine.normalised() for affine in affines]
            if curvature is not None:
                for record, a, j in zip(records, rows, curvature, strict=False):
                    state, j_rows = self.state[record.weight], record.output_rows(j)
                    if record.table:
                        self._update_table(state, record.counts(a) / a.shape[0], j_rows, n)  # type: ignore[attr-defined]
                    else:
                        self._update_factors(state, a, j_rows, n)
                for affine, hat, j in zip(affines, hats, curvature[len(records) :], strict=True):
                    if affine.per_sample():
                        self._update_block(self.state[affine.weight], affine.vectors(hat, j), n)
            if steps % self.inverse_every == 0:
                self._refresh_inverses()
            directions, products = [], []
            for record, a, cotangent in zip(records, rows, back, strict=False):
                state = self.state[record.weight]
                g_rows = record.output_rows(cotangent)
                # (G + √λI)⁻¹ ∇_W̃L (A + √λI)⁻¹ with ∇_W̃L = (∂L/∂s)ᵀ ã, in one call that picks
                # the cheapest order of the products.
                if record.table:
                    gradient_w = record.gradient(a, g_rows)  # type: ignore[attr-defined]
                    direction = (gradient_w * state["A_inv"].unsqueeze(1)) @ state["G_inv"]
                    products.append(torch.vdot(direction.view(-1), gradient_w.view(-1)))
                    directions.append(direction)
                elif self.kl_clip is None:
                    factors = [state["G_inv"], g_rows.T, a, state["A_inv"]]
                    directions.append(torch.linalg.multi_dot(factors))
                else:
                    gradient_w = g_rows.T @ a
                    direction = torch.linalg.multi_dot([state["G_inv"], gradient_w, state["A_inv"]])
                    products.append(torch.vdot(direction.view(-1), gradient_w.view(-1)))
                    directions.append(direction)
            for affine, hat, cotangent in zip(affines, hats, back[len(records) :], strict=False):
                state = self.state[affine.weight]
                gradient_f = affine.vectors(hat, cotangent).sum(0)  # ∇_(γ, β) L
                inverse = state.get("F_inv")
                use = inverse is not None and affine.per_sample()
                direction = inverse @ gradient_f if use else gradient_f  # type: ignore[operator]
                products.append(torch.vdot(direction, gradient_f))
                directions.append(direction)
            others = [
                (param, grad)
                for param, grad in zip(self._others, back[tracked:], strict=True)
                if grad is not None
            ]
            directions.extend(grad for _, grad in others)
            scale = 1.0
            if self.kl_clip is not None:
                # KL clipping (Ba et al. 2017): shrink the step so that lr²·dᵀ∇L ≤ kl_clip.
                products.extend(torch.vdot(g.reshape(-1), g.reshape(-1)) for _, g in others)
                predicted = lr * lr * float(torch.stack(products).sum())
                if predicted > self.kl_clip:
                    scale = (self.kl_clip / predicted) ** 0.5
            if self.momentum > 0:
                directions = self._heavy_ball(directions, [*records, *affines], others)
            updated, pieces = [], []
            for record, direction in zip(records, directions, strict=False):
                updated.append(record.matrix())
                if record.bias is None:
                    pieces.append(direction)
                else:
                    pieces.append(direction[:, : record.fan_in])
                    updated.append(record.bias)
                    pieces.append(direction[:, record.fan_in])
            for affine, direction in zip(affines, directions[len(records) :], strict=False):
                updated.append(affine.weight)
                pieces.append(direction[: affine.features].view(affine.weight.shape))
                if affine.bias is not None:
                    updated.append(affine.bias)
                    pieces.append(direction[affine.features :].view(affine.bias.shape))
            updated.extend(param for param, _ in others)
            pieces.extend(directions[tracked:])
            torch._foreach_add_(updated, pieces, alpha=-lr * scale)  # one call for every tensor
        group["steps"] = steps + 1
        self._release()
        return loss

    def _release(self) -> None:
        """Drop the recorded inputs and outputs (they would keep a batch's activations)."""
        for record in [*self._records, *self._affines]:
            record.input = record.output = None

    def _heavy_ball(self, directions: list, records: list, others: list) -> list:
        """``v ← μ v + d`` per tensor (the buffers live in ``self.state``)."""
        keys = [r.weight for r in records] + [param for param, _ in others]
        buffers = [self.state[key].get("momentum") for key in keys]
        if any(b is None or b.shape != d.shape for b, d in zip(buffers, directions, strict=True)):
            buffers = [d.clone() for d in directions]
            for key, buffer in zip(keys, buffers, strict=True):
                self.state[key]["momentum"] = buffer
            return buffers
        torch._foreach_mul_(buffers, self.momentum)
        torch._foreach_add_(buffers, directions)
        return buffers

    def _update_table(self, state: dict, a: Tensor, j: Tensor, n: int) -> None:
        """An embedding's running factors: ``A`` as the vector of its diagonal."""
        decay = self.ema
        if "A" not in state:
            state["A"], state["G"] = torch.zeros_like(a), j.new_zeros(j.shape[1], j.shape[1])
            decay = 0.0
        state["A"].mul_(decay).add_(a, alpha=1.0 - decay)
        state["G"].addmm_(j.T, j, beta=decay, alpha=(1.0 - decay) / n)

    def _update_block(self, state: dict, v: Tensor, n: int) -> None:
        """Running average of a normalisation layer's block ``F = (1/N) Σ v vᵀ``."""
        decay = self.ema
        if "F" not in state:
            state["F"] = v.new_zeros(v.shape[1], v.shape[1])
            decay = 0.0
        state["F"].addmm_(v.T, v, beta=decay, alpha=(1.0 - decay) / n)

    def _update_factors(self, state: dict, a: Tensor, j: Tensor, n: int) -> None:
        """Fused in-place running averages: ``A ← ema·A + (1 − ema)·ãᵀã/rows`` (same for G)."""
        decay = self.ema
        if "A" not in state:
            # The first estimate initialises the averages (beta = 0 ignores the buffer).
            state["A"] = a.new_zeros(a.shape[1], a.shape[1])
            state["G"] = j.new_zeros(j.shape[1], j.shape[1])
            decay = 0.0
        keep = 1.0 - decay
        state["A"].addmm_(a.T, a, beta=decay, alpha=keep / a.shape[0])
        state["G"].addmm_(j.T, j, beta=decay, alpha=keep / n)

    def _refresh_inverses(self) -> None:
        root = self.damping**0.5
        for record in self._records:
            state = self.state[record.weight]
            a, g = state["A"], state["G"]
            balance = 1.0
            if self.pi_damping:
                # π = √((tr A / dim A) / (tr G / dim G)) splits √λ between the factors in
                # proportion to their scales (Martens & Grosse 2015, §6.3).
                diagonal = a if record.table else a.diagonal()
                mean_a, mean_g = float(diagonal.mean()), float(g.diagonal().mean())
                if mean_a > 0 and mean_g > 0:
                    balance = (mean_a / mean_g) ** 0.5
            if record.table:  # diagonal: its inverse entry by entry
                state["A_inv"] = 1.0 / (a + root * balance)
            else:
                state["A_inv"] = _damped_inverse(a, root * balance)
            state["G_inv"] = _damped_inverse(g, root / balance)
        for affine in self._affines:
            state = self.state[affine.weight]
            if "F" in state:  # the whole block, damped by λ (not a Kronecker product)
                state["F_inv"] = _damped_inverse(state["F"], self.damping)


def _damped_inverse(factor: Tensor, shift: float) -> Tensor:
    """``(F + shift·I)⁻¹`` for a symmetric positive semi-definite ``F`` (Cholesky)."""
    damped = factor.clone()
    damped.diagonal().add_(shift)
    chol, info = torch.linalg.cholesky_ex(damped)
    if int(info) == 0:
        return torch.cholesky_inverse(chol)
    # Rounding made F + shift·I indefinite (low precision, tiny damping): clip F's spectrum.
    values, vectors = torch.linalg.eigh(factor)
    return (vectors / (values.clamp_min(0.0) + shift)) @ vectors.T
