"""AntisymmetricRNN (Chang, Chen, Haber, Chi, ICLR 2019): a recurrent cell that is a forward-Euler
step of the antisymmetric field ``h' = tanh((W − Wᵀ − γI)h + Vx_t + b)``
(see docs/methods/dynamics.md)."""

from __future__ import annotations

from typing import final

import torch
from torch import Tensor, nn

from .._errors import ConfigError, ShapeError
from ..structure._validate import require_int
from ._base import check_state
from ._field_base import finite_nonnegative, linear_weight

__all__ = ["AntisymmetricRNNCell"]


@final
class AntisymmetricRNNCell(nn.Module):
    """One step of AntisymmetricRNN.

    ``h_t = h_{t−1} + ε tanh(K h_{t−1} + V x_t + b)`` with ``K = W − Wᵀ − γI``; the gated variant
    is ``z_t = sigmoid(K h_{t−1} + V_z x_t + b_z)``, ``h_t = h_{t−1} + ε z_t ⊙ tanh(K h_{t−1} +
    V x_t + b)``. The eigenvalues of ``K`` have real part ``−γ``: the continuous dynamics neither
    explode nor vanish, and the diffusion ``γ > 0`` is what makes forward Euler stable on them,
    since ``|1 + iελ| > 1`` for purely imaginary ``λ``.

    Args:
        input_size: width of ``x_t``.
        hidden_size: width of ``h_t``.
        eps: step size ``ε > 0``.
        gamma: diffusion ``γ ≥ 0``.
        gated: use the gated variant.

    Example:
        >>> cell = AntisymmetricRNNCell(3, 8)
        >>> cell(torch.randn(5, 3)).shape
        torch.Size([5, 8])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        eps: float = 0.01,
        gamma: float = 0.01,
        gated: bool = False,  # noqa: FBT001, FBT002 — the signature of the internal API contract
    ) -> None:
        super().__init__()
        self.input_size = require_int(input_size, "input_size")
        self.hidden_size = require_int(hidden_size, "hidden_size")
        self.eps = finite_nonnegative(eps, "eps")
        if self.eps == 0.0:
            raise ConfigError("eps must be > 0 (it is the step size), got 0; pass e.g. eps=0.01")
        self.gamma = finite_nonnegative(gamma, "gamma")
        if not isinstance(gated, bool):
            raise ConfigError(f"gated must be True or False, got {gated!r}")
        self.gated = gated
        self.weight = linear_weight(self.hidden_size, self.hidden_size)  # W
        self.input_weight = linear_weight(self.hidden_size, self.input_size)  # V
        self.bias = nn.Parameter(torch.zeros(self.hidden_size))
        if gated:
            self.gate_weight = linear_weight(self.hidden_size, self.input_size)  # V_z
            self.gate_bias = nn.Parameter(torch.zeros(self.hidden_size))

    def matrix(self) -> Tensor:
        """``K = W − Wᵀ − γI``."""
        eye = torch.eye(self.hidden_size, dtype=self.weight.dtype, device=self.weight.device)
        return self.weight - self.weight.T - self.gamma * eye

    def _check(self, x: Tensor, h: Tensor | None) -> None:
        check_state(x, "AntisymmetricRNNCell input x")
        if x.dim() != 2 or x.shape[-1] != self.input_size:
            raise ShapeError(
                f"AntisymmetricRNNCell: x has shape {tuple(x.shape)} — expected (batch, "
                f"{self.input_size}); reshape the input sequence step to (batch, input_size)"
            )
        if x.dtype != self.weight.dtype:
            raise ShapeError(
                f"AntisymmetricRNNCell: x has dtype {x.dtype} but the parameters are "
                f"{self.weight.dtype}; convert with cell.to({x.dtype})"
            )
        if h is not None:
            check_state(h, "AntisymmetricRNNCell hidden state h")
            if h.shape != (x.shape[0], self.hidden_size) or h.dtype != x.dtype:
                raise ShapeError(
                    f"AntisymmetricRNNCell: h has shape {tuple(h.shape)} and dtype {h.dtype} — "
                    f"expected ({x.shape[0]}, {self.hidden_size}) and {x.dtype}; pass the "
                    "previous output of the cell, or None for a zero state"
                )

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        """Return ``h_t`` from the input ``x_t`` ``(batch, input_size)`` and ``h_{t−1}``."""
        self._check(x, h)
        if h is None:
            h = x.new_zeros(x.shape[0], self.hidden_size)
        linear = h @ self.matrix().T
        update = torch.tanh(linear + x @ self.input_weight.T + self.bias)
        if self.gated:
            gate = torch.sigmoid(linear + x @ self.gate_weight.T + self.gate_bias)
            update = gate * update
        return h + self.eps * update
