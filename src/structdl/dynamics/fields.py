"""Neural vector fields on tensor states ``(batch, dim)``: *what* flows in an ODE-network layer.

* :class:`Residual` — ``σ(Ay + b)`` or ``Bσ(Ay + b)``: no structure (the negative control);
* :class:`GradientFlow` — ``−Aᵀσ(Ay + b) = −∇V`` with ``V = 1ᵀγ(Ay + b)`` convex: kinds
  "gradient" and "energy" (non-expansive flow, co-coercive with ``ν = L‖A‖²``);
* :class:`Antisymmetric` — ``σ((W − Wᵀ − γI)y + b)``: no guaranteed structure (a nearly
  imaginary Jacobian spectrum);
* :class:`RidgeShearSum` — ``Σ_i a_i σ(b_iᵀy + c_i)`` with ``a_i ⊥ b_i``: "divergence_free" and
  "split" into :class:`SingleRidgeShear` parts, each a "shear" with an exact flow;
* :class:`LieAlgebraField` — ``ω(y) × y`` on the sphere S²: kind "lie".

The fields on pairs ``(q, p)`` — :class:`SeparableHamiltonian`, :class:`SecondOrder`,
:class:`HamiltonianRidge` (with its :class:`HamiltonianShear` parts) and
:class:`HamiltonianTwoStream` — live in :mod:`structdl.dynamics.partitioned_fields` and
are re-exported here. Each field validates its state once, in
:class:`~structdl.dynamics._field_base.StructuredField`. Fields are autonomous: time dependence
of an ODE network comes from giving each layer its own field (``ODENet`` with a list).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from .._errors import ShapeError
from ..structure._validate import require_int
from ._activations import Activation, get_activation
from ._base import State
from ._field_base import (
    SHEAR_FLOW_CLAIMS,
    StructuredField,
    check_option,
    finite_nonnegative,
    linear_weight,
)
from ._lie_algebra import hat, so3_exp
from .partitioned_fields import (
    HamiltonianRidge,
    HamiltonianShear,
    HamiltonianTwoStream,
    SecondOrder,
    SeparableHamiltonian,
)

__all__ = [
    "Antisymmetric",
    "GradientFlow",
    "HamiltonianRidge",
    "HamiltonianShear",
    "HamiltonianTwoStream",
    "LieAlgebraField",
    "Residual",
    "RidgeShearSum",
    "SecondOrder",
    "SeparableHamiltonian",
    "SingleRidgeShear",
    "StructuredField",
]


class Residual(StructuredField):
    """The unstructured ResNet field ``f(y) = σ(Ay + b)`` (or ``Bσ(Ay + b)`` with a width).

    One forward-Euler step of it is the classical residual layer ``y + hσ(Ay + b)``. It has no
    structure: its Lipschitz bound ``Π_k(1 + hL‖A_k‖)`` grows with
    depth. It is the negative control of every structure check.

    Args:
        dim: state width ``d``; states are ``(batch, d)``.
        width: hidden width ``m``; ``None`` gives the square form ``σ(Ay + b)`` with ``A`` ``d×d``,
            an integer ``m`` gives ``Bσ(Ay + b)`` with ``A`` ``m×d`` and ``B`` ``d×m``.
        activation: name or :class:`~structdl.dynamics._activations.Activation`.

    Example:
        >>> f = Residual(3, width=8)
        >>> f(0.0, torch.zeros(5, 3)).shape
        torch.Size([5, 3])
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"general"})

    def __init__(self, dim: int, width: int | None = None, activation: str | Activation = "tanh"):
        super().__init__()
        self.dim = require_int(dim, "dim")
        hidden = self.dim if width is None else require_int(width, "width")
        self.activation = get_activation(activation)
        self.weight = linear_weight(hidden, self.dim)
        self.bias = nn.Parameter(torch.zeros(hidden))
        if width is None:
            self.register_parameter("out_weight", None)
        else:
            self.out_weight = linear_weight(self.dim, hidden)

    def evaluate(self, t: float | Tensor, y: State) -> Tensor:
        # F.linear fuses matmul and bias (addmm) and reads the weight transposed in place:
        # no per-call transpose copy, one op fewer than ``y @ W.T + b`` (hot path of ODENets).
        z = self.activation(torch.nn.functional.linear(y, self.weight, self.bias))
        return z if self.out_weight is None else torch.nn.functional.linear(z, self.out_weight)


