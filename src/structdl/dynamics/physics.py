"""Physical test systems with exact energies (and, where known, exact solutions).

Separable Hamiltonians ``H(q, p) = T(p) + V(q)`` on pairs ``(q, p)`` of shape ``(batch, d)``,
of kinds ``{"partitioned", "hamiltonian", "separable"}``:

* :class:`HarmonicOscillator` — ``H = ½‖p‖² + ½ω²‖q‖²``, with ``exact_solution``;
* :class:`Pendulum` — ``H = ½p² + g(1 − cos q)``;
* :class:`Kepler` — ``H = ½‖p‖² − 1/‖q‖`` in the plane;
* :class:`HenonHeiles` — ``H = ½‖p‖² + ½(x² + y²) + x²y − y³/3``.

Energy systems ``y' = S∇E(y)`` for discrete-gradient methods (kind ``"energy"``):
:class:`GradientSystem` (any energy, any ``S``) and :class:`LinearSystem` (quadratic energy,
exact solution by the matrix exponential).

Lie-type fields ``y' = ω(t, y) × y`` on the sphere (kind ``"lie"``): :class:`SphereRotation`
(constant ``ω``, exact solution by Rodrigues' formula) and :class:`FreeRigidBody` (Euler's
equations, ``ω = −I⁻¹ m``).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar, final

import torch
from torch import Tensor

from .._errors import ConfigError, NonFiniteError, ShapeError
from ._base import State, VectorField
from ._lie_algebra import so3_exp

__all__ = [
    "FreeRigidBody",
    "GradientSystem",
    "HarmonicOscillator",
    "HenonHeiles",
    "Kepler",
    "LinearSystem",
    "Pendulum",
    "SphereRotation",
]

_SEPARABLE = frozenset({"partitioned", "hamiltonian", "separable"})


def _check_batch(batch: int, who: str) -> None:
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ConfigError(f"{who}.initial_state: batch must be a positive int, got {batch!r}")


def _positive(value: float, what: str, who: str) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{who}: {what} must be a positive finite number, got {value!r}")
    return float(value)


class _SeparableHamiltonian(VectorField):
    """``q' = ∂_pH = ∇T(p)``, ``p' = −∂_qH = −∇V(q)``; kinetic energy ``T(p) = ½‖p‖²``."""

    kinds: ClassVar[frozenset[str]] = _SEPARABLE
    dim: int

    @abstractmethod
    def potential(self, q: Tensor) -> Tensor:
        """``V(q)``, shape ``(batch,)``."""

    @abstractmethod
    def grad_q(self, t: float | Tensor, q: Tensor) -> Tensor:
        """``∂H/∂q = ∇V(q)``."""

    def kinetic(self, p: Tensor) -> Tensor:
        """``T(p) = ½‖p‖²``, shape ``(batch,)``."""
        return 0.5 * (p * p).sum(-1)

    def grad_p(self, t: float | Tensor, p: Tensor) -> Tensor:
        """``∂H/∂p = p``."""
        return p

    def energy(self, q: Tensor, p: Tensor) -> Tensor:
        """``H(q, p) = T(p) + V(q)``, shape ``(batch,)``."""
        return self.kinetic(p) + self.potential(q)

    def forward(self, t: float | Tensor, y: State) -> State:
        """``(q', p') = (∂_pH, −∂_qH)``."""
        if not isinstance(y, tuple) or len(y) != 2:
            raise ShapeError(
                f"{self.name} needs a partitioned state (q, p), got {type(y).__name__}; pass a "
                "pair of (batch, d) tensors"
            )
        q, p = y
        if q.shape[-1] != self.dim or p.shape[-1] != self.dim:
            raise ShapeError(
                f"{self.name} has {self.dim} degrees of freedom; expected q and p of shape "
                f"(batch, {self.dim}), got {tuple(q.shape)} and {tuple(p.shape)}"
            )
        return self.grad_p(t, p), -self.grad_q(t, q)

    @abstractmethod
    def _standard_state(self) -> tuple[list[float], list[float]]:
        """The standard initial condition ``(q₀, p₀)`` as lists of length ``dim``."""

    def initial_state(
        self, batch: int = 1, dtype: torch.dtype = torch.float64
    ) -> tuple[Tensor, Tensor]:
        """The standard initial condition repeated ``batch`` times: two ``(batch, dim)`` tensors."""
        _check_batch(batch, self.name)
        q0, p0 = self._standard_state()
        q = torch.tensor(q0, dtype=dtype).expand(batch, -1).clone()
        p = torch.tensor(p0, dtype=dtype).expand(batch, -1).clone()
        return q, p


@final
class HarmonicOscillator(_SeparableHamiltonian):
    """``H = ½‖p‖² + ½ω²‖q‖²``: linear, with the exact rotation-in-phase-space solution.

    Args:
        dim: number of degrees of freedom.
        frequency: the angular frequency ``ω``.

    Example:
        >>> import torch
        >>> ho = HarmonicOscillator()
        >>> q, p = ho.exact_solution(torch.pi / 2, *ho.initial_state())
        >>> [round(float(q), 12), round(float(p), 12)]
        [0.0, -1.0]
    """

    #: ``∇H = (ω²q, p)`` is linear.
    energy_gradient_degree: ClassVar[int | None] = 1

    def __init__(self, dim: int = 1, frequency: float = 1.0) -> None:
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise ConfigError(f"HarmonicOscillator: dim must be a positive int, got {dim!r}")
        self.dim = dim
        self.frequency = _positive(frequency, "frequency", "HarmonicOscillator")

    def potential(self, q: Tensor) -> Tensor:
        """``½ω²‖q‖²``."""
        return 0.5 * self.frequency**2 * (q * q).sum(-1)

    def grad_q(self, t: float | Tensor, q: Tensor) -> Tensor:
        """``ω² q``."""
        return self.frequency**2 * q

    def _standard_state(self) -> tuple[list[float], list[float]]:
        return [1.0] * self.dim, [0.0] * self.dim

    def exact_solution(self, t: float | Tensor, q0: Tensor, p0: Tensor) -> tuple[Tensor, Tensor]:
        """``q(t) = q₀ cos ωt + (p₀/ω) sin ωt``, ``p(t) = −ω q₀ sin ωt + p₀ cos ωt``."""
        w = self.frequency
        wt = torch.as_tensor(w * t, dtype=q0.dtype)
        c, s = torch.cos(wt), torch.sin(wt)
        return q0 * c + p0 * s / w, -w * q0 * s + p0 * c


@final
class Pendulum(_SeparableHamiltonian):
    """Mathematical pendulum ``H = ½p² + g(1 − cos q)`` (``g`` = gravity / length).

    Args:
        dim: number of independent pendula.
        gravity: ``g/ℓ``.
    """

    def __init__(self, dim: int = 1, gravity: float = 1.0) -> None:
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise ConfigError(f"Pendulum: dim must be a positive int, got {dim!r}")
        self.dim = dim
        self.gravity = _positive(gravity, "gravity", "Pendulum")

    def potential(self, q: Tensor) -> Tensor:
        """``g Σ (1 − cos qᵢ)``."""
        return self.gravity * (1.0 - torch.cos(q)).sum(-1)

    def grad_q(self, t: float | Tensor, q: Tensor) -> Tensor:
        """``g sin q``."""
        return self.gravity * torch.sin(q)

    def _standard_state(self) -> tuple[list[float], list[float]]:
        return [1.0] * self.dim, [0.0] * self.dim


@final
class Kepler(_SeparableHamiltonian):
    """Planar Kepler problem ``H = ½‖p‖² − 1/‖q‖`` (unit masses and gravitational constant).

    The standard initial condition ``q₀ = (1 − e, 0)``, ``p₀ = (0, √((1 + e)/(1 − e)))`` starts at
    the pericentre of an ellipse of eccentricity ``e``, semi-major axis 1, period ``2π`` and energy
    ``−½``.

    Args:
        eccentricity: ``e ∈ [0, 1)``.
    """

    dim = 2

    def __init__(self, eccentricity: float = 0.5) -> None:
        super().__init__()
        if not isinstance(eccentricity, (int, float)) or not 0.0 <= eccentricity < 1.0:
            raise ConfigError(
                f"Kepler: eccentricity must lie in [0, 1) for a bound orbit, got {eccentricity!r}"
            )
        self.eccentricity = float(eccentricity)

    def potential(self, q: Tensor) -> Tensor:
        """``−1/‖q‖``."""
        return -1.0 / q.norm(dim=-1)

    def grad_q(self, t: float | Tensor, q: Tensor) -> Tensor:
        """``q/‖q‖³``."""
        r = q.norm(dim=-1, keepdim=True)
        return q / r**3

    def _standard_state(self) -> tuple[list[float], list[float]]:
        e = self.eccentricity
        return [1.0 - e, 0.0], [0.0, math.sqrt((1.0 + e) / (1.0 - e))]

    @property
    def period(self) -> float:
        """Orbital period ``2π`` (semi-major axis 1)."""
        return 2.0 * math.pi


@final
class HenonHeiles(_SeparableHamiltonian):
    """Hénon–Heiles ``H = ½‖p‖² + ½(x² + y²) + x²y − y³/3``; bounded motion for ``H < 1/6``.

    The standard initial condition ``q₀ = (0, 0.1)``, ``p₀ = (0.35, 0)`` has ``H ≈ 0.0666``.
    """

    dim = 2
    #: ``∇H`` is quadratic in ``q`` (and linear in ``p``).
    energy_gradient_degree: ClassVar[int | None] = 2

    def potential(self, q: Tensor) -> Tensor:
        """``½(x² + y²) + x²y − y³/3``."""
        x, y = q[..., 0], q[..., 1]
        return 0.5 * (x * x + y * y) + x * x * y - y**3 / 3.0

    def grad_q(self, t: float | Tensor, q: Tensor) -> Tensor:
        """``(x + 2xy, y + x² − y²)``."""
        x, y = q[..., 0], q[..., 1]
        return torch.stack((x + 2.0 * x * y, y + x * x - y * y), dim=-1)

    def _standard_state(self) -> tuple[list[float], list[float]]:
        return [0.0, 0.1], [0.35, 0.0]


def _as_square(matrix: Tensor | Sequence[Sequence[float]], what: str, who: str) -> Tensor:
    m = torch.as_tensor(matrix, dtype=torch.float64)
    if m.dim() != 2 or m.shape[0] != m.shape[1]:
        raise ShapeError(f"{who}: {what} must be a square (d, d) matrix, got {tuple(m.shape)}")
    if not torch.isfinite(m).all():
        raise NonFiniteError(f"{who}: {what} contains NaN or infinite values")
    return m


@final
class GradientSystem(VectorField):
    """``y' = S ∇E(y)`` for an energy ``E`` and a constant structure matrix ``S``.

    Skew ``S``: ``E`` is a first integral. ``S + Sᵀ`` negative semidefinite: ``E`` is a Lyapunov
    function (non-increasing). Discrete-gradient methods (``AVF``, ``ItohAbe``) keep these
    properties exactly in discrete time.

    Args:
        energy_fn: ``E``, mapping ``(batch, d) → (batch,)``.
        structure_matrix: ``S``, shape ``(d, d)``.
        grad_fn: optional ``∇E`` mapping ``(batch, d) → (batch, d)``; autograd is used otherwise.
        gradient_degree: the polynomial degree of ``∇E`` if it is a polynomial, else ``None``
            (declared data: AVF claims exact conservation only up to its quadrature's degree).
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"general", "energy"})

    def __init__(
        self,
        energy_fn: Callable[[Tensor], Tensor],
        structure_matrix: Tensor | Sequence[Sequence[float]],
        grad_fn: Callable[[Tensor], Tensor] | None = None,
        *,
        gradient_degree: int | None = None,
    ) -> None:
        super().__init__()
        if not callable(energy_fn) or (grad_fn is not None and not callable(grad_fn)):
            raise ConfigError("GradientSystem: energy_fn and grad_fn must be callables")
        if gradient_degree is not None and (
            isinstance(gradient_degree, bool)
            or not isinstance(gradient_degree, int)
            or gradient_degree < 0
        ):
            raise ConfigError(
                f"GradientSystem: gradient_degree must be an int ≥ 0 or None — received "
                f"{gradient_degree!r} — pass the polynomial degree of ∇E, or None"
            )
        self.energy_gradient_degree = gradient_degree
        self.energy_fn = energy_fn
        self.grad_fn = grad_fn
        self.register_buffer(
            "structure_matrix", _as_square(structure_matrix, "structure_matrix", self.name)
        )

    def energy(self, y: Tensor) -> Tensor:
        """``E(y)``, shape ``(batch,)``."""
        return self.energy_fn(y)

    def grad_energy(self, y: Tensor) -> Tensor:
        """``∇E(y)``: the given ``grad_fn``, or autograd of ``E`` (graph kept for training)."""
        if self.grad_fn is not None:
            return self.grad_fn(y)
        # Keep the graph only if gradients are wanted upstream, so that a step taken on plain
        # tensors returns plain tensors.
        keep = torch.is_grad_enabled() and (
            y.requires_grad or any(p.requires_grad for p in self.parameters())
        )
        with torch.enable_grad():
            y_in = y if y.requires_grad else y.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.energy_fn(y_in).sum(), (y_in,), create_graph=keep)
        return g

    def forward(self, t: float | Tensor, y: State) -> State:
        """``S ∇E(y)`` (rows: ``∇E(y) Sᵀ``)."""
        if isinstance(y, tuple):
            raise ShapeError(f"{self.name} acts on a tensor state (batch, d), got a pair")
        s = self.structure_matrix.to(dtype=y.dtype, device=y.device)
        return self.grad_energy(y) @ s.T


