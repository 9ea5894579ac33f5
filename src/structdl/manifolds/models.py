"""Manifold-based models: a neural ODE on the sphere, and an orthogonal RNN.

:class:`SphereODE` integrates ``y' = ξ(y)·y`` with ``ξ(y) = y N(y)ᵀ − N(y) yᵀ ∈ so(n)`` by the
Lie-group integrators of :mod:`structdl.dynamics` (Lie–Euler, Runge–Kutta–Munthe-Kaas): every
update is ``y ← exp(u)·y`` with ``u`` skew, so features stay on ``S^{n−1}`` for every step
size (Lou et al. 2020; Celledoni, Marthinsen & Owren 2003).

:class:`OrthogonalRNN` keeps its recurrent matrix on ``SO(n)`` (or ``O(n)``), so that
``‖W h‖ = ‖h‖``: gradients through time neither explode nor vanish from the linear part
(Arjovsky, Shah & Bengio 2016; Lezcano-Casado & Martínez-Rubio 2019).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from .._errors import ConfigError, ShapeError
from ..dynamics import RKMK, LieEuler, VectorField
from ..structure.declarations import ALWAYS, Claim
from ..structure.properties import OnManifold
from .constrain import ManifoldParameter, constrain
from .sphere import Sphere
from .stiefel import SpecialOrthogonal, Stiefel

__all__ = ["OrthogonalRNN", "SphereField", "SphereODE"]


class SphereField(VectorField):
    """``f(y) = ξ(y) y`` on ``S^{n−1}`` with ``ξ(y) = y N(y)ᵀ − N(y) yᵀ`` skew (``so(n)``).

    ``N`` is a two-layer tanh network ``Rⁿ → Rⁿ``. Kind ``"lie"``: exposes ``xi`` (a
    ``(batch, n, n)`` matrix) and ``act(g, y) = g y``.

    Args:
        dim: n. width: hidden width of N.
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"general", "lie"})

    def __init__(self, dim: int, width: int = 32) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise ConfigError(f"SphereField: dim must be an int ≥ 2, got {dim!r}")
        self.dim = dim
        self.net = nn.Sequential(nn.Linear(dim, width), nn.Tanh(), nn.Linear(width, dim))

    def xi(self, t: float | Tensor, y: Tensor) -> Tensor:
        """The algebra element ``y Nᵀ − N yᵀ``, shape ``(batch, n, n)``."""
        n_y = self.net(y)
        outer = y.unsqueeze(-1) * n_y.unsqueeze(-2)
        return outer - outer.transpose(-1, -2)

    @staticmethod
    def act(g: Tensor, y: Tensor) -> Tensor:
        """``g y`` for a batch of matrices and vectors."""
        return (g @ y.unsqueeze(-1)).squeeze(-1)

    def forward(self, t: float | Tensor, y: Tensor) -> Tensor:
        """``ξ(y) y``."""
        return self.act(self.xi(t, y), y)