class GradientFlow(StructuredField):
    """Gradient flow of a convex potential: ``f(y) = −Aᵀσ(Ay + b) = −∇V(y)``.

    ``V(y) = 1ᵀγ(Ay + b)`` is convex because ``σ = γ'`` is non-decreasing, so the flow is
    non-expansive (one-sided Lipschitz constant 0). ``f`` is co-coercive with constant
    ``ν = L‖A‖²`` (``L`` the activation's slope bound), so forward Euler is non-expansive for
    ``h ≤ 2/ν`` and a Runge–Kutta method with circle-contractivity radius ``r`` for ``h ≤
    2r/ν``. It is also an "energy" field ``y' = S∇E`` with ``S = −I`` and
    ``E = V``, so discrete-gradient methods dissipate ``V`` for every step size.

    ``‖A‖`` is the exact largest singular value for the step rules and guarantees; a power
    iteration from a persistent vector (a buffer) is available for cheap monitoring.

    Args:
        dim: state width ``d``.
        width: number of neurons ``m`` (rows of ``A``); ``None`` means ``m = d``.
        activation: a monotone activation (default ReLU).

    Example:
        >>> f = GradientFlow(2, width=4).double()
        >>> y = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
        >>> (grad,) = torch.autograd.grad(f.potential(0.0, y).sum(), y)
        >>> torch.allclose(f(0.0, y), -grad)
        True
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"general", "gradient", "energy"})

    def __init__(self, dim: int, width: int | None = None, activation: str | Activation = "relu"):
        super().__init__()
        self.dim = require_int(dim, "dim")
        hidden = self.dim if width is None else require_int(width, "width")
        self.activation = get_activation(activation)
        self.weight = linear_weight(hidden, self.dim)
        self.bias = nn.Parameter(0.1 * torch.randn(hidden))
        start = torch.randn(self.dim)
        self.register_buffer("_power_vector", start / start.norm())

    def evaluate(self, t: float | Tensor, y: State) -> Tensor:
        return -(self.activation(y @ self.weight.T + self.bias) @ self.weight)

    def potential(self, t: float | Tensor, y: Tensor) -> Tensor:
        """``V(y) = 1ᵀγ(Ay + b)``, shape ``(batch,)``."""
        self.validate(y)
        return self.activation.antiderivative(y @ self.weight.T + self.bias).sum(-1)

    def energy(self, y: Tensor) -> Tensor:
        """The dissipated energy ``E = V`` (the "energy" kind), shape ``(batch,)``."""
        return self.potential(0.0, y)

    def grad_energy(self, y: Tensor) -> Tensor:
        """``∇E(y) = Aᵀσ(Ay + b)``."""
        return -self.forward(0.0, y)

    @property
    def structure_matrix(self) -> Tensor:
        """``S = −I`` in ``y' = S∇E(y)``: negative definite, so ``E`` is dissipated."""
        return -torch.eye(self.dim, dtype=self.weight.dtype, device=self.weight.device)

    def spectral_norm(
        self, *, exact: bool = False, max_iterations: int = 200, rtol: float | None = None
    ) -> Tensor:
        """``‖A‖₂``, differentiable with respect to ``A``, in the weight's dtype.

        ``exact=True``: the largest singular value (SVD), computed in float64 for every weight
        dtype (float16 and bfloat16 have no SVD kernel) — what the step rules and the guarantees
        use, since it cannot depend on a starting vector.

        ``exact=False``: power iteration on ``AᵀA`` from the persistent vector, in float64,
        stopped when the estimate changes by less than ``rtol`` (relative; default ``1e-12``);
        the exact norm if it has not converged by ``max_iterations``. The estimate ``uᵀAv`` is a
        lower bound of ``‖A‖`` (a start orthogonal to the top singular vector converges to a
        smaller singular value), so it suits monitoring, not certificates. Like torch's
        ``spectral_norm``, the persistent vector is updated only in training mode and outside
        ``torch.func`` transforms and compilation.
        """
        weight = self.weight
        if exact:
            return torch.linalg.matrix_norm(weight.to(torch.float64), 2).to(weight.dtype)
        if rtol is None:
            rtol = 1e-12
        with torch.no_grad():
            weight64 = weight.detach().to(torch.float64)
            v = self._power_vector.to(torch.float64)
            sigma = 0.0
            converged = False
            for _ in range(max_iterations):
                u = weight64 @ v
                u_norm = float(u.norm())
                if u_norm == 0.0:  # A v = 0: restart cannot help, the SVD is exact and cheap
                    break
                u = u / u_norm
                w = weight64.T @ u
                new_sigma = float(w.norm())
                v = w / new_sigma
                if abs(new_sigma - sigma) <= rtol * new_sigma:
                    converged = True
                    sigma = new_sigma
                    break
                sigma = new_sigma
            if converged and self.training and not torch.compiler.is_compiling():
                self._power_vector = v.to(self._power_vector.dtype)
        if not converged:
            return self.spectral_norm(exact=True)
        return u.to(weight.dtype) @ weight @ v.to(weight.dtype)

    def lipschitz_bound(self, *, exact: bool = True) -> float:
        """``ν = L‖A‖²``: the co-coercivity constant and a Lipschitz bound of the field."""
        norm = float(self.spectral_norm(exact=exact).detach().double())
        return self.activation.slope_bound * norm**2

    def step_size_bound(self, radius: float = 1.0, *, exact: bool = True) -> Tensor:
        """Largest non-expansive step ``2r/(L‖A‖²)`` of a method with contractivity radius ``r``.

        A tensor, differentiable in ``A`` (used by ``ODENet``'s step rules); ``inf`` if ``A = 0``.
        Exact (SVD) by default, so that the bound does not depend on a power-iteration start.
        """
        norm = self.spectral_norm(exact=exact)
        return 2.0 * radius / (self.activation.slope_bound * norm**2)


