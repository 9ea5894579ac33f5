"""The unstructured baseline: an MLP vector field ``ż = f_θ(z)`` (claims nothing)."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from ..._errors import ShapeError
from ...structure._validate import require_int
from ...structure.declarations import Claim
from .._base import VectorField
from ._validate import check_flat

__all__ = ["MLPField"]


class MLPField(VectorField):
    """``ż = W₃ σ(W₂ σ(W₁ z + b₁) + b₂)``: a plain network vector field on flat states.

    The baseline that Hamiltonian networks are compared with (the "baseline NN" of Greydanus
    et al. 2019: two tanh hidden layers, orthogonal initial weights, no output bias). It has no
    structure, so it declares none (``claims = ()``); a symplectic integrator does not make its
    steps symplectic, which the structure checks show (negative control).

    Args:
        dim: degrees of freedom ``d`` (states are ``(batch, 2d)``).
        width: hidden width.
        depth: hidden layers.

    Example:
        >>> import torch
        >>> field = MLPField(1, width=16)
        >>> tuple(field(0.0, torch.zeros(3, 2)).shape)
        (3, 2)
    """

    kinds: ClassVar[frozenset[str]] = frozenset({"general"})
    claims: ClassVar[tuple[Claim, ...]] = ()

    def __init__(self, dim: int, width: int = 200, depth: int = 2) -> None:
        super().__init__()
        self.dim = require_int(dim, "dim", "MLPField")
        depth = require_int(depth, "depth", "MLPField")
        width = require_int(width, "width", "MLPField")
        sizes = [2 * dim] + [width] * depth
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.Tanh()]
        layers.append(nn.Linear(width, 2 * dim, bias=False))
        self.net = nn.Sequential(*layers)
        for module in self.net:
            if isinstance(module, nn.Linear):
                nn.init.orthogonal_(module.weight)

    def forward(self, t: float | Tensor, z: Tensor) -> Tensor:
        """``f_θ(z)`` on flat states ``(batch, 2d)``."""
        if isinstance(z, tuple):
            raise ShapeError(
                "MLPField: wrong state — expected one flat (batch, 2d) tensor — received a pair "
                "— concatenate q and p along dim 1"
            )
        return self.net(check_flat(z, 2 * self.dim, self.name))

    def time_derivative(self, z: Tensor) -> Tensor:
        """Same as ``forward(0, z)``."""
        return self.forward(0.0, z)
