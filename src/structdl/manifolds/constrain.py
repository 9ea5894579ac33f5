"""Two ways to keep a parameter on a manifold: a parametrisation, or a tagged parameter.

``constrain(module, "weight", Stiefel())`` registers a :mod:`torch.nn.utils.parametrize`
parametrisation: the module stores an unconstrained tensor ``Z`` and every access to
``module.weight`` returns ``M.from_unconstrained(Z)`` (``qf(Z)`` on Stiefel, ``Z/‖Z‖`` on the
sphere, ``expm(sym Z)`` on SPD), so *any* torch optimiser trains on the manifold. Assigning
``module.weight = W`` goes through the right inverse, which rejects a point off the manifold.

:class:`ManifoldParameter` (or :func:`attach` on an existing parameter) instead records the
manifold on the parameter itself; :class:`~structdl.optim.RiemannianSGD` and
:class:`~structdl.optim.RiemannianAdam` read it and step along the manifold.

Weights with more than two axes (convolution kernels ``(out, in, kh, kw)``) are viewed as the
matrix ``(out, in·kh·kw)``; a wide matrix on a manifold of tall frames (Stiefel, Grassmann) is
transposed, so that an orthogonal convolution has orthonormal flattened filters.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .._errors import ConfigError, ShapeError
from ..structure.declarations import ALWAYS, Claim
from ..structure.properties import OnManifold
from .base import Manifold

__all__ = ["ManifoldParameter", "OnManifoldParametrization", "attach", "constrain"]

_INITS = ("project", "random", "keep")


def _require_manifold(manifold: Any, who: str) -> Manifold:
    if not isinstance(manifold, Manifold):
        raise ConfigError(
            f"{who}: `manifold` must be a structdl manifold — expected e.g. Stiefel() or "
            f"Sphere() — received {type(manifold).__name__} — pass an instance"
        )
    return manifold


class OnManifoldParametrization(nn.Module):
    """``Z ↦ M.from_unconstrained(view(Z))``, with a checked right inverse.

    The parametrisation registered by :func:`constrain`. ``view`` flattens kernels to matrices
    and transposes wide matrices for tall-frame manifolds; outputs have the parameter's shape.

    Args:
        manifold: the manifold.
        shape: the parameter's shape.
    """

    def __init__(self, manifold: Manifold, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.manifold = _require_manifold(manifold, "OnManifoldParametrization")
        self.shape = tuple(shape)
        self.flatten = len(self.shape) > 2
        rows = self.shape[0] if self.shape else 1
        cols = int(torch.Size(self.shape[1:]).numel()) if len(self.shape) > 1 else 0
        self.transpose = bool(manifold.requires_tall and len(self.shape) >= 2 and rows < cols)
        manifold.validate_shape(torch.empty(self.matrix_shape, device="meta"), "the weight")

    @property
    def matrix_shape(self) -> tuple[int, ...]:
        """The shape of the point the manifold sees (flattened and possibly transposed)."""
        shape = (
            (self.shape[0], int(torch.Size(self.shape[1:]).numel())) if self.flatten else self.shape
        )
        return tuple(reversed(shape)) if self.transpose else tuple(shape)

    @property
    def claims(self) -> tuple[Claim, ...]:
        """The weight lies on the manifold for every unconstrained tensor."""
        return (
            Claim(
                OnManifold(self.manifold),
                when=ALWAYS,
                reason=f"the weight is {self.manifold.name}.from_unconstrained(Z)",
            ),
        )

    def to_point(self, weight: Tensor) -> Tensor:
        """The manifold's view of a weight: flattened, and transposed when wide."""
        m = weight.reshape(self.shape[0], -1) if self.flatten else weight
        return m.transpose(-1, -2) if self.transpose else m

    def from_point(self, point: Tensor) -> Tensor:
        """The inverse of :meth:`to_point`."""
        m = point.transpose(-1, -2) if self.transpose else point
        return m.reshape(self.shape) if self.flatten else m

    def forward(self, z: Tensor) -> Tensor:
        """The constrained weight."""
        return self.from_point(self.manifold.from_unconstrained(self.to_point(z)))

    def right_inverse(self, weight: Tensor) -> Tensor:
        """An unconstrained tensor mapping to ``weight``; raises if ``weight`` is off the manifold.

        Raises:
            NotOnManifoldError: ``weight`` is not on the manifold (names the defining equations).
        """
        point = self.to_point(weight)
        self.manifold.assert_point(point, "the assigned weight")
        return self.from_point(self.manifold.to_unconstrained(point))