class Antisymmetric(StructuredField):
    """Haber–Ruthotto antisymmetric field ``f(y) = σ(Ky + b)``, ``K = W − Wᵀ − γI``.

    ``K`` has eigenvalues with real part ``−γ``, so the linearised field has a nearly imaginary
    spectrum for small ``γ ≥ 0``: neither exploding nor vanishing. This is a
    spectral property of the continuous layer, not a guarantee of any integrator (forward Euler
    needs ``γ > 0`` to be stable).

    Args:
        dim: state width ``d``.
        gamma: diffusion ``γ ≥ 0``.
        activation: name or Activation (default tanh).

    Example:
        >>> f = Antisymmetric(4, gamma=0.1)
        >>> torch.linalg.eigvals(f.matrix()).real.detach().allclose(torch.full((4,), -0.1))
        True
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"general"})

    def __init__(self, dim: int, gamma: float = 0.01, activation: str | Activation = "tanh"):
        super().__init__()
        self.dim = require_int(dim, "dim")
        self.gamma = finite_nonnegative(gamma, "gamma")
        self.activation = get_activation(activation)
        self.weight = linear_weight(self.dim, self.dim)
        self.bias = nn.Parameter(torch.zeros(self.dim))

    def matrix(self) -> Tensor:
        """``K = W − Wᵀ − γI``."""
        eye = torch.eye(self.dim, dtype=self.weight.dtype, device=self.weight.device)
        return self.weight - self.weight.T - self.gamma * eye

    def evaluate(self, t: float | Tensor, y: State) -> Tensor:
        return self.activation(y @ self.matrix().T + self.bias)


class SingleRidgeShear(StructuredField):
    """One ridge shear ``f(y) = a⊥ σ(bᵀy + c)`` with ``a⊥ = a − (aᵀb/bᵀb) b ⊥ b``.

    Because ``bᵀf = 0``, ``s = bᵀy`` is constant along the flow, so the exact flow is the
    explicit shear ``y ↦ y + h a⊥ σ(bᵀy + c)`` with inverse ``y ↦ y − h a⊥ σ(bᵀy + c)``:
    divergence-free, volume-preserving, explicitly invertible.

    Args:
        dim: state width ``d``.
        activation: name or Activation (default tanh).
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"general", "divergence_free", "shear"})
    #: What its exact flow keeps (a splitting method reads these for its sub-steps).
    claims = SHEAR_FLOW_CLAIMS

    def __init__(self, dim: int, activation: str | Activation = "tanh"):
        super().__init__()
        self.dim = require_int(dim, "dim")
        self.activation = get_activation(activation)
        self.direction_raw = nn.Parameter(torch.randn(self.dim) / math.sqrt(self.dim))
        self.normal = nn.Parameter(torch.randn(self.dim) / math.sqrt(self.dim))
        self.offset = nn.Parameter(0.1 * torch.randn(()))

    def direction(self) -> Tensor:
        """``a⊥``: the raw direction projected onto the orthogonal complement of ``b``."""
        b = self.normal
        # clamp: b = 0 makes the ridge a constant field, for which any direction is a shear.
        scale = (self.direction_raw @ b) / (b @ b).clamp_min(torch.finfo(b.dtype).tiny)
        return self.direction_raw - scale * b

    def evaluate(self, t: float | Tensor, y: State) -> Tensor:
        return self.activation(y @ self.normal + self.offset).unsqueeze(-1) * self.direction()

    def exact_flow(self, t: float | Tensor, y: Tensor, h: float | Tensor) -> Tensor:
        """The exact time-``h`` flow ``y + h a⊥ σ(bᵀy + c)``."""
        return y + h * self.forward(t, y)

    def inverse_exact_flow(self, t: float | Tensor, y: Tensor, h: float | Tensor) -> Tensor:
        """Inverse of :meth:`exact_flow`: ``y − h a⊥ σ(bᵀy + c)`` (``bᵀy`` is unchanged)."""
        return y - h * self.forward(t, y)


