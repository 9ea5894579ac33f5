"""ODE networks: layer ``k`` is one integrator step with vector field ``f_k`` and step ``h_k``.

::

    x ──embed──▶ z₀ ──Φ_{h₀}[f₀]──▶ z₁ ── … ──Φ_{h_{K−1}}[f_{K−1}]──▶ z_K ──readout──▶ head ──▶ out
                 └──────────────── structured part (guarantees hold here) ───────────────┘

With one shared field the network is a discretised neural ODE; with a list of fields each
layer has its own parameters ``θ_k`` (Haber–Ruthotto). What the structured part
preserves is derived by :func:`structdl.structure.guarantees` layer by layer; the head is
outside every guarantee.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import final

import torch
from torch import Tensor, nn

from .._errors import (
    ConfigError,
    IncompatibleSchemeError,
    InverseError,
    NonFiniteError,
    ShapeError,
    StepSizeError,
)
from ..structure._validate import finite_or_unknown, require_int, step_size
from ..structure.guarantees import guarantees
from ..structure.properties import NonExpansive, Property
from ..structure.result import tolerance
from ._base import Integrator, State, VectorField, all_finite, check_state
from ._field_base import StructuredField, check_option

__all__ = ["ODENet"]

_STEP_RULES = (None, "raise", "clip")
_EMBEDS = (None, "phase", "phase_linear")
_READOUTS = ("concat", "q")
#: Relative margin by which ``step_rule="clip"`` stays below the bound ``2r/(L‖A‖²)``: the
#: bound is computed from the exact (SVD) norm, whose round-off (a few ulp, in float64 whatever
#: the weight's dtype) the margin covers, so that the clipped step satisfies the exact bound that
#: ``structure.guarantees`` tests.
_CLIP_MARGIN = 1e-6


def _positive_time(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StepSizeError(
            f"ODENet: T is not a number — expected a positive finite final time — received "
            f"{value!r} of type {type(value).__name__} — pass e.g. T=1.0"
        )
    if not math.isfinite(value) or value <= 0:
        raise StepSizeError(
            f"ODENet: T is invalid — expected a positive finite final time — received {value!r} "
            f"— pass e.g. T=1.0"
        )
    return float(value)


def _dtype(z: State) -> torch.dtype:
    return (z[0] if isinstance(z, tuple) else z).dtype


def _require_batch_matrix(x: object, what: str) -> None:
    if isinstance(x, Tensor) and x.dim() != 2:
        raise ShapeError(
            f"{what} has the wrong rank — expected a tensor of shape (batch, dim) — received "
            f"shape {tuple(x.shape)} — reshape it, e.g. x.reshape(-1, dim) or x.unsqueeze(0)"
        )


@final
class ODENet(nn.Module):
    """A network of integrator steps over structured vector fields.

    ``z_{k+1} = Φ_{h_k}(f_k, z_k)`` for ``k = 0 … K−1`` with ``Σ_k h_k = T``, where ``Φ`` is the
    integrator's one-step map. The compatibility of every field with the integrator is checked
    when the network is built, before any computation.

    Step sizes are ``h_k = T/K`` or, with ``learn_steps=True``, ``h = T · softmax(ℓ)`` with
    learnable logits ``ℓ`` (a point of the simplex scaled by ``T``). ``step_rule`` enforces the
    non-expansive bound ``h_k ≤ 2r/(L‖A_k‖²)`` of a gradient-flow field under an integrator of
    circle-contractivity radius ``r`` (Euler: ``r = 1``), with ``‖A_k‖`` from power iteration:
    ``"raise"`` raises :class:`StepSizeError`, ``"clip"`` replaces ``h_k`` by the bound less a
    relative margin of ``1e-6`` that covers the power-iteration error (so ``Σh_k`` may fall
    below ``T``).

    Hamiltonian (partitioned) fields act on pairs ``(q, p)``: with ``embed="phase"`` an input
    ``x`` of shape ``(batch, d)`` becomes ``(x, 0)``, with ``embed="phase_linear"`` it becomes
    ``(x, Wx)`` with a learnable ``W`` (initialised at 0), and the output ``(q_K, p_K)`` is read
    out as ``cat(q_K, p_K)`` of shape ``(batch, 2d)`` (``readout="concat"``) or as ``q_K``
    (``readout="q"``). Without ``embed`` a partitioned network maps pairs to pairs.

    :meth:`guarantees` reports what the structured part ``z₀ ↦ z_K`` preserves (the intersection
    over layers of :func:`structdl.structure.guarantees`); :meth:`inverse` inverts that part;
    the head is outside both.

    Args:
        fields: one vector field (shared by all layers: a neural ODE) or a sequence of them (one
            per layer).
        integrator: an :class:`~structdl.dynamics.Integrator` instance.
        steps: number of layers ``K``; required for a shared field, ``len(fields)`` by default
            for a sequence.
        T: final time ``> 0``.
        learn_steps: learn the step sizes on the simplex ``Σh_k = T``.
        step_rule: ``None``, ``"raise"`` or ``"clip"`` (gradient-flow fields only).
        embed: ``None``, ``"phase"`` or ``"phase_linear"`` (partitioned fields only).
        head: optional module applied to the read-out features (outside every guarantee).
        readout: ``"concat"`` or ``"q"``, used with ``embed``.

    Example:
        >>> from structdl.dynamics import GradientFlow, Euler
        >>> net = ODENet(GradientFlow(2, width=8), Euler(), steps=10, step_rule="clip")
        >>> net(torch.randn(5, 2)).shape
        torch.Size([5, 2])
        >>> NonExpansive(1.0) in net.guarantees()
        True
    """

    def __init__(
        self,
        fields: VectorField | Sequence[VectorField],
        integrator: Integrator,
        steps: int | None = None,
        T: float = 1.0,
        *,
        learn_steps: bool = False,
        step_rule: str | None = None,
        embed: str | None = None,
        head: nn.Module | None = None,
        readout: str = "concat",
    ) -> None:
        super().__init__()
        if not isinstance(integrator, Integrator):
            raise IncompatibleSchemeError(
                f"ODENet: integrator must be an Integrator instance, got {integrator!r}; pass "
                "e.g. Euler() or StormerVerlet() (an instance, not the class)"
            )
        field_list, self.shared = self._field_list(fields)
        self.steps = self._step_count(steps, field_list, shared=self.shared)
        self.T = _positive_time(T)
        if not isinstance(learn_steps, bool):
            raise ConfigError(f"learn_steps must be True or False, got {learn_steps!r}")
        check_option(step_rule, _STEP_RULES, "step_rule")
        check_option(embed, _EMBEDS, "embed")
        check_option(readout, _READOUTS, "readout")
        if head is not None and not isinstance(head, nn.Module):
            raise ConfigError(
                f"head must be an nn.Module or None, got {type(head).__name__}; pass e.g. "
                "nn.Linear(4, 2)"
            )
        # Compatibility before any computation: every field, named in the error.
        for field in field_list:
            integrator.check_compatible(field)
        self.integrator = integrator
        self.fields = nn.ModuleList(field_list)
        self.step_rule = step_rule
        self.radius = self._check_step_rule(step_rule, field_list, integrator)
        self.embed = embed
        self.readout = readout
        self._check_embed(embed, field_list)
        self.head = head
        if learn_steps:
            self.step_logits = nn.Parameter(torch.zeros(self.steps))
        else:
            # Fixed steps are Python floats, converted to the network's dtype when used: a
            # buffer would keep the rounding of the dtype it was created in (0.05 in float32 is
            # 0.05000000074505806 after .double()).
            self.register_parameter("step_logits", None)
        if embed == "phase_linear":
            dim = field_list[0].dim
            self.embed_weight = nn.Parameter(torch.zeros(dim, dim))

    # -- construction-time validation ------------------------------------------------------

    @staticmethod
    def _field_list(fields: object) -> tuple[list[VectorField], bool]:
        if isinstance(fields, VectorField):
            return [fields], True
        if isinstance(fields, (list, tuple, nn.ModuleList)):
            field_list = list(fields)
            if not field_list or not all(isinstance(f, VectorField) for f in field_list):
                raise ConfigError(
                    "ODENet: fields must be a VectorField or a non-empty sequence of them, got "
                    f"{[type(f).__name__ for f in field_list]}; pass e.g. [GradientFlow(2)] * 4"
                )
            dims = {getattr(f, "dim", None) for f in field_list}
            layouts = {bool(getattr(f, "partitioned", False)) for f in field_list}
            if len(dims) > 1 or len(layouts) > 1:
                raise ConfigError(
                    f"ODENet: all per-layer fields must act on the same state, got dims "
                    f"{sorted(map(str, dims))} and partitioned={sorted(layouts)}; build every "
                    "layer with the same dim"
                )
            return field_list, False
        raise ConfigError(
            f"ODENet: fields must be a VectorField or a sequence of them, got "
            f"{type(fields).__name__}; pass e.g. GradientFlow(2)"
        )

    @staticmethod
    def _step_count(steps: object, field_list: list[VectorField], *, shared: bool) -> int:
        if steps is None:
            if shared:
                raise ConfigError(
                    "ODENet: steps is required with a single shared field — expected a positive "
                    "int — got None; pass e.g. steps=10 (or a list of per-layer fields)"
                )
            return len(field_list)
        count = require_int(steps, "steps")
        if not shared and count != len(field_list):
            raise ConfigError(
                f"ODENet: steps={count} but {len(field_list)} per-layer fields were given; omit "
                "steps or pass as many fields as steps"
            )
        return count

    @staticmethod
    def _check_step_rule(
        rule: str | None, field_list: list[VectorField], integrator: Integrator
    ) -> float:
        if rule is None:
            return 0.0
        bad = [f.name for f in field_list if not hasattr(f, "step_size_bound")]
        if bad:
            raise ConfigError(
                f"step_rule={rule!r} needs gradient-flow fields (with step_size_bound), got "
                f"{bad}; use GradientFlow fields or step_rule=None"
            )
        radius = integrator.contractivity_radius
        if radius <= 0:
            raise ConfigError(
                f"step_rule={rule!r} needs an integrator with a positive circle-contractivity "
                f"radius, but {integrator.name} has r = {radius:g} (no step size is "
                "non-expansive); use Euler() or RungeKutta('ssp_rk3')"
            )
        return radius

    @staticmethod
    def _check_embed(embed: str | None, field_list: list[VectorField]) -> None:
        if embed is None:
            return
        bad = [f.name for f in field_list if "partitioned" not in f.kinds]
        if bad or not hasattr(field_list[0], "dim"):
            raise ConfigError(
                f"embed={embed!r} maps x to a phase-space pair (x, p) and needs partitioned "
                f"fields with a dim, got {bad or [field_list[0].name]}; use embed=None for "
                "fields on single tensors"
            )

    # -- layers and step sizes ---------------------------------------------------------------

    def field(self, k: int) -> VectorField:
        """The field of layer ``k`` (the shared field for a neural ODE)."""
        return self.fields[0] if self.shared else self.fields[k]  # type: ignore[return-value]

    def step_sizes(self) -> Tensor:
        """The step sizes ``h_k`` after the step rule, shape ``(K,)``.

        Raises:
            StepSizeError: ``step_rule="raise"`` and some ``h_k`` exceeds its bound.
        """
        if self.step_logits is not None:
            h = self.T * torch.softmax(self.step_logits, dim=0)
        else:
            h = torch.full((self.steps,), self.T / self.steps, dtype=self.dtype)
        if self.step_rule is None:
            return h
        bounds = self._step_bounds(h.dtype)
        if self.step_rule == "raise":
            too_big = (h > bounds).nonzero().flatten().tolist()
            if too_big:
                k = too_big[0]
                field = self.field(k)
                step, bound = float(h[k].detach()), float(bounds[k].detach())
                raise StepSizeError(
                    f"layer {k}: step size h={step:.6g} exceeds the non-expansive bound "
                    f"2r/(L‖A‖²) = {bound:.6g} of {self.integrator.name} "
                    f"(r={self.radius:g}) on {field.name} ({len(too_big)} layer(s) violate it) — "
                    f"use step_rule='clip', more steps, or a smaller T"
                )
            return h
        margin = max(_CLIP_MARGIN, 100.0 * torch.finfo(h.dtype).eps)
        return torch.minimum(h, bounds * (1.0 - margin))

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the network's parameters (the default dtype if it has none)."""
        first = next(self.fields.parameters(), None)
        return first.dtype if first is not None else torch.get_default_dtype()

    def _step_bounds(self, dtype: torch.dtype) -> Tensor:
        if self.shared:
            bound = self.fields[0].step_size_bound(self.radius).to(dtype)
            return bound.expand(self.steps)
        return torch.stack([f.step_size_bound(self.radius).to(dtype) for f in self.fields])

    # -- forward maps ------------------------------------------------------------------------

    def _embed(self, x: Tensor) -> State:
        if self.embed is None:
            return x
        _require_batch_matrix(x, "ODENet input")
        check_state(x, "ODENet input")
        first = self.fields[0]
        if isinstance(first, StructuredField):
            first.validate_part(x, "ODENet input")
        if self.embed == "phase":
            return x, torch.zeros_like(x)
        return x, x @ self.embed_weight.T

    def _readout(self, z: State) -> State:
        if self.embed is None or not isinstance(z, tuple):
            return z
        q, p = z
        return torch.cat((q, p), dim=-1) if self.readout == "concat" else q

    def trajectory(self, x: State) -> list[State]:
        """The states ``[z₀, z₁, …, z_K]`` of the structured part (after ``embed``).

        Validation runs once per call, not once per step: the input against every layer's field
        (structure, width, dtype; one scan for NaN/inf), the step sizes once, and the last state
        once for NaN/inf (a diverged integration). The steps themselves run through the
        integrator's public unchecked ``advance`` — the same arithmetic as its ``step``.

        Raises:
            ShapeError: an input that is not ``(batch, dim)`` (or a pair of those), or that does
                not fit the fields.
            NonFiniteError: a NaN/inf input, or a non-finite ``z_K`` from a finite input.
            StepSizeError: a non-finite or zero step size (learned, or from ``step_rule``).
        """
        if self.step_logits is None and self.step_rule is None:
            # Fixed steps are T/K exactly, as Python floats: no tensor to build and read back.
            h: Sequence[float] | Sequence[Tensor] = [self.T / self.steps] * self.steps
            self._check_step_values(h[:1])  # all equal: one check (T/K may underflow)
        else:
            h = self._validated_steps(self.step_sizes())
        z = self._embed(x)  # type: ignore[arg-type]
        if self.embed is None:
            for part in z if isinstance(z, tuple) else (z,):
                _require_batch_matrix(part, "ODENet input")
            first = self.fields[0]
            if isinstance(first, StructuredField):
                first.validate(z, "ODENet input")
            else:
                check_state(z, "ODENet input")
        states = [z]
        t: float | Tensor = 0.0
        step = self.integrator.advance
        layers = [self.fields[0]] * self.steps if self.shared else list(self.fields)
        try:
            for field, h_k in zip(layers, h, strict=True):
                z = step(field, t, z, h_k)
                states.append(z)
                t = t + h_k
        except RuntimeError:
            # A per-layer field in another dtype fails inside torch: name it in our words.
            # (Checked only on failure: the scan of every layer's parameters costs more than
            # a small layer's arithmetic.)
            self._check_layers(states[0])
            raise
        if _dtype(z) != _dtype(states[0]):
            self._check_layers(states[0])
        self._check_output(z)
        return states

    def _validated_steps(self, h: Tensor | Sequence[float]) -> Sequence[float] | Sequence[Tensor]:
        """The step sizes, checked once, as Python floats unless gradients must flow through them.

        Floats keep the per-step scalar arithmetic (``h·b_i``, ``t + c_i h``) in Python instead
        of 0-d tensor operations; learned steps (or clipped steps that depend on parameters)
        stay tensors so that training reaches them. Fixed steps are ``T/K`` exactly, in the
        precision of a Python float.
        """
        if self.step_logits is None and self.step_rule is None and isinstance(h, Tensor):
            values: list[float] = [self.T / self.steps] * self.steps
        elif isinstance(h, Tensor) and h.requires_grad:
            self._check_step_values(h.detach())
            return h.unbind(0)
        else:
            values = [float(value) for value in (h.tolist() if isinstance(h, Tensor) else h)]
        self._check_step_values(values)
        return values

    def _check_step_values(self, h: Tensor | list[float]) -> None:
        """One scan of all step sizes; a zero step names its cause (underflow, clip)."""
        if isinstance(h, Tensor):
            if finite_or_unknown(h) is None:  # values cannot be read (vmap, compile)
                return
            h = h.tolist()
        for k, value in enumerate(h):
            if value == 0.0:
                cause = (
                    f"T={self.T:g} times the softmax of the learned logits underflowed to 0"
                    if self.step_logits is not None
                    else "the step rule clipped it to 0"
                )
                raise StepSizeError(
                    f"ODENet: layer {k} has step size 0 — expected a positive step — {cause} — "
                    f"use a larger T or keep the learned logits in a moderate range"
                )
            step_size(value, f"ODENet layer {k}")

    def _check_layers(self, z: State) -> None:
        """The per-layer fields after the first (validated with the input) against its dtype
        (run when the layers failed or changed the dtype).

        Width and layout are equal across layers (checked at construction), so only the
        parameters' dtype can differ; a field whose dtype differs reports it in its own words.
        """
        if self.shared:
            return
        dtype = (z[0] if isinstance(z, tuple) else z).dtype
        for field in list(self.fields)[1:]:
            if isinstance(field, StructuredField) and field.parameter_dtype() not in (None, dtype):
                field.validate_layout(z, "ODENet input")

    def _check_output(self, z: State) -> None:
        parts = z if isinstance(z, tuple) else (z,)
        for part in parts:
            if all_finite(part):  # also True where values cannot be read (vmap, compile)
                continue
            advice = "use smaller steps (more steps or a smaller T)"
            if self.step_rule != "clip" and all(hasattr(f, "step_size_bound") for f in self.fields):
                advice += ", step_rule='clip'"
            raise NonFiniteError(
                f"ODENet: the state after the last step contains NaN or infinite values — "
                f"expected a finite z_K from the finite input — {self.integrator.name} "
                f"diverged over T={self.T:g} in {self.steps} steps — {advice}, or rescale the "
                "fields' weights"
            )

    def features(self, x: State) -> State:
        """The read-out output of the structured part (everything but the head)."""
        return self._readout(self.trajectory(x)[-1])

    def forward(self, x: State) -> State:
        """``head(readout(z_K))``; without a head, the features."""
        out = self.features(x)
        return out if self.head is None else self.head(out)

    def inverse(self, y: State) -> State:
        """Invert the structured part: the input ``x`` with ``features(x) = y``.

        Exact for integrators with an explicit or symmetric inverse step (symplectic Euler,
        Störmer–Verlet, Yoshida, symmetric RK, splittings of shears). The head is not inverted.

        Raises:
            IncompatibleSchemeError: the integrator has no inverse step, or ``readout="q"``
                dropped the momenta.
            InverseError: ``y`` is not in the range of the embedding (the recovered momentum
                differs from ``0`` or ``Wq₀``); ``residual`` holds the difference.
        """
        if not self.integrator.has_inverse():
            raise IncompatibleSchemeError(
                f"ODENet.inverse: {self.integrator.name} has no exact inverse step; use "
                "SymplecticEuler, StormerVerlet, Yoshida4, ImplicitMidpoint or a symmetric "
                "RungeKutta tableau"
            )
        if self.embed is not None and self.readout == "q":
            raise IncompatibleSchemeError(
                "ODENet.inverse: readout='q' discards the momenta p_K, so the network cannot be "
                "inverted; build it with readout='concat'"
            )
        z = self._split(y)
        h = list(self._validated_steps(self.step_sizes()))
        times = list(itertools.accumulate([0.0, *h[:-1]]))  # t_k = Σ_{j<k} h_j
        for k in reversed(range(self.steps)):
            z = self.integrator.inverse_step(self.field(k), times[k], z, h[k])
        if self.embed is None:
            return z
        return self._unembed(z)

    def _split(self, y: State) -> State:
        if self.embed is None:
            return y
        check_state(y, "ODENet.inverse input")
        dim = self.fields[0].dim
        if y.dim() < 1 or y.shape[-1] != 2 * dim:  # type: ignore[union-attr]
            raise ConfigError(
                f"ODENet.inverse: expected the concatenated output (batch, {2 * dim}), got shape "
                f"{tuple(y.shape)}; pass the output of net.features(x)"  # type: ignore[union-attr]
            )
        return y[..., :dim], y[..., dim:]  # type: ignore[index]

    def _unembed(self, z: State) -> Tensor:
        q, p = z  # type: ignore[misc]
        expected = torch.zeros_like(q) if self.embed == "phase" else q @ self.embed_weight.T
        residual = float((p - expected).detach().abs().max())
        bar = tolerance(q.dtype).solve * (1.0 + float(q.detach().abs().max()))
        if residual > bar:
            raise InverseError(
                f"ODENet.inverse: the recovered momentum differs from the embedding by "
                f"{residual:.3e} (tolerance {bar:.1e}) — y is not the output of this network "
                "for any x; pass y = net.features(x)",
                residual=residual,
            )
        return q

    @property
    def manifold(self) -> Callable[[Tensor], Tensor] | None:
        """The defect function of the manifold the features stay on (Lie fields), else None.

        Lets :func:`structdl.structure.assert_preserves` check an ``OnManifold`` guarantee.
        """
        return getattr(self.fields[0], "manifold_defect", None)

    # -- guarantees ----------------------------------------------------------------------------

    def guarantees(self) -> frozenset[Property]:
        """What every layer preserves: the intersection of ``guarantees(f_k, Φ, h_k)`` over ``k``.

        The properties are those of the structured part, the map ``z₀ ↦ z_K``; embedding and
        read-out are isometric for ``embed="phase"``; the head is never included.
        """
        h = self.step_sizes().detach()
        per_layer = (
            guarantees(self.field(k), self.integrator, float(h[k])) for k in range(self.steps)
        )
        return frozenset.intersection(*per_layer)

    def lipschitz_bound(self) -> float:
        """Certified Lipschitz constant of ``features``: ``Π_k c_k`` over non-expansive layers.

        Raises:
            IncompatibleSchemeError: some layer has no non-expansive guarantee (or the embedding
                is not isometric), so no bound is certified.
        """
        h = self.step_sizes().detach()
        bound = 1.0
        for k in range(self.steps):
            found = guarantees(self.field(k), self.integrator, float(h[k]))
            constants = [p.lipschitz for p in found if isinstance(p, NonExpansive)]
            if not constants or self.embed == "phase_linear":
                raise IncompatibleSchemeError(
                    f"ODENet.lipschitz_bound: layer {k} ({self.integrator.name} on "
                    f"{self.field(k).name}, h={float(h[k]):.4g}) has no non-expansive guarantee; "
                    "use GradientFlow fields with Euler and step_rule='clip'"
                )
            bound *= min(constants)
        return bound
