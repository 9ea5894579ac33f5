"""The state–costate map of one layer, as an object that declares its symplecticity.

Discretise-then-optimise pairs a Runge–Kutta method ``(A, b)`` for the state with its adjoint
``(Ā, b)``, ``ā_ij = b_j − b_j a_ji / b_i``, for the costate. The pair satisfies
``b_i ā_ij + b_j a_ji = b_i b_j`` and ``b̄ = b``: the condition for a partitioned Runge–Kutta
method to be symplectic (Sanz-Serna 1988). So the one-step map
``(z_k, λ_k) ↦ (z_{k+1}, λ_{k+1})`` preserves ``dz ∧ dλ``; equivalently ``λ_k = DΦ(z_k)ᵀ λ_{k+1}``
holds exactly, the cotangent lift of ``Φ``. :class:`StateCostateStep` evaluates this map from
the method (the adjoint step is linear in ``λ_{k+1}``, so it is solved by one small linear
solve per sample) and declares ``Symplectic`` when its costate rule is the adjoint one; with
``rule="forward"`` the costate is advanced by the state's own tableau ``A`` instead, which is
not the adjoint, and the map is not symplectic (the negative control).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._errors import ConfigError, ShapeError
from ..dynamics import ODENet
from ..structure.declarations import AttributeEquals, Claim
from ..structure.properties import Symplectic
from ._stages import adjoint_step, as_parts, forward_step
from .methods import stage_method
from .pontryagin import _partitioned

__all__ = ["RULES", "StateCostateStep"]

#: Costate rules: the adjoint tableau (symplectic), or the state's own tableau (not).
RULES = ("adjoint", "forward")


class StateCostateStep:
    """``(z_k, λ_k) ↦ (z_{k+1}, λ_{k+1})`` of layer ``k`` on flat points ``(n, 2d)``.

    For a partitioned state ``z = (q, p)`` the flat point is ``(q, p, λ_q, λ_p)``.

    Args:
        net: an :class:`~structdl.dynamics.ODENet` with a Runge–Kutta integrator.
        k: the layer.
        rule: ``"adjoint"`` (the discrete adjoint: symplectic) or ``"forward"`` (negative
            control: the costate advanced with the state's tableau).

    Example:
        >>> from structdl.dynamics import ODENet, Residual, RungeKutta
        >>> from structdl.structure import check_symplectic, guarantees
        >>> net = ODENet([Residual(2) for _ in range(2)], RungeKutta("rk4")).double()
        >>> step = StateCostateStep(net, 0)
        >>> Symplectic() in guarantees(step)
        True
        >>> bool(check_symplectic(step, torch.randn(3, 4, dtype=torch.float64), atol=1e-12))
        True
    """

    claims = (
        Claim(
            Symplectic(),
            when=AttributeEquals("rule", "adjoint"),
            reason="the state tableau (A, b) and the adjoint (Ā, b) with ā_ij = b_j − b_j a_ji/b_i"
            " satisfy b_i ā_ij + b_j a_ji = b_i b_j: a symplectic partitioned Runge–Kutta pair",
        ),
    )

    def __init__(self, net: ODENet, k: int, rule: str = "adjoint") -> None:
        if not isinstance(net, ODENet):
            raise ConfigError(f"StateCostateStep needs an ODENet, got {type(net).__name__}")
        if rule not in RULES:
            raise ConfigError(
                f"unknown costate rule {rule!r} — expected one of {list(RULES)} — pass "
                "rule='adjoint' (the discrete adjoint)"
            )
        if not isinstance(k, int) or not 0 <= k < net.steps:
            raise ConfigError(f"layer index k must be an int in [0, {net.steps}), got {k!r}")
        self.net, self.k, self.rule = net, k, rule
        self.method = stage_method(net.integrator)
        self.method.check_adjoint()
        self.partitioned = _partitioned(net)

    def _coefficients(self, parts: int) -> list[list[list[float]]] | None:
        if self.rule == "adjoint":
            return None
        s = self.method.stages
        return [
            [[(tab.b[j] - tab.a[i][j]) / tab.b[j] for j in range(s)] for i in range(s)]
            for tab in self.method.for_parts(parts)
        ]

    def __call__(self, points: Tensor) -> Tensor:
        """Map flat points ``(n, 2d)`` to their images ``(n, 2d)``."""
        if not isinstance(points, Tensor) or points.dim() != 2 or points.shape[1] % 2:
            raise ShapeError(
                "StateCostateStep expects flat points (n, 2d) = (state, costate) — received "
                f"{getattr(points, 'shape', type(points).__name__)}; concatenate z and λ"
            )
        n, two_d = points.shape
        d = two_d // 2
        parts = 2 if self.partitioned else 1
        width = d // parts
        net = self.net
        field = net.field(self.k)
        h = net.step_sizes().detach()
        t = float(h[: self.k].sum())
        h_k = float(h[self.k])
        tabs = self.method.for_parts(parts)
        z, lam = points[:, :d], points[:, d:]
        # The adjoint step is linear in λ_{k+1}: its matrix per sample, column by column, from
        # the step applied to the basis vectors (each sample repeated d times).
        z_rep = z.repeat_interleave(d, dim=0)
        basis = torch.eye(d, dtype=points.dtype).repeat(n, 1)
        split = lambda flat: tuple(flat[:, i * width : (i + 1) * width] for i in range(parts))  # noqa: E731
        with torch.enable_grad():
            z_next, record = forward_step(
                field,
                tabs,
                t,
                split(z_rep),
                h_k,
                partitioned=self.partitioned,
                name=self.method.name,
            )
            result = adjoint_step(
                field,
                tabs,
                record,
                split(basis),
                [],
                partitioned=self.partitioned,
                coefficients=self._coefficients(parts),
                create_graph=True,
            )
        columns = torch.cat(as_parts(result.costate), dim=1)  # (n·d, d): row = B e_i
        matrix = columns.reshape(n, d, d).transpose(1, 2)  # B[:, :, i] = B e_i
        lam_next = torch.linalg.solve(matrix, lam.unsqueeze(-1)).squeeze(-1)
        z_out = torch.cat(as_parts(z_next), dim=1)[::d]
        return torch.cat((z_out, lam_next), dim=1)