class RidgeShearSum(StructuredField):
    """A width-``m`` divergence-free layer ``f(y) = Σ_i a_i σ(b_iᵀy + c_i)`` with ``a_i ⊥ b_i``.

    Each term is a :class:`SingleRidgeShear` with an exact explicit flow, so splitting methods that
    compose the exact sub-flows (``parts``) give explicit, volume-preserving, exactly invertible
    layers; no Runge–Kutta method is volume-preserving for every divergence-free field.
    :meth:`split_flow` is that composition (Lie–Trotter order 1): it is
    *not* the exact flow of the sum, which is why the field does not declare the "shear" kind.

    Args:
        dim: state width ``d``.
        n_ridges: number of ridge terms ``m``.
        activation: name or Activation (default tanh).

    Example:
        >>> f = RidgeShearSum(3, n_ridges=4).double()
        >>> y = torch.randn(2, 3, dtype=torch.float64)
        >>> z = f.split_flow(0.0, y, 0.5)
        >>> torch.allclose(f.inverse_split_flow(0.0, z, 0.5), y, atol=1e-13)
        True
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"general", "divergence_free", "split"})

    def __init__(self, dim: int, n_ridges: int = 4, activation: str | Activation = "tanh"):
        super().__init__()
        self.dim = require_int(dim, "dim")
        count = require_int(n_ridges, "n_ridges")
        self.ridges = nn.ModuleList(SingleRidgeShear(self.dim, activation) for _ in range(count))

    @property
    def parts(self) -> tuple[SingleRidgeShear, ...]:
        """The sub-fields ``f^{[i]}`` whose sum is this field, each with an exact flow."""
        return tuple(self.ridges)  # type: ignore[arg-type]

    def evaluate(self, t: float | Tensor, y: State) -> Tensor:
        return torch.stack([ridge.evaluate(t, y) for ridge in self.ridges]).sum(0)

    def split_flow(self, t: float | Tensor, y: Tensor, h: float | Tensor) -> Tensor:
        """``φ_h^{[m]} ∘ … ∘ φ_h^{[1]}(y)``: the composition of the exact ridge flows."""
        for ridge in self.ridges:
            y = ridge.exact_flow(t, y, h)
        return y

    def inverse_split_flow(self, t: float | Tensor, y: Tensor, h: float | Tensor) -> Tensor:
        """Exact inverse of :meth:`split_flow` (the inverse shears in reverse order)."""
        for ridge in reversed(self.ridges):
            y = ridge.inverse_exact_flow(t, y, h)
        return y


class LieAlgebraField(StructuredField):
    """A field on the sphere S² given by the action of ``so(3)``: ``f(y) = ξ(y)·y = ω(y) × y``.

    ``ω(y) = y × N(y)`` (``mode="cross"``, so that ``ω ⊥ y``) or ``ω(y) = N(y)``
    (``mode="free"``), with ``N`` a two-layer network ``R³ → R³``. A Lie-group method
    ``y ← exp(h[ω]×) y`` keeps every feature on S² exactly (up to round-off), because rotations
    preserve the norm; a plain Euler step leaves the sphere.

    Args:
        width: hidden width of ``N``.
        activation: name or Activation (default tanh).
        mode: "cross" or "free" (see above).

    Example:
        >>> f = LieAlgebraField(8).double()
        >>> y = torch.nn.functional.normalize(torch.randn(4, 3, dtype=torch.float64), dim=-1)
        >>> z = f.act(f.exp(0.3 * f.xi(0.0, y)), y)
        >>> bool(((z.norm(dim=-1) - 1).abs() < 1e-14).all())
        True
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"general", "lie"})
    #: The homogeneous manifold the field acts on (read by ``structure.guarantees``).
    manifold: ClassVar[str] = "sphere"
    #: The group acting on it.
    group: ClassVar[str] = "SO(3)"

    def __init__(
        self, width: int = 16, activation: str | Activation = "tanh", *, mode: str = "cross"
    ):
        super().__init__()
        self.dim = 3
        hidden = require_int(width, "width")
        check_option(mode, ("cross", "free"), "LieAlgebraField mode")
        self.mode = mode
        self.activation = get_activation(activation)
        self.hidden_weight = linear_weight(hidden, 3)
        self.hidden_bias = nn.Parameter(0.1 * torch.randn(hidden))
        self.out_weight = linear_weight(3, hidden)
        self.out_bias = nn.Parameter(torch.zeros(3))

    def _omega(self, y: Tensor) -> Tensor:
        n = self.activation(y @ self.hidden_weight.T + self.hidden_bias) @ self.out_weight.T
        n = n + self.out_bias
        return torch.linalg.cross(y, n) if self.mode == "cross" else n

    def xi(self, t: float | Tensor, y: Tensor) -> Tensor:
        """The algebra element as a vector ``ω(y) ∈ R³ ≅ so(3)``, shape ``(batch, 3)``."""
        self.validate(y)
        return self._omega(y)

    def evaluate(self, t: float | Tensor, y: State) -> Tensor:
        return torch.linalg.cross(self._omega(y), y)

    @staticmethod
    def hat(omega: Tensor) -> Tensor:
        """``ω ↦ [ω]× ∈ so(3)``, shape ``(..., 3, 3)``."""
        return hat(omega)

    @staticmethod
    def exp(omega: Tensor) -> Tensor:
        """Group exponential ``exp([ω]×) ∈ SO(3)`` by Rodrigues' formula, ``(..., 3, 3)``."""
        return so3_exp(omega)

    @staticmethod
    def manifold_defect(y: Tensor) -> Tensor:
        """Distance ``| ‖y‖ − 1 |`` of each point from S², shape ``(batch,)``."""
        return (y.norm(dim=-1) - 1.0).abs()

    @staticmethod
    def act(g: Tensor, y: Tensor) -> Tensor:
        """Action of rotations ``g`` (``(batch, 3, 3)`` or ``(3, 3)``) on points ``y``."""
        if g.shape[-2:] != (3, 3):
            raise ShapeError(
                f"LieAlgebraField.act: g must be rotation matrices of shape (…, 3, 3), got "
                f"{tuple(g.shape)}; build them with LieAlgebraField.exp(omega)"
            )
        return (g @ y.unsqueeze(-1)).squeeze(-1)
