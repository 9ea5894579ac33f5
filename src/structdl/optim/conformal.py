"""Conformal Hamiltonian optimisers, built from the symplectic integrators of ``dynamics``.

Training is read as the damped Hamiltonian flow of ``H(q, p) = T(p) + f(q)`` (parameters
``q``, momenta ``p``, kinetic energy ``T``, loss ``f``)::

    dq/dt = ∇T(p),     dp/dt = −∇f(q) − γ p,

which dissipates ``H`` (``dH/dt = −γ⟨p, ∇T(p)⟩ ≤ 0`` for convex ``T``) and is *conformal
symplectic*: its flow contracts the symplectic form, ``φ_t^*ω = e^{−γt} ω``. Every optimiser
here composes the exact flow of the friction, ``p ↦ e^{−γh} p``, with a step of a symplectic
integrator of :mod:`structdl.dynamics` applied to ``H``, so its step map ``Φ`` satisfies
``Φ'ᵀ J Φ' = rate · J`` exactly (conformal symplecticity, França, Sulam, Robinson & Vidal
2020). Each declares ``ConformalSymplectic(rate)`` from its hyper-parameters
(``claims``), and :meth:`phase_map` exposes the step on a quadratic so that
:func:`structdl.structure.check_conformal_step` can verify it.

The state of an optimiser is the whole parameter vector of a group (one row ``q`` of shape
``(1, N)``) and its momentum ``p``; norms in ``T`` are taken over the whole vector.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, final

import torch
from torch import Tensor

from .._errors import ConfigError
from ..dynamics import StormerVerlet, SymplecticEuler, VectorField
from ..structure.declarations import ALWAYS, AttributeEquals, Claim
from ..structure.properties import ConformalSymplectic
from ._validate import evaluate_closure, non_negative, positive, require_closure
from .kinetic import KineticEnergy, QuadraticKinetic, RelativisticKinetic

__all__ = [
    "ConformalSymplecticEuler",
    "ConformalSymplecticLeapfrog",
    "HamiltonianDescent",
    "RelativisticGradientDescent",
    "nesterov_phase_step",
    "sgd_hyperparameters",
]

Gradient = Callable[[Tensor], Tensor]
PhaseStep = Callable[[Tensor, Tensor, Gradient], tuple[Tensor, Tensor]]


class _PhaseField(VectorField):
    """``H(q, p) = T(p) + scale · f(q)`` as a separable Hamiltonian field of ``dynamics``.

    ``gradient(q)`` returns ``∇f(q)``: the stored gradient at the current parameters, or a
    fresh one from the closure at intermediate positions.
    """

    kinds = frozenset({"partitioned", "hamiltonian", "separable"})

    def __init__(self, gradient: Gradient, kinetic: KineticEnergy, scale: float = 1.0) -> None:
        super().__init__()
        self.gradient, self.kinetic, self.scale = gradient, kinetic, scale

    def grad_q(self, t: float | Tensor, q: Tensor) -> Tensor:
        """``scale · ∇f(q)``."""
        g = self.gradient(q)
        return g if self.scale == 1.0 else self.scale * g

    def grad_p(self, t: float | Tensor, p: Tensor) -> Tensor:
        """``∇T(p)``."""
        return self.kinetic.grad(p)

    def forward(self, t: float | Tensor, y: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """``(∇T(p), −scale ∇f(q))``."""
        q, p = y
        return self.grad_p(t, p), -self.grad_q(t, q)


def _require_kinetic(kinetic: Any, who: str) -> KineticEnergy:
    if not isinstance(kinetic, KineticEnergy) or getattr(kinetic, "convex", False) is not True:
        raise ConfigError(
            f"{who}: `kinetic` must be a convex KineticEnergy — expected e.g. QuadraticKinetic()"
            f", RelativisticKinetic() or PowerKinetic(4/3) (convexity makes the method "
            f"dissipate H) — received {type(kinetic).__name__} — pass one of those"
        )
    return kinetic


class _PhaseMap:
    """The step of an optimiser as a batched map ``z = (q, p) ↦ Φ(z)`` for a fixed gradient."""

    def __init__(self, optimiser: _ConformalHamiltonian, gradient: Gradient) -> None:
        self.optimiser, self.gradient = optimiser, gradient

    @property
    def claims(self) -> tuple[Claim, ...]:
        """The optimiser's claims."""
        return self.optimiser.claims

    @property
    def alpha(self) -> float:
        """Forwarded for the claim conditions of :class:`RelativisticGradientDescent`."""
        return self.optimiser.alpha

    def __call__(self, z: Tensor) -> Tensor:
        d = z.shape[1] // 2
        q, p = self.optimiser.phase_step(z[:, :d], z[:, d:], self.gradient)
        return torch.cat([q, p], dim=1)


