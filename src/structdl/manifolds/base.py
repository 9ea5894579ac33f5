"""The manifold contract: membership, projection, tangent spaces, retractions, transport.

A :class:`Manifold` describes a set of points embedded in a Euclidean space of tensors. A point
has ``point_ndim`` trailing axes (1 for vectors, 2 for matrices); every leading axis is a batch
of independent points, so one object serves a single weight, a batch of weights, or the rows of
a weight. All operations are differentiable torch code.

=====================  ================================================================
method                 meaning
=====================  ================================================================
``defect(x)``          per-point distance from the manifold in its own scale (e.g.
                       ``max|XᵀX − I|``), shape ``x.shape[:-point_ndim]``
``check_point(x)``     ``defect ≤ atol + rtol``; with ``explain=True`` a CheckResult
``project(x)``         the nearest point (or a canonical close one)
``proj_tangent(x, u)`` orthogonal projection of an ambient ``u`` onto ``T_xM``
``egrad_to_rgrad``     Riemannian gradient from the Euclidean one (embedded metric:
                       the tangent projection)
``retract(x, u)``      a map ``T_xM → M`` with ``R_x(0) = x``, ``dR_x(0) = id``
``transport(x, y, v)`` vector transport ``T_xM → T_yM`` (projection onto ``T_yM``)
``random_point``       a point drawn from a fixed distribution (seedable)
=====================  ================================================================

Every manifold declares, as data, that its projection and retractions land on it
(``claims``); :func:`structdl.structure.check_on_manifold` verifies it through ``distance``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from .._errors import ConfigError, NotOnManifoldError, ShapeError
from ..structure.declarations import ALWAYS, Claim
from ..structure.properties import OnManifold
from ..structure.result import CheckResult, tolerance

__all__ = ["Manifold"]


class Manifold(ABC):
    """Abstract embedded manifold (see the module docstring for the contract).

    Subclasses set ``point_ndim``, ``retractions`` (names, the first is the default) and
    implement ``_defect``, ``_project``, ``_proj_tangent`` and ``_retract_<name>`` for every
    retraction name. Public methods validate, private ones compute.
    """

    point_ndim: ClassVar[int] = 1
    retractions: ClassVar[tuple[str, ...]] = ()
    #: Whether matrix points must be tall (``n ≥ p``); ``constrain`` transposes wide weights.
    requires_tall: ClassVar[bool] = False

    def __init__(self, retraction: str | None = None) -> None:
        self.retraction = self._method(retraction)

    # ----------------------------------------------------------------- description
    @property
    def name(self) -> str:
        """A short name, used in reports and error messages."""
        return type(self).__name__

    def __repr__(self) -> str:
        return f"{self.name}(retraction={self.retraction!r})"

    @property
    def claims(self) -> tuple[Claim, ...]:
        """Projection and every retraction land on the manifold, by construction."""
        return (
            Claim(
                OnManifold(self),
                when=ALWAYS,
                reason=f"project and the retractions {list(self.retractions)} map onto "
                f"{self.name} (up to round-off)",
            ),
        )

    # ----------------------------------------------------------------- validation
    def _method(self, method: str | None) -> str:
        if method is None:
            return self.retractions[0]
        if method not in self.retractions:
            raise ConfigError(
                f"{self.name}: unknown retraction {method!r} — expected one of "
                f"{list(self.retractions)} — received {method!r} — pick one of those"
            )
        return method

    def validate_shape(self, x: Tensor, who: str = "point") -> None:
        """Raise :class:`ShapeError` unless ``x`` is a floating tensor with a point's axes."""
        if not isinstance(x, Tensor) or not x.is_floating_point():
            got = x.dtype if isinstance(x, Tensor) else type(x).__name__
            raise ShapeError(
                f"{self.name}: {who} must be a floating tensor — expected float32/float64 — "
                f"received {got} — convert with .float() or .double()"
            )
        if x.dim() < self.point_ndim:
            raise ShapeError(
                f"{self.name}: {who} has too few axes — expected at least {self.point_ndim} "
                f"trailing point axes — received shape {tuple(x.shape)} — reshape the tensor"
            )
        self._validate_point_shape(tuple(x.shape[x.dim() - self.point_ndim :]), who)

    def _validate_point_shape(self, shape: tuple[int, ...], who: str) -> None:  # noqa: B027
        """Subclass hook: check the trailing point shape (e.g. ``n ≥ p``); default: any."""

    # ----------------------------------------------------------------- membership
    @abstractmethod
    def _defect(self, x: Tensor) -> Tensor:
        """Per-point defect, shape ``x.shape[:-point_ndim]``, zero exactly on the manifold."""

    def defect(self, x: Tensor) -> Tensor:
        """Per-point distance from the manifold in its own scale (see each class)."""
        self.validate_shape(x)
        with torch.no_grad():
            return self._defect(x.detach())

    def distance(self, x: Tensor) -> Tensor:
        """The largest defect per entry of the first axis, shape ``(x.shape[0],)``.

        The form :func:`structdl.structure.check_on_manifold` reads; a single point (no batch
        axis) is treated as a batch of one.
        """
        d = self.defect(x)
        return d.reshape(1) if d.dim() == 0 else d.reshape(d.shape[0], -1).amax(dim=1)

    def check_point(
        self,
        x: Tensor,
        *,
        atol: float | None = None,
        rtol: float = 0.0,
        explain: bool = False,
    ) -> bool | CheckResult:
        """Whether every point of ``x`` lies on the manifold: ``defect ≤ atol + rtol``.

        Defects are measured in the manifold's own scale (a unit norm, an identity Gram
        matrix), so ``rtol`` is an extra relative slack added to ``atol``.

        Args:
            x: points, shape ``(…, *point_shape)``.
            atol: absolute bound; default ``structure.tolerance(x.dtype).manifold``.
            rtol: relative slack (default 0).
            explain: return a :class:`~structdl.structure.CheckResult` whose ``reason`` says
                what was measured and which point is worst, instead of a bool.
        """
        self.validate_shape(x)
        limit = (tolerance(x.dtype).manifold if atol is None else float(atol)) + float(rtol)
        d = self.defect(x).reshape(-1).to(torch.float64)
        d = torch.where(torch.isnan(d), torch.full_like(d, float("inf")), d)
        worst = float(d.max()) if d.numel() else 0.0
        ok = worst <= limit
        if not explain:
            return ok
        where = int(d.argmax()) if d.numel() else 0
        verdict = "holds" if ok else "VIOLATED"
        return CheckResult(
            ok,
            worst,
            f"membership of {self.name} {verdict}: {self._defect_words} = {worst:.3g} "
            f"{'≤' if ok else '>'} {limit:.3g} over {d.numel()} point(s) (worst at flat index "
            f"{where}, shape {tuple(x.shape)})",
        )

    #: What ``defect`` measures, in words (for explanations).
    _defect_words: ClassVar[str] = "defect"

    def assert_point(self, x: Tensor, who: str = "point", *, atol: float | None = None) -> None:
        """Raise :class:`NotOnManifoldError` naming the manifold unless ``x`` lies on it."""
        result = self.check_point(x, atol=atol, explain=True)
        if not result:
            raise NotOnManifoldError(
                f"{who} is not on {self.name} — expected {self._expected} — received "
                f"{result.reason} — project it first with {self.name}().project(x)"
            )

    #: The defining equations, for error messages.
    _expected: ClassVar[str] = "a point of the manifold"

    # ----------------------------------------------------------------- geometry
    @abstractmethod
    def _project(self, x: Tensor) -> Tensor: ...

    def project(self, x: Tensor) -> Tensor:
        """The nearest point of the manifold (differentiable)."""
        self.validate_shape(x)
        return self._project(x)

    def __call__(self, x: Tensor) -> Tensor:
        """Calling a manifold projects onto it (so that it is a map with an OnManifold claim)."""
        return self.project(x)

    @abstractmethod
    def _proj_tangent(self, x: Tensor, u: Tensor) -> Tensor: ...

    def proj_tangent(self, x: Tensor, u: Tensor) -> Tensor:
        """Orthogonal projection of the ambient vector ``u`` onto the tangent space at ``x``."""
        self._validate_pair(x, u)
        return self._proj_tangent(x, u)

    def egrad_to_rgrad(self, x: Tensor, grad: Tensor) -> Tensor:
        """Riemannian gradient of the manifold's metric from a Euclidean gradient ``grad``."""
        self._validate_pair(x, grad)
        return self._egrad_to_rgrad(x, grad)

    def _egrad_to_rgrad(self, x: Tensor, grad: Tensor) -> Tensor:
        # Embedded (Euclidean) metric: the Riemannian gradient is the tangent projection.
        return self._proj_tangent(x, grad)

    def inner(self, x: Tensor, u: Tensor, v: Tensor) -> Tensor:
        """Riemannian inner product ``⟨u, v⟩_x`` per point (embedded metric: sum of products)."""
        dims = tuple(range(-self.point_ndim, 0))
        return (u * v).sum(dim=dims)

    def retract(self, x: Tensor, u: Tensor, method: str | None = None) -> Tensor:
        """``R_x(u)``: a point of the manifold with ``R_x(0) = x`` and ``dR_x(0) = id``.

        Args:
            x: base points. u: tangent vectors at ``x`` (same shape).
            method: a name in ``retractions``; default the manifold's ``retraction``.
        """
        self._validate_pair(x, u)
        return self._retract(x, u, self._method(method) if method else self.retraction)

    def _retract(self, x: Tensor, u: Tensor, method: str) -> Tensor:
        return getattr(self, f"_retract_{method}")(x, u)

    def _retract_ambient(self, x: Tensor, u: Tensor, method: str) -> Tensor:
        """``R_x(P_x u)`` for an ambient ``u`` (optimisers' steps leave the tangent space).

        A retraction that reads ``u`` only through its tangent part overrides this to skip
        the projection.
        """
        return self._retract(x, self._proj_tangent(x, u), method)

    def transport(self, x: Tensor, y: Tensor, v: Tensor) -> Tensor:
        """Vector transport of ``v ∈ T_xM`` to ``T_yM`` (projection onto ``T_yM``)."""
        self._validate_pair(x, v)
        self._validate_pair(y, v)
        return self._transport(x, y, v)

    def _transport(self, x: Tensor, y: Tensor, v: Tensor) -> Tensor:
        return self._proj_tangent(y, v)

    def _validate_pair(self, x: Tensor, u: Tensor) -> None:
        self.validate_shape(x)
        if not isinstance(u, Tensor) or u.shape != x.shape:
            got = tuple(u.shape) if isinstance(u, Tensor) else type(u).__name__
            raise ShapeError(
                f"{self.name}: a tangent vector must have its point's shape — expected "
                f"{tuple(x.shape)} — received {got} — pass a tensor shaped like the point"
            )

    # ----------------------------------------------------------------- sampling
    def random_point(
        self,
        *shape: int,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
    ) -> Tensor:
        """A random point of the given full shape ``(…, *point_shape)`` (seedable)."""
        full = _shape(shape)
        x = torch.randn(full, generator=generator, dtype=dtype, device=device)
        self.validate_shape(x, "random_point shape")
        return self._random_from_gaussian(x)

    def _random_from_gaussian(self, x: Tensor) -> Tensor:
        return self._project(x)

    def random_tangent(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """A random tangent vector at ``x`` (a projected Gaussian)."""
        self.validate_shape(x)
        u = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return self._proj_tangent(x, u)

    # ----------------------------------------------------------------- parametrisation
    def from_unconstrained(self, z: Tensor) -> Tensor:
        """The map from an unconstrained tensor to the manifold used by ``constrain``."""
        return self._project(z)

    def to_unconstrained(self, x: Tensor) -> Tensor:
        """A right inverse of :meth:`from_unconstrained` on the manifold."""
        return x


def _shape(shape: Sequence[Any]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)):
        shape = tuple(shape[0])
    if not shape or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ShapeError(
            f"random_point: invalid shape — expected positive ints such as (3,) or (5, 2) — "
            f"received {tuple(shape)} — pass the full point shape"
        )
    return tuple(shape)