class SphereODE(nn.Module):
    """A neural ODE on ``S^{n−1}``: ``steps`` Lie-group integrator steps of a :class:`SphereField`.

    Args:
        dim: n (inputs are projected onto the sphere first).
        width: hidden width of the field's network.
        steps: number of steps over ``[0, T]``.
        T: final time.
        method: ``"rkmk4"`` (default), ``"rkmk2"`` or ``"lie_euler"``.

    Example:
        >>> import torch
        >>> ode = SphereODE(4, steps=3).double()
        >>> y = ode(torch.randn(5, 4, dtype=torch.float64))
        >>> bool(((y.norm(dim=1) - 1).abs() < 1e-12).all())
        True
    """

    METHODS: ClassVar[tuple[str, ...]] = ("rkmk4", "rkmk2", "lie_euler")

    def __init__(
        self, dim: int, width: int = 32, steps: int = 4, T: float = 1.0, method: str = "rkmk4"
    ) -> None:
        super().__init__()
        if method not in self.METHODS:
            raise ConfigError(
                f"SphereODE: unknown method {method!r} — expected one of {list(self.METHODS)} — "
                f"received {method!r} — use 'rkmk4'"
            )
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"SphereODE: steps must be an int ≥ 1, got {steps!r}")
        self.field = SphereField(dim, width)
        self.integrator = {
            "rkmk4": RKMK(4),
            "rkmk2": RKMK(2),
            "lie_euler": LieEuler(),
        }[method]
        self.steps, self.T, self.sphere = steps, float(T), Sphere()

    @property
    def manifold(self) -> Sphere:
        """The manifold of the outputs."""
        return self.sphere

    claims = (
        Claim(
            OnManifold("sphere"),
            when=ALWAYS,
            reason="every step is y ← exp(u)·y with u ∈ so(n): rotations keep ‖y‖ = 1",
        ),
    )

    def forward(self, x: Tensor) -> Tensor:
        """Project ``x`` (batch, n) onto the sphere, then integrate from 0 to T."""
        if x.dim() != 2 or x.shape[1] != self.field.dim:
            raise ShapeError(
                f"SphereODE: input has shape {tuple(x.shape)} — expected (batch, "
                f"{self.field.dim}) — reshape the input"
            )
        y = self.sphere.project(x)
        h = self.T / self.steps
        for k in range(self.steps):
            y = self.integrator.step(self.field, k * h, y, h)
        return y


class OrthogonalRNN(nn.Module):
    """``h_{t+1} = tanh(W h_t + U x_t + b)`` with ``W`` orthogonal; a linear read-out.

    ``mode="parametrize"`` keeps ``W ∈ SO(n)`` through :func:`~structdl.manifolds.constrain`
    (any torch optimiser); ``mode="riemannian"`` stores ``W`` as a
    :class:`~structdl.manifolds.ManifoldParameter` on ``Stiefel(retraction)`` (square: ``O(n)``)
    for :class:`~structdl.optim.RiemannianSGD` / :class:`~structdl.optim.RiemannianAdam`;
    ``mode="free"`` is an unconstrained baseline.

    Args:
        input_size, hidden_size, output_size: sizes.
        mode: ``"parametrize"``, ``"riemannian"`` or ``"free"``.
        retraction: for ``mode="riemannian"``.

    Example:
        >>> import torch
        >>> rnn = OrthogonalRNN(3, 8, 2)
        >>> rnn(torch.randn(5, 7, 3)).shape  # (batch, time, features) -> (batch, outputs)
        torch.Size([5, 2])
    """

    MODES: ClassVar[tuple[str, ...]] = ("parametrize", "riemannian", "free")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        mode: str = "parametrize",
        retraction: str = "cayley",
        all_outputs: bool = False,
    ) -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ConfigError(
                f"OrthogonalRNN: unknown mode {mode!r} — expected one of {list(self.MODES)} — "
                f"received {mode!r} — use 'parametrize'"
            )
        self.mode, self.hidden_size, self.all_outputs = mode, hidden_size, all_outputs
        self.input = nn.Linear(input_size, hidden_size)
        self.readout = nn.Linear(hidden_size, output_size)
        start = SpecialOrthogonal().random_point(hidden_size, hidden_size)
        if mode == "riemannian":
            self.manifold = Stiefel(retraction)
            self.recurrent = ManifoldParameter(start, self.manifold)
        else:
            self.recurrent = nn.Parameter(start)
            self.manifold = SpecialOrthogonal()
            if mode == "parametrize":
                constrain(self, "recurrent", self.manifold, init="keep")

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(batch, time, input_size)`` → outputs of the last step (or of every step)."""
        if x.dim() != 3:
            raise ShapeError(
                f"OrthogonalRNN: input has shape {tuple(x.shape)} — expected (batch, time, "
                f"features) — add the missing axes"
            )
        w = self.recurrent
        drive = self.input(x)
        h = torch.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
        outputs = []
        for t in range(x.shape[1]):
            h = torch.tanh(h @ w.T + drive[:, t])
            if self.all_outputs:
                outputs.append(self.readout(h))
        return torch.stack(outputs, dim=1) if self.all_outputs else self.readout(h)