@final
class LinearSystem(VectorField):
    """Linear energy system ``y' = S Q y`` with ``E(y) = ½ yᵀ Q y`` (``Q`` symmetric).

    Exact solution ``y(t) = exp(t S Q) y₀``. With ``S = J`` and ``Q = I`` it is the harmonic
    oscillator written on one tensor state ``(q, p)``.

    Args:
        structure_matrix: ``S``, shape ``(d, d)``.
        hessian: ``Q``, symmetric, shape ``(d, d)``.
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"general", "energy"})
    #: ``∇E = Qy`` is linear.
    energy_gradient_degree: ClassVar[int | None] = 1

    def __init__(
        self,
        structure_matrix: Tensor | Sequence[Sequence[float]],
        hessian: Tensor | Sequence[Sequence[float]],
    ) -> None:
        super().__init__()
        s = _as_square(structure_matrix, "structure_matrix", "LinearSystem")
        q = _as_square(hessian, "hessian", "LinearSystem")
        if s.shape != q.shape:
            raise ShapeError(
                f"LinearSystem: S and Q must have the same shape, got {tuple(s.shape)} and "
                f"{tuple(q.shape)}"
            )
        if float((q - q.T).abs().max()) > 1e-12 * max(1.0, float(q.abs().max())):
            raise ConfigError("LinearSystem: the hessian Q must be symmetric; pass (Q + Qᵀ)/2")
        self.register_buffer("structure_matrix", s)
        self.register_buffer("hessian", q)

    def energy(self, y: Tensor) -> Tensor:
        """``½ yᵀ Q y``, shape ``(batch,)``."""
        qm = self.hessian.to(dtype=y.dtype, device=y.device)
        return 0.5 * ((y @ qm) * y).sum(-1)

    def grad_energy(self, y: Tensor) -> Tensor:
        """``Q y``."""
        return y @ self.hessian.to(dtype=y.dtype, device=y.device)

    def forward(self, t: float | Tensor, y: State) -> State:
        """``S Q y``."""
        if isinstance(y, tuple):
            raise ShapeError(f"{self.name} acts on a tensor state (batch, d), got a pair")
        s = self.structure_matrix.to(dtype=y.dtype, device=y.device)
        return self.grad_energy(y) @ s.T

    def exact_solution(self, t: float, y0: Tensor) -> Tensor:
        """``exp(t S Q) y₀`` for rows ``y₀`` of shape ``(batch, d)``."""
        a = (self.structure_matrix @ self.hessian).to(dtype=y0.dtype, device=y0.device)
        return y0 @ torch.linalg.matrix_exp(t * a).T


def _rotate(omega: Tensor, y: Tensor) -> Tensor:
    return torch.linalg.cross(omega.expand_as(y), y, dim=-1)


def _act(g: Tensor, y: Tensor) -> Tensor:
    return (g @ y.unsqueeze(-1)).squeeze(-1)


@final
class SphereRotation(VectorField):
    """Rigid rotation ``y' = ω × y`` on the sphere, ``ξ(t, y) = ω`` constant in so(3).

    Exact solution ``y(t) = exp(t ω̂) y₀`` (Rodrigues). Kind ``{"general", "lie"}``.

    Args:
        omega: the angular velocity, shape ``(3,)``.
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"general", "lie"})
    #: The homogeneous manifold the state stays on (the orbit of the rotation group).
    manifold: ClassVar[str] = "sphere"

    def __init__(self, omega: Tensor | Sequence[float]) -> None:
        super().__init__()
        w = torch.as_tensor(omega, dtype=torch.float64)
        if w.shape != (3,):
            raise ShapeError(f"SphereRotation: omega must have shape (3,), got {tuple(w.shape)}")
        self.register_buffer("omega", w)

    def xi(self, t: float | Tensor, y: Tensor) -> Tensor:
        """``ω`` for every batch element, shape ``(batch, 3)``."""
        return self.omega.to(dtype=y.dtype, device=y.device).expand(y.shape[0], 3)

    def act(self, g: Tensor, y: Tensor) -> Tensor:
        """Rotate: ``g y``."""
        return _act(g, y)

    def forward(self, t: float | Tensor, y: State) -> State:
        """``ω × y``."""
        return _rotate(self.xi(t, y), y)

    def exact_solution(self, t: float, y0: Tensor) -> Tensor:
        """``exp(t ω̂) y₀``."""
        return _act(so3_exp(t * self.omega.to(dtype=y0.dtype)), y0)


