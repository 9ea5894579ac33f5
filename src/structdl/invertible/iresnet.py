"""Invertible residual blocks (i-ResNet / Residual Flow): ``z = F(x) = x + g(x)``, ``Lip(g) < 1``.

Banach's fixed-point theorem makes ``F`` a bijection when ``Lip(g) = c < 1``: ``x = z − g(x)``
is a contraction in ``x`` (Behrmann et al. 2019). Then ``(1 − c)‖a − b‖ ≤ ‖F(a) − F(b)‖ ≤
(1 + c)‖a − b‖``: ``F`` is bi-Lipschitz with constants ``1 + c`` and ``1/(1 − c)``.

``c`` is enforced by spectral normalisation (:mod:`._lipschitz`) and *measured*: the block's
:meth:`IResNetBlock.lipschitz_bound` is the product of the exact spectral norms of the
normalised weights, and the claims hold only when that certified number is below the bound.

The inverse is iterative (:mod:`._solvers`): fixed point, Newton or Anderson, each returning
its residual and iteration count; the log-determinant is exact, a truncated power series, or
the unbiased Russian-roulette estimator (:mod:`._logdet`).
"""

from __future__ import annotations

from typing import final

import torch
from torch import Tensor

from .._errors import ConfigError, ShapeError
from ..structure._validate import require_int
from ..structure.declarations import AttributeAtMost, AttributeBelow, Claim
from ..structure.properties import BiLipschitz, Invertible
from ..structure.result import tolerance
from . import _recompute
from ._lipschitz import LipschitzMLP
from ._logdet import (
    NeumannLogDet,
    exact_logdet,
    make_probes,
    roulette_coefficients,
    series_coefficients,
)
from ._solvers import (
    INVERSE_METHODS,
    InverseResult,
    batch_jacobian,
    small_matrices,
    solve_residual_inverse,
)
from .base import Bijection

__all__ = ["LOGDET_METHODS", "IResNetBlock"]

LOGDET_METHODS = ("exact", "series", "roulette")
_TRACES = ("exact", "hutchinson")
#: Relative slack on ``c`` in the claims: the power iteration converges to ``σ`` from below,
#: so the certified ``Π‖W̃_l‖₂`` may exceed ``c`` by its residual error (~1e-12 once converged).
_SLACK = 1e-6
_MAX_COEFFICIENT = 0.999
#: Up to this width the inverse's adjoint is solved with the d×d Jacobian, not by contraction.
_DIRECT_ADJOINT_DIM = 16


