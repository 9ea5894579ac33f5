"""E-SympNets: shears that also read a parameter ``c``, symplectic in ``(q, p)`` at each ``c``.

For a family of Hamiltonian systems ``H(q, p; c)`` (a pendulum of varying length, an oscillator
of varying stiffness) one map should serve every member. The extended modules of Jin, Zhang,
Zhu, Tang & Karniadakis (*SympNets: intrinsic structure-preserving symplectic networks for
identifying Hamiltonian systems*, Neural Networks 2020) feed the parameter into the ridges of a
gradient module and carry it through unchanged::

    p-shear:  (q, p, c) ↦ (q, p + K_qᵀ(a ⊙ σ(K_q q + K_c c + b)), c)
    q-shear:  (q, p, c) ↦ (q + K_qᵀ(a ⊙ σ(K_q p + K_c c + b)), p, c)

For a fixed ``c`` the increment of the p-shear is ``∇_q V(q; c)`` with
``V(q; c) = Σ_i a_i ∫σ(k_iᵀq + m_iᵀc + b_i)`` (``k_i``, ``m_i`` the rows of ``K_q``, ``K_c``), whose
Hessian ``K_qᵀ diag(a ⊙ σ') K_q`` is symmetric: the map ``(q, p) ↦ (q', p')`` at that ``c`` is a
shear, so symplectic. Across ``c`` there is no symplectic form to keep (``c`` is not a
canonical coordinate, and its dimension ``k`` may be odd); what the map of the extended state
``x = (q, p, c)`` keeps is volume: its Jacobian ``[[I, 0, 0], [S, I, C], [0, 0, I]]`` is unit
block-triangular. So the structure is declared where it can be checked:

* :class:`ExtendedShear` and :class:`ExtendedSympNet` — maps of ``x = (q, p, c)``, shape
  ``(batch, 2d + k)`` — claim ``VolumePreserving`` and ``Invertible``;
* ``.at(c)`` restricts either to one parameter value and returns a map of ``z = (q, p)``,
  shape ``(batch, 2d)`` (:class:`FixedParameterShear`, :class:`FixedParameterSympNet`, sharing
  the trained weights); the restriction claims ``Symplectic`` (with ``VolumePreserving`` and
  ``Invertible``), and :func:`structdl.structure.check_symplectic` verifies it on the Jacobian
  with respect to ``(q, p)`` only — "symplectic in ``(q, p)`` for every fixed ``c``", checked
  one ``c`` at a time.

Coupling the parameter to the state (feeding ``c = q``) breaks the structure: the increment is
then no longer a gradient in ``q`` (the negative control of the tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn

from ..._errors import NonFiniteError, ShapeError
from ...structure._validate import require_float_tensor, require_int
from ...structure.declarations import ALWAYS, Claim, EveryPart
from ...structure.properties import Invertible, Symplectic, VolumePreserving
from .sympnets import _COMPOSITE_CLAIMS, _activation, _Composite, _Shear, _update

__all__ = ["ExtendedShear", "ExtendedSympNet", "FixedParameterShear", "FixedParameterSympNet"]

_EXTENDED_CLAIMS = (
    Claim(
        VolumePreserving(),
        ALWAYS,
        "the Jacobian on (q, p, c) is [[I, 0, 0], [S, I, C], [0, 0, I]]: unit block-triangular",
    ),
    Claim(Invertible(), ALWAYS, "the inverse subtracts the same increment (c is unchanged)"),
)
_EXTENDED_COMPOSITE_CLAIMS = (
    Claim(
        VolumePreserving(),
        EveryPart("parts", VolumePreserving()),
        "a composition of volume-preserving maps",
    ),
    Claim(Invertible(), EveryPart("parts", Invertible()), "inverse = inverses in reverse order"),
)
_FIXED_SHEAR_CLAIMS = (
    Claim(
        Symplectic(),
        ALWAYS,
        "at fixed c the increment is ∇_q V(q; c): Jacobian [[I, 0], [∇²_q V, I]], ∇²_q V symmetric",
    ),
    Claim(VolumePreserving(), ALWAYS, "det DΦ = 1 for every symplectic map"),
    Claim(Invertible(), ALWAYS, "the inverse shear subtracts the same gradient"),
)


def _check_extended(x: object, dim: int, parameter_dim: int, who: str) -> Tensor:
    width = 2 * dim + parameter_dim
    require_float_tensor(x, "the state", who, f"(batch, {width})")
    if x.dim() != 2 or x.shape[1] != width:
        raise ShapeError(
            f"{who}: wrong state — expected a (batch, {width}) tensor x = (q, p, c) with "
            f"{dim} + {dim} + {parameter_dim} columns — received {tuple(x.shape)} — concatenate "
            f"q, p and the parameter c along dim 1 (or call .at(c) for a map of (q, p))"
        )
    return x


def _fixed_parameter(
    value: Tensor | float | Sequence[float], parameter_dim: int, like: Tensor, who: str
) -> Tensor:
    """One parameter value as a ``(1, k)`` tensor in the dtype of the weights."""
    c = torch.as_tensor(value, dtype=like.dtype, device=like.device).detach().clone()
    if c.numel() != parameter_dim or c.dim() > 2 or (c.dim() == 2 and c.shape[0] != 1):
        raise ShapeError(
            f"{who}.at: wrong parameter — expected one value of c with {parameter_dim} entries, "
            f"shape ({parameter_dim},) or (1, {parameter_dim}) — received shape "
            f"{tuple(c.shape)} — restrict to one parameter value at a time"
        )
    if not bool(torch.isfinite(c).all()):
        raise NonFiniteError(
            f"{who}.at: the parameter is not finite — expected finite entries — received "
            f"{c.reshape(-1).tolist()} — pass a finite parameter value"
        )
    return c.reshape(1, parameter_dim)


class ExtendedShear(nn.Module):
    """Extended gradient module ``p ← p + K_qᵀ(a ⊙ σ(K_q q + K_c c + b))``, ``c`` unchanged.

    (``update="q"``: ``q ← q + K_qᵀ(a ⊙ σ(K_q p + K_c c + b))``.) For each fixed ``c`` the
    increment is ``∇_q V(q; c)`` of ``V = Σ_i a_i ∫σ(k_iᵀq + m_iᵀc + b_i)``: symplectic in
    ``(q, p)`` (checked on :meth:`at`); on ``x = (q, p, c)`` volume preserving and invertible.

    Args:
        dim: degrees of freedom ``d``.
        parameter_dim: entries ``k`` of the parameter ``c``.
        width: number of ridges (rows of ``K_q`` and ``K_c``).
        update: the half that changes, ``"p"`` or ``"q"``.
        activation: ``"sigmoid"`` (the paper's) or ``"tanh"``.
        init_scale: standard deviation of the initial ``K_q``, ``K_c`` and ``a`` (the paper's 0.01).

    Example:
        >>> import torch
        >>> from structdl.structure import check_symplectic, check_volume_preserving
        >>> shear = ExtendedShear(2, parameter_dim=1, width=6, init_scale=1.0).double()
        >>> x = torch.randn(5, 5, dtype=torch.float64)  # (q, p, c): 2 + 2 + 1 columns
        >>> check_volume_preserving(shear, x).ok
        True
        >>> check_symplectic(shear.at([0.3]), x[:, :4]).ok
        True
    """

    claims: ClassVar[tuple[Claim, ...]] = _EXTENDED_CLAIMS

    def __init__(
        self,
        dim: int,
        parameter_dim: int,
        width: int = 30,
        update: str = "p",
        activation: str = "sigmoid",
        init_scale: float = 0.01,
    ) -> None:
        super().__init__()
        self.dim = require_int(dim, "dim", "ExtendedShear")
        self.parameter_dim = require_int(parameter_dim, "parameter_dim", "ExtendedShear")
        width = require_int(width, "width", "ExtendedShear")
        self.update = _update(update, "ExtendedShear")
        self.activation = _activation(activation, "ExtendedShear")
        self.ridges = nn.Parameter(init_scale * torch.randn(width, dim))
        self.parameter_ridges = nn.Parameter(init_scale * torch.randn(width, parameter_dim))
        self.amplitudes = nn.Parameter(init_scale * torch.randn(width))
        self.offsets = nn.Parameter(torch.zeros(width))

    def increment(self, half: Tensor, c: Tensor) -> Tensor:
        """``K_qᵀ(a ⊙ σ(K_q·half + K_c c + b))``, the gradient of ``V(·; c)``: ``(batch, d)``."""
        inner = nn.functional.linear(half, self.ridges, self.offsets)
        inner = inner + nn.functional.linear(c, self.parameter_ridges)
        return (self.activation(inner) * self.amplitudes) @ self.ridges

    def shift(self, q: Tensor, p: Tensor, c: Tensor, sign: float) -> tuple[Tensor, Tensor]:
        """The shear (``sign = 1``) or its inverse (``sign = −1``) on the halves ``q``, ``p``."""
        if self.update == "p":
            return q, p + sign * self.increment(q, c)
        return q + sign * self.increment(p, c), p

    def _apply_to(self, x: Tensor, sign: float) -> Tensor:
        x = _check_extended(x, self.dim, self.parameter_dim, type(self).__name__)
        d = self.dim
        c = x[:, 2 * d :]
        q, p = self.shift(x[:, :d], x[:, d : 2 * d], c, sign)
        return torch.cat((q, p, c), dim=1)

    def forward(self, x: Tensor) -> Tensor:
        """``Φ(q, p, c)``, shape ``(batch, 2d + k)``."""
        return self._apply_to(x, 1.0)

    def inverse(self, x: Tensor) -> Tensor:
        """``Φ⁻¹(q, p, c)`` (explicit), shape ``(batch, 2d + k)``."""
        return self._apply_to(x, -1.0)

    def at(self, parameter: Tensor | float | Sequence[float]) -> FixedParameterShear:
        """This shear at one parameter value: a symplectic map of ``(q, p)`` (shared weights)."""
        c = _fixed_parameter(parameter, self.parameter_dim, self.ridges, type(self).__name__)
        return FixedParameterShear(self, c)


class FixedParameterShear(_Shear):
    """An :class:`ExtendedShear` at a fixed parameter ``c``: a shear of ``z = (q, p)``.

    Built by :meth:`ExtendedShear.at`; the weights are the extended shear's own (trained
    together), ``c`` is a buffer. Symplectic, volume preserving and invertible.
    """

    claims: ClassVar[tuple[Claim, ...]] = _FIXED_SHEAR_CLAIMS

    def __init__(self, shear: ExtendedShear, parameter: Tensor) -> None:
        super().__init__()
        self.shear = shear
        self.dim = shear.dim
        self.update = shear.update
        self.register_buffer("parameter", parameter)

    def _increment(self, x: Tensor) -> Tensor:
        return self.shear.increment(x, self.parameter)


class ExtendedSympNet(nn.Module):
    """E-SympNet: extended gradient shears alternating between ``p`` and ``q``.

    ``Φ = E_n ∘ ⋯ ∘ E_1`` on ``x = (q, p, c)``, ``E_k`` an :class:`ExtendedShear` (``p`` for odd
    ``k``, ``q`` for even ``k``): ``c`` passes through, and for each fixed ``c`` the map of
    ``(q, p)`` is a G-SympNet whose ridges are shifted by ``K_c c`` — symplectic for every
    parameter value and every weight value. Declared: ``VolumePreserving`` and ``Invertible``
    on ``(q, p, c)`` (every part); ``Symplectic`` on each restriction :meth:`at`.

    Train it like any step map on extended states (:func:`~structdl.dynamics.learning.
    fit_rollout`, :func:`~structdl.dynamics.learning.rollout`): the parameter columns of the
    targets are the inputs' own.

    Args:
        dim: degrees of freedom ``d``.
        parameter_dim: entries ``k`` of the parameter ``c``.
        layers: number of extended shears.
        width: ridges per shear.
        activation: ``"sigmoid"`` (the paper's) or ``"tanh"``.
        init_scale: standard deviation of the initial weights (the paper's 0.01).

    Example:
        >>> import torch
        >>> from structdl.structure import check_symplectic
        >>> net = ExtendedSympNet(1, parameter_dim=1, layers=4, width=8, init_scale=0.5).double()
        >>> tuple(net(torch.randn(3, 3, dtype=torch.float64)).shape)  # x = (q, p, c)
        (3, 3)
        >>> pendulum_at = net.at(torch.tensor([0.7]))  # the map of (q, p) at c = 0.7
        >>> check_symplectic(pendulum_at, torch.randn(6, 2, dtype=torch.float64)).worst < 1e-12
        True
    """

    claims: ClassVar[tuple[Claim, ...]] = _EXTENDED_COMPOSITE_CLAIMS
    parts: nn.ModuleList

    def __init__(
        self,
        dim: int,
        parameter_dim: int,
        layers: int = 5,
        width: int = 30,
        activation: str = "sigmoid",
        init_scale: float = 0.01,
    ) -> None:
        super().__init__()
        self.dim = require_int(dim, "dim", "ExtendedSympNet")
        self.parameter_dim = require_int(parameter_dim, "parameter_dim", "ExtendedSympNet")
        layers = require_int(layers, "layers", "ExtendedSympNet")
        self.parts = nn.ModuleList(
            ExtendedShear(
                dim, parameter_dim, width, "p" if k % 2 == 0 else "q", activation, init_scale
            )
            for k in range(layers)
        )

    def _apply_to(self, x: Tensor, sign: float) -> Tensor:
        # One check and one split for the whole chain; the shears then act on (q, p) halves.
        x = _check_extended(x, self.dim, self.parameter_dim, type(self).__name__)
        d = self.dim
        q, p, c = x[:, :d], x[:, d : 2 * d], x[:, 2 * d :]
        for part in self.parts if sign > 0 else reversed(self.parts):
            q, p = part.shift(q, p, c, sign)
        return torch.cat((q, p, c), dim=1)

    def forward(self, x: Tensor) -> Tensor:
        """``Φ(q, p, c)``, shape ``(batch, 2d + k)``."""
        return self._apply_to(x, 1.0)

    def inverse(self, x: Tensor) -> Tensor:
        """``Φ⁻¹(q, p, c)`` (explicit), shape ``(batch, 2d + k)``."""
        return self._apply_to(x, -1.0)

    def at(self, parameter: Tensor | float | Sequence[float]) -> FixedParameterSympNet:
        """The network at one parameter value: a symplectic map of ``(q, p)`` (shared weights)."""
        first = self.parts[0]
        c = _fixed_parameter(parameter, self.parameter_dim, first.ridges, type(self).__name__)
        return FixedParameterSympNet(self, c)


class FixedParameterSympNet(_Composite):
    """An :class:`ExtendedSympNet` at a fixed parameter: a chain of :class:`FixedParameterShear`.

    Built by :meth:`ExtendedSympNet.at`. Its claims are derived from the parts (the composition
    rule): symplectic, volume preserving and invertible as maps of ``z = (q, p)``.
    """

    claims: ClassVar[tuple[Claim, ...]] = _COMPOSITE_CLAIMS

    def __init__(self, net: ExtendedSympNet, parameter: Tensor) -> None:
        super().__init__()
        self.dim = net.dim
        self.parts = nn.ModuleList(FixedParameterShear(part, parameter) for part in net.parts)
