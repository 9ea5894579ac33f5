"""A learned vector field and an integrator as one map ``z ↦ Φ_h^k(z)``, structure derived.

The field says *what* flows (a learned Hamiltonian, a port-Hamiltonian field, an MLP), the
integrator *how* it is discretised; :class:`FlowMap` composes ``steps`` integrator steps of
size ``h`` into a module on flat states ``z = (q, p)`` and declares, as ``claims``, exactly what
:func:`structdl.structure.guarantees` derives for the pair — Störmer–Verlet on a separable
Hamiltonian network is symplectic for every parameter value; RK4 on an MLP field claims nothing.
Training through it puts the integrator in the loop (multi-step rollout losses, see
:mod:`structdl.dynamics.learning.training`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..._errors import ConfigError, IncompatibleSchemeError
from ...structure._validate import require_int
from ...structure.declarations import Claim
from ._validate import check_flat, positive_float

__all__ = ["FlowMap"]


def _is_pair_field(field: nn.Module) -> bool:
    return "partitioned" in getattr(field, "kinds", frozenset())


class FlowMap(nn.Module):
    """``Φ(z) = (φ_h)^steps(z)``: ``steps`` integrator steps of size ``h`` on a learned field.

    States are flat ``(batch, 2d)`` tensors ``z = (q, p)``; a partitioned field receives the
    pair ``(q, p)``. The structure is the integrator's on the field (symplectic, volume
    preserving, reversible, dissipative …), derived by :func:`structdl.structure.guarantees`
    and exposed as ``claims``; a composition of ``steps`` such maps keeps each of them.

    Args:
        field: a vector field of :mod:`structdl.dynamics` (or of this package).
        integrator: an integrator instance compatible with ``field``.
        h: step size.
        steps: integrator steps per call.

    Raises:
        IncompatibleSchemeError: the integrator cannot integrate the field.

    Example:
        >>> import torch
        >>> from structdl.dynamics import StormerVerlet
        >>> from structdl.dynamics.learning import SeparableHamiltonianNN
        >>> from structdl.structure import Symplectic, check_symplectic, guarantees
        >>> step = FlowMap(SeparableHamiltonianNN(1, width=8), StormerVerlet(), 0.1).double()
        >>> Symplectic() in guarantees(step)
        True
        >>> check_symplectic(step, torch.randn(4, 2, dtype=torch.float64)).ok
        True
    """

    def __init__(self, field: nn.Module, integrator: Any, h: float, steps: int = 1) -> None:
        super().__init__()
        if not isinstance(field, nn.Module) or not hasattr(field, "kinds"):
            raise IncompatibleSchemeError(
                f"FlowMap: field must be a vector field — expected an nn.Module declaring "
                f"`kinds` — received {type(field).__name__} — pass e.g. HamiltonianNN(1)"
            )
        if isinstance(integrator, type) or not callable(getattr(integrator, "step", None)):
            raise ConfigError(
                f"FlowMap: integrator must be an integrator instance — expected e.g. "
                f"StormerVerlet() — received {integrator!r} — instantiate it"
            )
        self.field = field
        self.integrator = integrator
        self.h = positive_float(h, "h", "FlowMap")
        self.steps = require_int(steps, "steps", "FlowMap")
        self._derive()  # checks compatibility before any computation
        self.dim = getattr(field, "dim", None)

    def _derive(self) -> frozenset[Any]:
        from ...structure import guarantees

        return guarantees(self.field, self.integrator, self.h)

    @property
    def claims(self) -> tuple[Claim, ...]:
        """One claim per property of one step, as :func:`structure.guarantees` derives it.

        Derived on every access, from the current parameters and dtype (a learned dissipation
        matrix is classified anew after training or after ``.double()``).
        """
        who = f"{type(self.integrator).__name__} on {type(self.field).__name__}"
        return tuple(
            Claim(tag, reason=f"derived for {who} with h={self.h:g} (composition keeps it)")
            for tag in sorted(self._derive(), key=repr)
        )

    def _split(self, z: Tensor) -> Any:
        if _is_pair_field(self.field):
            d = z.shape[1] // 2
            return z[:, :d], z[:, d:]
        return z

    @staticmethod
    def _join(y: Any) -> Tensor:
        return torch.cat(y, dim=1) if isinstance(y, tuple) else y

    def _width(self) -> int:
        return 2 * self.dim if isinstance(self.dim, int) else -1

    def forward(self, z: Tensor) -> Tensor:
        """``Φ(z)``, shape ``(batch, 2d)``."""
        return self.step(z, self.h)

    def step(self, z: Tensor, h: float) -> Tensor:
        """``steps`` integrator steps of size ``h`` (negative ``h`` runs backwards in time).

        With a symmetric integrator ``step(step(z, h), −h) = z``: the reversibility check.
        """
        if isinstance(self.dim, int):
            check_flat(z, self._width(), "FlowMap")
        y = self._split(z)
        # The first step validates (compatibility, step size, finite state); the following
        # ones start from its checked output, so they take the integrator's unchecked path.
        y = self.integrator.step(self.field, 0.0, y, h)
        advance = getattr(self.integrator, "advance", self.integrator.step)
        for k in range(1, self.steps):
            y = advance(self.field, k * h, y, h)
        return self._join(y)

    def inverse(self, z: Tensor) -> Tensor:
        """``Φ⁻¹(z)`` by the integrator's exact inverse step (symmetric methods: ``−h``)."""
        has_inverse = getattr(self.integrator, "has_inverse", None)
        if not callable(has_inverse) or not has_inverse():
            raise ConfigError(
                f"FlowMap.inverse: {type(self.integrator).__name__} has no exact inverse step "
                f"— expected a symplectic splitting or symmetric method — received one without "
                f"— use StormerVerlet, Yoshida4 or ImplicitMidpoint"
            )
        if isinstance(self.dim, int):
            check_flat(z, self._width(), "FlowMap")
        y = self._split(z)
        for k in reversed(range(self.steps)):
            y = self.integrator.inverse_step(self.field, k * self.h, y, self.h)
        return self._join(y)

    def rollout(self, z: Tensor, n: int) -> Tensor:
        """States ``z, Φ(z), …, Φⁿ(z)``, shape ``(batch, n + 1, 2d)``."""
        states = [z]
        for _ in range(require_int(n, "n", "FlowMap.rollout")):
            states.append(self(states[-1]))
        return torch.stack(states, dim=1)

    def energy(self, z: Tensor) -> Tensor:
        """The field's energy on flat states (for energy checks), shape ``(batch,)``."""
        flat = getattr(self.field, "flat_energy", None)
        if callable(flat):
            return flat(z)
        energy = getattr(self.field, "energy", None)
        if not callable(energy):
            raise ConfigError(
                f"FlowMap.energy: {type(self.field).__name__} has no energy — expected a "
                f"Hamiltonian or energy field — received one without — check another property"
            )
        y = self._split(z)
        return energy(*y) if isinstance(y, tuple) else energy(y)