def _option(value: object, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise ConfigError(
            f"IResNetBlock: unknown {name} {value!r} — expected one of {list(choices)} — pick one"
        )
    return str(value)


@final
class IResNetBlock(Bijection):
    """Invertible residual block ``z = x + g(x)`` with ``Lip(g) ≤ c < 1``.

    ``g`` is a spectrally normalised MLP with LipSwish (or ELU) activations. Forward is explicit;
    the inverse solves ``x + g(x) = z`` (``inverse_method``); the log-determinant
    ``log det(I + J_g) = Σ_{k≥1} (−1)^{k+1} tr(J_g^k)/k`` is computed by ``logdet``:

    - ``"exact"``: ``slogdet(I + J_g)`` from the full Jacobian (``d`` up to a few dozen);
    - ``"series"``: the first ``n_terms`` terms (biased by at most ``c^{n+1}/((n+1)(1−c))·d``);
    - ``"roulette"``: ``n_exact_terms`` terms plus a geometric number of further terms, each
      divided by its survival probability — unbiased; ``roulette_p`` defaults to
      ``min(0.5, (1 − c²)/2)`` so that its variance is finite.

    Series and roulette traces are exact (``trace="exact"``, ``d`` probes) or Hutchinson
    (``n_probes`` Rademacher vectors); their gradient is the O(1)-memory Neumann series.

    Structure (declared, derived by :func:`structdl.structure.guarantees`): ``Invertible`` when
    the certified ``Lip(g) < 1``; ``BiLipschitz(1 + c', 1/(1 − c'))`` with ``c' = c(1 + 10⁻⁶)``
    when the certified ``Lip(g) ≤ c'``. Training moves the weights; the power iteration
    (``power_iterations`` per training forward) follows them, and :meth:`lipschitz_bound`
    always reports the exact value.

    Args:
        dim: feature width ``d``; inputs are ``(batch, d)``.
        hidden: hidden width of ``g``.
        n_hidden: hidden layers of ``g``.
        coefficient: the Lipschitz bound ``c`` of ``g``, ``0 < c < 1``.
        activation: ``"lipswish"`` (smooth, default) or ``"elu"``.
        logdet: ``"exact"``, ``"series"`` or ``"roulette"``.
        trace: ``"exact"`` or ``"hutchinson"`` (series and roulette).
        n_terms: terms of the truncated series.
        n_exact_terms: terms always taken by the roulette estimator.
        roulette_p: geometric parameter ``p`` of the extra terms, ``0 < p < 1``.
        n_probes: Hutchinson probes per sample.
        inverse_method: ``"fixed_point"``, ``"newton"`` or ``"anderson"``.
        inverse_tol: residual tolerance; default ``0.1·(1 − c)`` times the dtype's inverse
            tolerance (so that the reconstruction error ``≤ residual/(1 − c)`` meets it).
        max_iterations: iteration limit of the inverse.
        power_iterations: power-iteration steps per training forward.

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> block = IResNetBlock(2, hidden=16, coefficient=0.9).double()
        >>> x = torch.randn(5, 2, dtype=torch.float64)
        >>> z, logdet = block.forward_and_logdet(x)
        >>> result = block.solve_inverse(z, method="newton")
        >>> result.residual < 1e-10, result.iterations <= 8
        (True, True)
        >>> from structdl.structure import guarantees
        >>> Invertible() in guarantees(block)
        True
    """

    def __init__(
        self,
        dim: int,
        hidden: int = 64,
        n_hidden: int = 1,
        coefficient: float = 0.9,
        *,
        activation: str = "lipswish",
        logdet: str = "exact",
        trace: str = "exact",
        n_terms: int = 10,
        n_exact_terms: int = 2,
        roulette_p: float | None = None,
        n_probes: int = 1,
        inverse_method: str = "anderson",
        inverse_tol: float | None = None,
        max_iterations: int = 500,
        power_iterations: int = 1,
    ) -> None:
        super().__init__()
        if (
            isinstance(coefficient, bool)
            or not isinstance(coefficient, (int, float))
            or not 0.0 < coefficient <= _MAX_COEFFICIENT
        ):
            raise ConfigError(
                f"IResNetBlock: the Lipschitz coefficient of g must lie in (0, "
                f"{_MAX_COEFFICIENT}] — received {coefficient!r} — a block x + g(x) is "
                f"invertible only when Lip(g) < 1; pass e.g. coefficient=0.9"
            )
        self.dim = require_int(dim, "dim", "IResNetBlock")
        self.coefficient = float(coefficient)
        self.logdet_method = _option(logdet, LOGDET_METHODS, "logdet")
        self.trace = _option(trace, _TRACES, "trace")
        self.inverse_method = _option(inverse_method, INVERSE_METHODS, "inverse_method")
        self.n_terms = require_int(n_terms, "n_terms", "IResNetBlock")
        self.n_exact_terms = require_int(n_exact_terms, "n_exact_terms", "IResNetBlock")
        self.n_probes = require_int(n_probes, "n_probes", "IResNetBlock")
        self.max_iterations = require_int(max_iterations, "max_iterations", "IResNetBlock")
        self.power_iterations = require_int(
            power_iterations, "power_iterations", "IResNetBlock", minimum=0
        )
        if roulette_p is None:
            roulette_p = min(0.5, 0.5 * (1.0 - self.coefficient**2))
        if (
            isinstance(roulette_p, bool)
            or not isinstance(roulette_p, float)
            or not (0.0 < roulette_p < 1.0)
        ):
            raise ConfigError(
                f"IResNetBlock: roulette_p must be a float in (0, 1) — received {roulette_p!r} "
                f"— pass e.g. roulette_p=0.5"
            )
        self.roulette_p = roulette_p
        if inverse_tol is not None and not (
            isinstance(inverse_tol, (int, float)) and inverse_tol > 0
        ):
            raise ConfigError(
                f"IResNetBlock: inverse_tol must be a positive number — received {inverse_tol!r}"
            )
        self.inverse_tol = inverse_tol
        #: The :class:`InverseResult` (residual, iterations) of the last ``inverse`` call, so
        #: that the residual of an inverse taken through the Bijection API is not lost.
        self.last_inverse: InverseResult | None = None
        self.g = LipschitzMLP(
            self.dim,
            require_int(hidden, "hidden", "IResNetBlock"),
            require_int(n_hidden, "n_hidden", "IResNetBlock"),
            self.coefficient,
            activation,
        )

    # -- structure -----------------------------------------------------------------------------

    @property
    def claims(self) -> tuple[Claim, ...]:
        """``Invertible`` when the certified ``Lip(g) < 1``; bi-Lipschitz when it is ``≤ c'``."""
        c = self.coefficient * (1.0 + _SLACK)
        return (
            Claim(
                Invertible(),
                AttributeBelow("lipschitz_bound", 1.0),
                "Banach fixed point: x ↦ z − g(x) contracts when Lip(g) < 1",
            ),
            Claim(
                BiLipschitz(1.0 + c, 1.0 / (1.0 - c)),
                AttributeAtMost("lipschitz_bound", c),
                "‖F(a)−F(b)‖ between (1−c)‖a−b‖ and (1+c)‖a−b‖ for F = id + g, Lip(g) ≤ c",
            ),
        )

    def lipschitz_bound(self) -> float:
        """Certified ``Lip(g)``: ``Π_l ‖W̃_l‖₂`` by exact singular values (activations 1-Lip)."""
        return self.g.lipschitz_bound()

    @property
    def uses_rng(self) -> bool:
        """Whether the log-determinant draws random numbers (roulette or Hutchinson)."""
        return self.logdet_method == "roulette" or (
            self.logdet_method == "series" and self.trace == "hutchinson"
        )

    def update_normalisation(self, iterations: int | None = None) -> None:
        """Advance the power iteration of every layer (default ``power_iterations`` steps)."""
        self.g.update(self.power_iterations if iterations is None else iterations)

    # -- forward -------------------------------------------------------------------------------

    def _check(self, x: Tensor, what: str) -> None:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ShapeError(
                f"IResNetBlock: {what} must have shape (batch, {self.dim}) — received "
                f"{tuple(x.shape)} — flatten the features or build the block with the right dim"
            )

    def log_abs_det(self, x: Tensor) -> Tensor:
        """``log|det(I + J_g(x))|`` per sample by the configured estimator."""
        if self.logdet_method == "exact":
            return exact_logdet(self.g, x)
        if self.logdet_method == "series":
            coefficients = series_coefficients(self.n_terms, x.dtype)
        else:
            coefficients = roulette_coefficients(self.n_exact_terms, self.roulette_p, x.dtype)
        probes, scale = make_probes(x, self.trace, self.n_probes)
        params = [p for p in self.g.parameters() if p.requires_grad]
        if not torch.is_grad_enabled():
            params = []
        return NeumannLogDet.apply(self.g, coefficients, probes, scale, x, *params)

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        self._check(x, "input")
        if self.training and not _recompute.active():
            self.update_normalisation()
        return x + self.g(x), self.log_abs_det(x)

    # -- inverse -------------------------------------------------------------------------------

    def default_tolerance(self, dtype: torch.dtype) -> float:
        """The inverse's residual tolerance for ``dtype`` (see ``inverse_tol``)."""
        if self.inverse_tol is not None:
            return float(self.inverse_tol)
        eps = torch.finfo(dtype).eps
        return max(0.1 * (1.0 - self.coefficient) * tolerance(dtype).exact, 50.0 * eps)

    def solve_inverse(
        self,
        z: Tensor,
        *,
        method: str | None = None,
        tol: float | None = None,
        max_iterations: int | None = None,
        raise_on_failure: bool = True,
    ) -> InverseResult:
        """Solve ``x + g(x) = z`` without gradients; the result carries residual and iterations.

        Raises:
            InverseError: not converged within ``max_iterations`` (``.residual`` holds it),
                unless ``raise_on_failure=False``.
        """
        self._check(z, "input of the inverse")
        return solve_residual_inverse(
            self.g,
            z,
            method=self.inverse_method if method is None else method,
            tol=self.default_tolerance(z.dtype) if tol is None else tol,
            max_iterations=self.max_iterations if max_iterations is None else max_iterations,
            raise_on_failure=raise_on_failure,
        )

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        result = self.solve_inverse(z)
        self.last_inverse = result
        x = result.x
        if torch.is_grad_enabled() and (
            z.requires_grad or any(p.requires_grad for p in self.g.parameters())
        ):
            x = _ImplicitInverse.attach(self, z, x)
        return x, -self.log_abs_det(x)


class _ImplicitInverse:
    """Gradient of ``x*(z, θ)`` defined by ``x* + g(x*) = z`` (implicit function theorem).

    ``dx* = (I + J)⁻¹(dz − ∂_θ g dθ)``: the value is ``x*``; the graph is that of
    ``t = z − g(x*)`` (``x*`` held fixed) with a hook mapping the incoming ``w`` to
    ``w̃ = (I + J)⁻ᵀ w``, found with the ``d×d`` Jacobian for small ``d`` and otherwise by the
    contraction ``w̃ ← w − Jᵀw̃``.
    """

    @staticmethod
    def attach(block: IResNetBlock, z: Tensor, x_star: Tensor) -> Tensor:
        fixed = x_star.detach()
        t = z - block.g(fixed)
        if not t.requires_grad:
            return fixed
        tol = block.default_tolerance(z.dtype)

        def adjoint(w: Tensor) -> Tensor:
            double_backward = torch.is_grad_enabled() and w.requires_grad
            if double_backward or fixed.shape[1] <= _DIRECT_ADJOINT_DIM:
                # Small d: one d×d solve beats ~log(tol)/log(c) contraction steps. Double
                # backward (a Jacobian-vector product as a vjp of a vjp) needs the map w ↦ w̃
                # differentiated as a whole, which the solve with the Jacobian gives.
                jac = batch_jacobian(block.g, fixed, create_graph=double_backward)
                eye = torch.eye(jac.shape[-1], dtype=jac.dtype, device=jac.device)
                system = (eye + jac).transpose(1, 2)
                with small_matrices():
                    return torch.linalg.solve(system, w.unsqueeze(-1)).squeeze(-1)
            with torch.enable_grad():
                leaf = fixed.clone().requires_grad_(True)
                out = block.g(leaf)
                w_tilde = w
                scale = 1.0 + float(w.abs().max())
                for _ in range(block.max_iterations):
                    (jt,) = torch.autograd.grad(out, leaf, w_tilde, retain_graph=True)
                    new = w - jt
                    change = float((new - w_tilde).abs().max())
                    w_tilde = new
                    if change <= tol * scale:
                        break
            return w_tilde.detach()

        t.register_hook(adjoint)
        return fixed + (t - t.detach())