class _ConformalHamiltonian(torch.optim.Optimizer):
    """Shared machinery: flatten a group, run ``phase_step``, write back; claims; phase map."""

    #: Whether the step evaluates the gradient at intermediate positions (needs a closure).
    needs_closure: ClassVar[bool] = False

    @property
    @abstractmethod
    def rate(self) -> float:
        """The per-step contraction of the symplectic form."""

    @property
    def claims(self) -> tuple[Claim, ...]:
        """``ConformalSymplectic(rate)``, derived from the hyper-parameters."""
        return (
            Claim(
                ConformalSymplectic(rate=self.rate),
                when=ALWAYS,
                reason="exact friction flow composed with a symplectic integrator step",
            ),
        )

    @abstractmethod
    def phase_step(self, q: Tensor, p: Tensor, gradient: Gradient) -> tuple[Tensor, Tensor]:
        """One step on batched phase-space points ``q, p`` of shape ``(n, d)``."""

    def phase_map(self, gradient: Gradient) -> _PhaseMap:
        """The step as a batched map ``(n, 2d) → (n, 2d)`` for the loss gradient ``gradient``.

        Used by the structure checks: on a quadratic ``f(q) = ½ qᵀAq`` pass
        ``gradient = lambda q: q @ A``.
        """
        return _PhaseMap(self, gradient)

    def _group_vectors(self, params: list[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        q = torch.cat([p.detach().reshape(-1) for p in params]).unsqueeze(0)
        g = torch.cat([p.grad.reshape(-1) for p in params]).unsqueeze(0)
        momenta = []
        for p in params:
            state = self.state[p]
            if "momentum" not in state:
                state["momentum"] = torch.zeros_like(p)
            momenta.append(state["momentum"].reshape(-1))
        return q, g, torch.cat(momenta).unsqueeze(0)

    @staticmethod
    def _write(params: list[Tensor], flat: Tensor) -> None:
        offset = 0
        for p in params:
            n = p.numel()
            p.copy_(flat[0, offset : offset + n].view_as(p))
            offset += n

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One step. ``closure`` re-evaluates the loss (required by ``needs_closure`` methods)."""
        who = type(self).__name__
        if self.needs_closure:
            require_closure(closure, who)
            if len(self.param_groups) != 1:
                raise ConfigError(
                    f"{who}: a closure-based step needs one parameter group — expected all "
                    f"parameters in one group — received {len(self.param_groups)} groups — "
                    f"use one optimiser per group"
                )
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            q0, g0, p0 = self._group_vectors(params)

            def gradient(
                q: Tensor, q0: Tensor = q0, g0: Tensor = g0, params: list[Tensor] = params
            ) -> Tensor:
                if q is q0:
                    return g0
                self._write(params, q)
                with torch.enable_grad():
                    closure()  # type: ignore[misc]
                return torch.cat([p.grad.reshape(-1) for p in params]).unsqueeze(0)

            q1, p1 = self.phase_step(q0, p0, gradient)
            self._write(params, q1)
            offset = 0
            for p in params:
                n = p.numel()
                self.state[p]["momentum"] = p1[0, offset : offset + n].view_as(p).clone()
                offset += n
        return loss


def sgd_hyperparameters(h: float, gamma: float) -> tuple[float, float]:
    """The ``torch.optim.SGD`` hyper-parameters that :class:`ConformalSymplecticEuler` matches.

    With ``T = ½‖p‖²``, conformal-symplectic Euler is heavy ball: ``lr = h²``,
    ``momentum = e^{−γh}`` (and SGD's buffer is ``−p/h``). Inverse:
    ``h = √lr``, ``γ = −ln(momentum)/√lr``.

    Example:
        >>> lr, mu = sgd_hyperparameters(0.1, 1.0)
        >>> round(lr, 12), round(mu, 6)
        (0.01, 0.904837)
    """
    h = positive(h, "h", "sgd_hyperparameters", step=True)
    gamma = non_negative(gamma, "gamma", "sgd_hyperparameters")
    return h * h, math.exp(-gamma * h)


@final
class _FrictionSplitting(_ConformalHamiltonian):
    """Exact friction ``p ← e^{−γh} p`` split with a symplectic step of ``H = T(p) + f(q)``.

    Subclasses name the symplectic integrator (``integrator``) and how the friction is placed
    around it (``phase_step``); both contract the symplectic form by ``e^{−γh}`` per step.
    """

    def __init__(
        self,
        params: Iterable[Any],
        h: float = 0.1,
        gamma: float = 1.0,
        kinetic: KineticEnergy | None = None,
    ) -> None:
        who = type(self).__name__
        self.h = positive(h, "h", who, step=True)
        self.gamma = non_negative(gamma, "gamma", who)
        self.kinetic = _require_kinetic(QuadraticKinetic() if kinetic is None else kinetic, who)
        self._integrator = self._make_integrator()
        super().__init__(params, {})

    @abstractmethod
    def _make_integrator(self) -> Any:
        """The symplectic integrator of ``H = T(p) + f(q)`` that the friction wraps."""

    @property
    def rate(self) -> float:
        """``e^{−γh}``."""
        return math.exp(-self.gamma * self.h)


class ConformalSymplecticEuler(_FrictionSplitting):
    """Conformal-symplectic Euler: friction ``p ← e^{−γh} p``, then one symplectic Euler step.

    ::

        p₊ = e^{−γh} p − h ∇f(q),        q₊ = q + h ∇T(p₊)

    The friction is the exact flow of ``dp/dt = −γp`` and the kick–drift step is
    :class:`structdl.dynamics.SymplecticEuler` applied to ``H = T(p) + f(q)``. Conformal
    symplectic with rate ``e^{−γh}``; first order. With ``T = ½‖p‖²`` it is classical momentum
    (heavy ball): see :func:`sgd_hyperparameters` and :meth:`from_sgd`. Uses the gradient at the
    current parameters only (no closure needed; mini-batch friendly).

    Args:
        params: parameters or groups.
        h: step size (> 0).
        gamma: friction γ ≥ 0 (γ < 0 would pump energy in and is rejected).
        kinetic: a convex :class:`~structdl.optim.kinetic.KineticEnergy` (default quadratic).

    Example:
        >>> import torch
        >>> x = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
        >>> opt = ConformalSymplecticEuler([x], h=0.3, gamma=2.0)
        >>> for _ in range(100):
        ...     opt.zero_grad()
        ...     (x ** 2).sum().backward()
        ...     opt.step()
        >>> float(x.detach().abs().max()) < 1e-6
        True
    """

    def _make_integrator(self) -> SymplecticEuler:
        return SymplecticEuler("kick-drift")

    @classmethod
    def from_sgd(
        cls, params: Iterable[Any], lr: float, momentum: float
    ) -> ConformalSymplecticEuler:
        """The optimiser whose iterates equal ``torch.optim.SGD(lr=lr, momentum=momentum)``.

        ``h = √lr``, ``γ = −ln(momentum)/√lr`` (``momentum`` in ``(0, 1]``).
        """
        lr = positive(lr, "lr", "ConformalSymplecticEuler.from_sgd", step=True)
        if not isinstance(momentum, (int, float)) or not 0.0 < momentum <= 1.0:
            raise ConfigError(
                f"ConformalSymplecticEuler.from_sgd: `momentum` is invalid — expected a number "
                f"in (0, 1] — received {momentum!r} — pass e.g. momentum=0.9"
            )
        h = math.sqrt(lr)
        return cls(params, h=h, gamma=-math.log(momentum) / h)

    def phase_step(self, q: Tensor, p: Tensor, gradient: Gradient) -> tuple[Tensor, Tensor]:
        """Friction, then :class:`~structdl.dynamics.SymplecticEuler` (kick–drift)."""
        field = _PhaseField(gradient, self.kinetic)
        return self._integrator.step(field, 0.0, (q, self.rate * p), self.h)


@final
class ConformalSymplecticLeapfrog(_FrictionSplitting):
    """Conformal leapfrog: half friction, a Störmer–Verlet step, half friction.

    ``p ← e^{−γh/2} p``; kick–drift–kick :class:`structdl.dynamics.StormerVerlet` on
    ``H = T(p) + f(q)``; ``p ← e^{−γh/2} p``. Conformal symplectic with rate ``e^{−γh}``, second
    order, symmetric splitting. The last half kick needs ``∇f`` at the new parameters, so
    :meth:`step` takes a closure (as ``torch.optim.LBFGS``).

    Args:
        params: parameters (one group).
        h: step size (> 0). gamma: friction γ ≥ 0. kinetic: a convex kinetic energy.
    """

    needs_closure: ClassVar[bool] = True

    def _make_integrator(self) -> StormerVerlet:
        return StormerVerlet("kick-drift-kick")

    def phase_step(self, q: Tensor, p: Tensor, gradient: Gradient) -> tuple[Tensor, Tensor]:
        """Half friction, :class:`~structdl.dynamics.StormerVerlet`, half friction."""
        half = math.exp(-0.5 * self.gamma * self.h)
        field = _PhaseField(gradient, self.kinetic)
        q, p = self._integrator.step(field, 0.0, (q, half * p), self.h)
        return q, half * p


@final
class RelativisticGradientDescent(_ConformalHamiltonian):
    """Relativistic gradient descent (França, Sulam, Robinson & Vidal 2020)::

        x_½ = x + √μ v / √(1 + δμ‖v‖²)
        v_½ = √μ v − ε ∇f(x_½)
        x₊  = α x_½ + (1 − α) x + v_½ / √(1 + δ‖v_½‖²)
        v₊  = √μ v_½

    For ``α = 1``: friction ``v ← √μ v``, a drift–kick–drift
    :class:`structdl.dynamics.StormerVerlet` step of size 2 on
    ``H = T(v) + (ε/2) f(x)`` with the relativistic energy ``T(v) = √(1 + δ‖v‖²)/δ``
    (speed capped at ``1/√δ``), and friction again: conformal symplectic with rate ``μ``.
    ``α ≠ 1`` mixes in the old position and the claim is withdrawn. The kick needs ``∇f`` at
    ``x_½``: :meth:`step` takes a closure.

    Args:
        params: parameters (one group).
        lr: ε > 0. momentum: μ in ``(0, 1]``. delta: δ > 0. alpha: α in ``[0, 1]``.
    """

    needs_closure: ClassVar[bool] = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.9,
        delta: float = 0.1,
        alpha: float = 1.0,
    ) -> None:
        who = "RelativisticGradientDescent"
        self.lr = positive(lr, "lr", who, step=True)
        if not isinstance(momentum, (int, float)) or not 0.0 < momentum <= 1.0:
            raise ConfigError(
                f"{who}: `momentum` is invalid — expected μ in (0, 1] (μ > 1 would pump energy "
                f"in) — received {momentum!r} — pass e.g. momentum=0.9"
            )
        if not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
            raise ConfigError(
                f"{who}: `alpha` is invalid — expected a number in [0, 1] — received "
                f"{alpha!r} — pass alpha=1.0 for the conformal-symplectic method"
            )
        self.momentum, self.alpha = float(momentum), float(alpha)
        self.delta = positive(delta, "delta", who)
        self.kinetic = RelativisticKinetic(speed=1.0 / math.sqrt(self.delta), mass=1.0)
        self._integrator = StormerVerlet("drift-kick-drift")
        super().__init__(params, {})

    @property
    def rate(self) -> float:
        """``μ``."""
        return self.momentum

    @property
    def claims(self) -> tuple[Claim, ...]:
        """``ConformalSymplectic(μ)`` when ``α = 1``."""
        return (
            Claim(
                ConformalSymplectic(rate=self.rate),
                when=AttributeEquals("alpha", 1.0),
                reason="friction ∘ Störmer–Verlet(drift–kick–drift) ∘ friction; α ≠ 1 mixes "
                "in the old position",
            ),
        )

    def phase_step(self, q: Tensor, p: Tensor, gradient: Gradient) -> tuple[Tensor, Tensor]:
        """Friction, :class:`~structdl.dynamics.StormerVerlet` (drift–kick–drift), friction."""
        root = math.sqrt(self.momentum)
        p = root * p
        first_drift = self.kinetic.grad(p)
        field = _PhaseField(gradient, self.kinetic, scale=0.5 * self.lr)
        q1, p1 = self._integrator.step(field, 0.0, (q, p), 2.0)
        if self.alpha != 1.0:
            q1 = q1 - (1.0 - self.alpha) * first_drift
        return q1, root * p1


@final
class HamiltonianDescent(_ConformalHamiltonian):
    """Explicit Hamiltonian descent (Maddison, Paulin, Teh, O'Donoghue & Doucet 2018).

    With ``δ = 1/(1 + γε)``:

    - ``variant="first"``:  ``p₊ = δ p − εδ ∇f(x)``, ``x₊ = x + ε ∇T(p₊)``;
    - ``variant="second"``: ``x₊ = x + ε ∇T(p)``, ``p₊ = δ p − εδ ∇f(x₊)``.

    The first is friction ``p ← δp`` then :class:`structdl.dynamics.SymplecticEuler`
    (kick–drift) of size ε on ``H = T(p) + δ f(x)``; the second is SymplecticEuler
    (drift–kick) on ``T + f`` then friction. Both are conformal symplectic with rate ``δ``.
    With a power kinetic energy matched to ``f``'s growth (``PowerKinetic(4/3)`` for
    ``‖x‖⁴``) they converge linearly where gradient descent is sublinear. The optimiser runs
    the second method without a closure by staging: its first call only drifts, every later
    call kicks with the gradient it was given and drifts (the same iterates).

    Args:
        params: parameters or groups.
        lr: ε > 0. gamma: γ ≥ 0. kinetic: a convex kinetic energy (e.g. ``PowerKinetic``).
        variant: ``"first"`` or ``"second"``.
    """

    VARIANTS: ClassVar[tuple[str, ...]] = ("first", "second")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.1,
        gamma: float = 1.0,
        kinetic: KineticEnergy | None = None,
        variant: str = "first",
    ) -> None:
        who = "HamiltonianDescent"
        self.lr = positive(lr, "lr", who, step=True)
        self.gamma = non_negative(gamma, "gamma", who)
        self.kinetic = _require_kinetic(QuadraticKinetic() if kinetic is None else kinetic, who)
        if variant not in self.VARIANTS:
            raise ConfigError(
                f"{who}: unknown variant {variant!r} — expected one of {list(self.VARIANTS)} — "
                f"received {variant!r} — pass variant='first'"
            )
        self.variant = variant
        self._kick_drift = SymplecticEuler("kick-drift")
        self._drift_kick = SymplecticEuler("drift-kick")
        self._started = False
        super().__init__(params, {})

    @property
    def rate(self) -> float:
        """``δ = 1/(1 + γε)``."""
        return 1.0 / (1.0 + self.gamma * self.lr)

    def phase_step(self, q: Tensor, p: Tensor, gradient: Gradient) -> tuple[Tensor, Tensor]:
        """One step of the chosen variant on batched ``(q, p)``."""
        delta = self.rate
        if self.variant == "first":
            field = _PhaseField(gradient, self.kinetic, scale=delta)
            return self._kick_drift.step(field, 0.0, (q, delta * p), self.lr)
        q, p = self._drift_kick.step(_PhaseField(gradient, self.kinetic), 0.0, (q, p), self.lr)
        return q, delta * p

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One step (see the class docstring for how the second variant is staged)."""
        if self.variant == "first" or self._started:
            if self.variant == "first":
                return super().step(closure)
            return self._staged(closure)
        self._started = True
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                q, _, p = self._group_vectors(params)
                self._write(params, q + self.lr * self.kinetic.grad(p))
        return loss

    def _staged(self, closure: Callable[[], Tensor] | None) -> Tensor | None:
        # Kick with the given gradient (completing the previous step), friction, drift: the
        # first variant's composition with the kick's scale written out.
        self.variant = "first"
        try:
            return super().step(closure)
        finally:
            self.variant = "second"


def nesterov_phase_step(
    q: Tensor, p: Tensor, gradient: Gradient, *, lr: float, momentum: float
) -> tuple[Tensor, Tensor]:
    """Nesterov's accelerated gradient as a phase-space map (``p`` = the velocity ``v``)::

        y = q + μ v,   v₊ = μ v − ε ∇f(y),   q₊ = q + v₊.

    Not conformal symplectic (França et al. 2020): the gradient is taken at a point that mixes
    ``q`` and ``p``. Shipped as the negative control of the conformal-symplecticity check.
    """
    v = momentum * p - lr * gradient(q + momentum * p)
    return q + v, v