def constrain(
    module: nn.Module,
    name: str,
    manifold: Manifold,
    *,
    init: str = "project",
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Keep ``module.<name>`` on ``manifold`` through a parametrisation (any optimiser works).

    Args:
        module: the module owning the parameter.
        name: the parameter's name (``"weight"``).
        manifold: e.g. ``Stiefel()``, ``Sphere()``, ``SpecialOrthogonal()``, ``SPD()``.
        init: ``"project"`` (default) moves the current value to the nearest point;
            ``"random"`` draws a point (``manifold.random_point``); ``"keep"`` requires the
            current value to be on the manifold already.
        generator: random generator for ``init="random"``.

    Returns:
        ``module``, with ``module.<name>`` now parametrised.

    Raises:
        ConfigError: an unknown parameter, ``init`` or manifold.
        ShapeError: a weight that cannot be a point (e.g. a non-square SO(n) weight).
        NotOnManifoldError: ``init="keep"`` with a value off the manifold, or a later
            ``module.<name> = W`` with ``W`` off the manifold.

    Example:
        >>> import torch
        >>> from structdl.manifolds import Stiefel
        >>> layer = constrain(torch.nn.Linear(8, 3), "weight", Stiefel())
        >>> w = layer.weight  # (3, 8): orthonormal rows (the transposed frame is tall)
        >>> bool(torch.allclose(w @ w.T, torch.eye(3), atol=1e-5))
        True
    """
    manifold = _require_manifold(manifold, "constrain")
    if init not in _INITS:
        raise ConfigError(
            f"constrain: unknown init {init!r} — expected one of {list(_INITS)} — received "
            f"{init!r} — use init='project'"
        )
    param = getattr(module, name, None) if isinstance(name, str) else None
    if not isinstance(param, Tensor):
        raise ConfigError(
            f"constrain: {type(module).__name__} has no tensor `{name}` — expected the name of "
            f"a parameter — received {name!r} — see module.named_parameters()"
        )
    if not param.is_floating_point():
        raise ShapeError(
            f"constrain: `{name}` has dtype {param.dtype} — expected a floating tensor — "
            f"received {param.dtype} — convert the module with .float() or .double()"
        )
    parametrization = OnManifoldParametrization(manifold, tuple(param.shape))
    with torch.no_grad():
        if init == "project":
            point = manifold.project(parametrization.to_point(param.detach()))
            param.copy_(parametrization.from_point(point))
        elif init == "random":
            point = manifold.random_point(
                parametrization.matrix_shape,
                generator=generator,
                dtype=param.dtype,
                device=param.device,
            )
            param.copy_(parametrization.from_point(point))
    parametrize.register_parametrization(module, name, parametrization)
    return module


class ManifoldParameter(nn.Parameter):
    """A parameter that knows its manifold; Riemannian optimisers step along it.

    Args:
        data: the initial point (checked to lie on ``manifold``).
        manifold: the manifold.
        requires_grad: as for :class:`torch.nn.Parameter`.

    Raises:
        NotOnManifoldError: ``data`` is not on the manifold.

    Example:
        >>> import torch
        >>> from structdl.manifolds import Sphere
        >>> s = Sphere()
        >>> w = ManifoldParameter(s.random_point(3), s)
        >>> w.manifold.name
        'Sphere'
    """

    manifold: Manifold

    def __new__(
        cls,
        data: Tensor,
        manifold: Manifold,
        requires_grad: bool = True,  # noqa: FBT001, FBT002  (nn.Parameter's own signature)
    ) -> ManifoldParameter:
        manifold = _require_manifold(manifold, "ManifoldParameter")
        manifold.assert_point(data, "ManifoldParameter data")
        instance = super().__new__(cls, data, requires_grad)
        instance.manifold = manifold
        return instance

    def __repr__(self) -> str:
        return f"ManifoldParameter on {self.manifold!r}:\n{super().__repr__()}"

    def __reduce_ex__(self, proto: int) -> Any:
        return _rebuild, (self.data, self.manifold, self.requires_grad)

    def __deepcopy__(self, memo: dict[int, Any]) -> ManifoldParameter:
        copied = type(self)(self.data.clone(memory_format=torch.preserve_format), self.manifold)
        copied.requires_grad_(self.requires_grad)
        memo[id(self)] = copied
        return copied


def _rebuild(data: Tensor, manifold: Manifold, requires_grad: bool) -> ManifoldParameter:  # noqa: FBT001
    return ManifoldParameter(data, manifold, requires_grad)


def attach(parameter: Tensor, manifold: Manifold, *, check: bool = True) -> Tensor:
    """Record ``manifold`` on an existing parameter (``parameter.manifold``), in place.

    Args:
        parameter: a tensor or parameter, already on the manifold.
        manifold: the manifold.
        check: verify membership first (default).

    Raises:
        NotOnManifoldError: ``check`` and the value is off the manifold.
    """
    manifold = _require_manifold(manifold, "attach")
    if check:
        manifold.assert_point(parameter.detach(), "the attached parameter")
    parameter.manifold = manifold
    return parameter