@final
class FreeRigidBody(VectorField):
    """Euler's equations of a free rigid body, ``m' = m × I⁻¹m = ω(m) × m`` with ``ω = −I⁻¹m``.

    ``‖m‖`` (a Casimir) and the energy ``½ mᵀ I⁻¹ m`` are conserved by the exact flow; Lie-group
    methods keep ``‖m‖`` exactly. Kind ``{"general", "lie"}``.

    Args:
        inertia: principal moments of inertia ``(I₁, I₂, I₃)``, positive.
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"general", "lie"})
    #: The homogeneous manifold the state stays on (the orbit of the rotation group).
    manifold: ClassVar[str] = "sphere"

    def __init__(self, inertia: Sequence[float] = (1.0, 2.0, 3.0)) -> None:
        super().__init__()
        values = [float(v) for v in inertia]
        if len(values) != 3 or any(not math.isfinite(v) or v <= 0 for v in values):
            raise ConfigError(
                f"FreeRigidBody: inertia must be three positive numbers, got {inertia!r}"
            )
        self.register_buffer("inverse_inertia", 1.0 / torch.tensor(values, dtype=torch.float64))

    def xi(self, t: float | Tensor, y: Tensor) -> Tensor:
        """``ω(m) = −I⁻¹ m``, shape ``(batch, 3)``."""
        return -y * self.inverse_inertia.to(dtype=y.dtype, device=y.device)

    def act(self, g: Tensor, y: Tensor) -> Tensor:
        """Rotate: ``g m``."""
        return _act(g, y)

    def energy(self, y: Tensor) -> Tensor:
        """``½ mᵀ I⁻¹ m``, shape ``(batch,)``."""
        return 0.5 * (y * y * self.inverse_inertia.to(dtype=y.dtype, device=y.device)).sum(-1)

    def forward(self, t: float | Tensor, y: State) -> State:
        """``ω(m) × m``."""
        return _rotate(self.xi(t, y), y)

    def initial_state(self, batch: int = 1, dtype: torch.dtype = torch.float64) -> Tensor:
        """A fixed generic unit vector (all three components non-zero), repeated ``batch`` times."""
        _check_batch(batch, self.name)
        m = torch.tensor([math.sin(1.1), math.cos(1.1) * 0.1, math.cos(1.1)], dtype=dtype)
        return (m / m.norm()).expand(batch, 3).clone()
