"""SympNets and Hénon networks: maps of phase space that are symplectic by construction.

Every module is a composition of *shears*, maps that change one half of ``z = (q, p)`` by the
gradient of a function of the other half::

    p-shear:  (q, p) ↦ (q, p + ∇V(q))          q-shear:  (q, p) ↦ (q + ∇T(p), p)

A shear is the exact time-1 flow of the Hamiltonian ``−V(q)`` (or ``T(p)``); its Jacobian
``[[I, 0], [∇²V, I]]`` has a symmetric lower block, so ``DΦᵀ J DΦ = J`` holds exactly, for every
parameter value, and the inverse is the same shear with the sign flipped. The SympNets of Jin,
Zhang, Zhu, Tang & Karniadakis (*SympNets: intrinsic structure-preserving symplectic networks
for identifying Hamiltonian systems*, Neural Networks 2020) use three kinds:

* :class:`LinearSymplectic` — ``p ← p + S q`` / ``q ← q + S p`` with ``S = A + Aᵀ``, alternated
  ``sublayers`` times, then a translation (linear symplectic maps);
* :class:`ActivationShear` — ``p ← p + a ⊙ σ(q)`` (``∇V`` for ``V = Σ a_i ∫σ(q_i)``);
* :class:`GradientShear` — ``p ← p + Kᵀ(a ⊙ σ(K q + b))`` (``∇V`` of a one-layer ridge sum);

composed into :class:`LASympNet` (linear + activation modules) and :class:`GSympNet` (gradient
modules). :class:`HenonNet` (Burby, Tang & Maulik, *Fast neural Poincaré maps for toroidal
magnetic fields*, 2020) stacks Hénon maps ``(q, p) ↦ (p + η, −q + ∇V(p))``, four per layer.

States are flat tensors ``z = (q, p)`` of shape ``(batch, 2d)``. Each module declares
``Symplectic``, ``VolumePreserving`` and ``Invertible`` as data (``claims``), verified by
:func:`structdl.structure.check_symplectic` and :func:`~structdl.structure.check_inverse`.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from ..._errors import ConfigError
from ...structure._validate import require_int
from ...structure.declarations import ALWAYS, Claim, EveryPart
from ...structure.properties import Invertible, Symplectic, VolumePreserving
from ._mlp import ScalarMLP
from ._validate import check_flat

__all__ = [
    "ActivationShear",
    "GSympNet",
    "GradientShear",
    "HenonLayer",
    "HenonNet",
    "LASympNet",
    "LinearSymplectic",
]

_ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}
_UPDATES = ("p", "q")

_SHEAR_REASON = "a shear (q, p) ↦ (q, p + ∇V(q)) has Jacobian [[I, 0], [∇²V, I]] with ∇²V symmetric"
_SHEAR_CLAIMS = (
    Claim(Symplectic(), ALWAYS, _SHEAR_REASON),
    Claim(VolumePreserving(), ALWAYS, "det DΦ = 1 for every symplectic map"),
    Claim(Invertible(), ALWAYS, "the inverse shear subtracts the same gradient"),
)
_COMPOSITE_CLAIMS = (
    Claim(Symplectic(), EveryPart("parts", Symplectic()), "a composition of symplectic maps"),
    Claim(
        VolumePreserving(),
        EveryPart("parts", VolumePreserving()),
        "a composition of volume-preserving maps",
    ),
    Claim(Invertible(), EveryPart("parts", Invertible()), "inverse = inverses in reverse order"),
)


def _activation(name: object, who: str):  # noqa: ANN202
    if name not in _ACTIVATIONS:
        raise ConfigError(
            f"{who}: unknown activation {name!r} — expected one of {sorted(_ACTIVATIONS)} — "
            f"received {name!r} — pick one of those"
        )
    return _ACTIVATIONS[name]  # type: ignore[index]


def _update(value: object, who: str) -> str:
    if value not in _UPDATES:
        raise ConfigError(
            f"{who}: update must be 'p' or 'q' — expected the half the shear changes — "
            f"received {value!r} — pass update='p' or update='q'"
        )
    return value  # type: ignore[return-value]


class _PhaseMap(nn.Module):
    """Base: a map of flat phase-space states ``(batch, 2d)``, validated once here."""

    claims: ClassVar[tuple[Claim, ...]] = _SHEAR_CLAIMS
    dim: int

    def forward(self, z: Tensor) -> Tensor:
        """``Φ(z)``, shape ``(batch, 2d)``."""
        z = check_flat(z, 2 * self.dim, type(self).__name__)
        q, p = self._forward(z[:, : self.dim], z[:, self.dim :])
        return torch.cat((q, p), dim=1)

    def inverse(self, z: Tensor) -> Tensor:
        """``Φ⁻¹(z)`` (explicit), shape ``(batch, 2d)``."""
        z = check_flat(z, 2 * self.dim, type(self).__name__)
        q, p = self._inverse(z[:, : self.dim], z[:, self.dim :])
        return torch.cat((q, p), dim=1)

    def _forward(self, q: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover
        raise NotImplementedError

    def _inverse(self, q: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover
        raise NotImplementedError


class _Shear(_PhaseMap):
    """A shear ``p ← p + τ g(q)`` (``update="p"``) or ``q ← q + τ g(p)``; ``g`` a gradient."""

    update: str

    def _increment(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _forward(self, q: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        if self.update == "p":
            return q, p + self._increment(q)
        return q + self._increment(p), p

    def _inverse(self, q: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        if self.update == "p":
            return q, p - self._increment(q)
        return q - self._increment(p), p


class ActivationShear(_Shear):
    """Activation module ``p ← p + a ⊙ σ(q)`` (or ``q ← q + a ⊙ σ(p)``).

    ``a ⊙ σ(q) = ∇V(q)`` with ``V(q) = Σ_i a_i ∫₀^{q_i} σ``: a shear, so symplectic.

    Args:
        dim: degrees of freedom ``d``.
        update: the half that changes, ``"p"`` or ``"q"``.
        activation: ``"sigmoid"`` (the SympNet paper's) or ``"tanh"``.
        init_scale: standard deviation of the initial ``a``.

    Example:
        >>> import torch
        >>> from structdl.structure import check_symplectic
        >>> layer = ActivationShear(2, update="q").double()
        >>> check_symplectic(layer, torch.randn(3, 4, dtype=torch.float64)).ok
        True
    """

    def __init__(
        self, dim: int, update: str = "p", activation: str = "sigmoid", init_scale: float = 0.01
    ) -> None:
        super().__init__()
        self.dim = require_int(dim, "dim", "ActivationShear")
        self.update = _update(update, "ActivationShear")
        self.activation = _activation(activation, "ActivationShear")
        self.scale = nn.Parameter(init_scale * torch.randn(dim))

    def _increment(self, x: Tensor) -> Tensor:
        return self.activation(x) * self.scale


class GradientShear(_Shear):
    """Gradient module ``p ← p + Kᵀ(a ⊙ σ(K q + b))`` (or the same on ``q`` from ``p``).

    The increment is ``∇V(q)`` for ``V(q) = Σ_i a_i ∫σ(k_iᵀ q + b_i)``, whose Hessian
    ``Kᵀ diag(a ⊙ σ') K`` is symmetric: a shear, so symplectic.

    Args:
        dim: degrees of freedom ``d``.
        width: number of ridges (rows of ``K``).
        update: ``"p"`` or ``"q"``.
        activation: ``"sigmoid"`` or ``"tanh"``.
        init_scale: standard deviation of the initial ``K`` and ``a`` (the paper's 0.01).

    Example:
        >>> import torch
        >>> from structdl.structure import check_inverse
        >>> layer = GradientShear(1, width=8, init_scale=1.0).double()
        >>> z = torch.randn(4, 2, dtype=torch.float64)
        >>> check_inverse(layer, layer.inverse, z).ok
        True
    """

    def __init__(
        self,
        dim: int,
        width: int = 30,
        update: str = "p",
        activation: str = "sigmoid",
        init_scale: float = 0.01,
    ) -> None:
        super().__init__()
        self.dim = require_int(dim, "dim", "GradientShear")
        width = require_int(width, "width", "GradientShear")
        self.update = _update(update, "GradientShear")
        self.activation = _activation(activation, "GradientShear")
        self.ridges = nn.Parameter(init_scale * torch.randn(width, dim))
        self.amplitudes = nn.Parameter(init_scale * torch.randn(width))
        self.offsets = nn.Parameter(torch.zeros(width))

    def _increment(self, x: Tensor) -> Tensor:
        inner = nn.functional.linear(x, self.ridges, self.offsets)
        return (self.activation(inner) * self.amplitudes) @ self.ridges


class LinearSymplectic(_PhaseMap):
    """Linear symplectic module: ``sublayers`` alternating symmetric shears, then a translation.

    ``p ← p + S₁ q``, ``q ← q + S₂ p``, … with ``S_k = A_k + A_kᵀ``, then ``(q, p) + (b_q, b_p)``.
    Every linear symplectic map is a product of such shears (Jin et al. 2020, Theorem 2).

    Args:
        dim: degrees of freedom ``d``.
        sublayers: number of shears.
        init_scale: standard deviation of the initial ``A_k``.

    Example:
        >>> import torch
        >>> from structdl.structure import check_symplectic
        >>> layer = LinearSymplectic(2, sublayers=3, init_scale=0.5).double()
        >>> check_symplectic(layer, torch.randn(3, 4, dtype=torch.float64)).ok
        True
    """

    def __init__(self, dim: int, sublayers: int = 2, init_scale: float = 0.01) -> None:
        super().__init__()
        self.dim = require_int(dim, "dim", "LinearSymplectic")
        sublayers = require_int(sublayers, "sublayers", "LinearSymplectic")
        self.factors = nn.ParameterList(
            nn.Parameter(init_scale * torch.randn(dim, dim)) for _ in range(sublayers)
        )
        self.shift_q = nn.Parameter(torch.zeros(dim))
        self.shift_p = nn.Parameter(torch.zeros(dim))

    def _symmetric(self, k: int) -> Tensor:
        return self.factors[k] + self.factors[k].T

    def _forward(self, q: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        for k in range(len(self.factors)):
            if k % 2 == 0:
                p = p + q @ self._symmetric(k)
            else:
                q = q + p @ self._symmetric(k)
        return q + self.shift_q, p + self.shift_p

    def _inverse(self, q: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        q, p = q - self.shift_q, p - self.shift_p
        for k in reversed(range(len(self.factors))):
            if k % 2 == 0:
                p = p - q @ self._symmetric(k)
            else:
                q = q - p @ self._symmetric(k)
        return q, p


class _Composite(_PhaseMap):
    """A chain of phase maps ``Φ = φ_n ∘ ⋯ ∘ φ_1``; structure derived from the parts."""

    claims: ClassVar[tuple[Claim, ...]] = _COMPOSITE_CLAIMS
    parts: nn.ModuleList

    def _forward(self, q: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        for part in self.parts:
            q, p = part._forward(q, p)
        return q, p

    def _inverse(self, q: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        for part in reversed(self.parts):
            q, p = part._inverse(q, p)
        return q, p


class LASympNet(_Composite):
    """LA-SympNet: linear symplectic modules interleaved with activation shears.

    ``Φ = L_n ∘ A_{n−1} ∘ L_{n−1} ∘ ⋯ ∘ A_1 ∘ L_1`` with the activation shears alternating
    between ``p`` and ``q``. Symplectic for every parameter value (a composition of shears).

    Args:
        dim: degrees of freedom ``d``.
        layers: number of linear modules ``n`` (``n − 1`` activation shears).
        sublayers: shears per linear module.
        activation: ``"sigmoid"`` or ``"tanh"``.
        init_scale: standard deviation of the initial weights.

    Example:
        >>> import torch
        >>> from structdl.structure import guarantees, Symplectic
        >>> Symplectic() in guarantees(LASympNet(1, layers=3))
        True
    """

    def __init__(
        self,
        dim: int,
        layers: int = 3,
        sublayers: int = 2,
        activation: str = "sigmoid",
        init_scale: float = 0.01,
    ) -> None:
        super().__init__()
        self.dim = require_int(dim, "dim", "LASympNet")
        layers = require_int(layers, "layers", "LASympNet")
        parts: list[nn.Module] = []
        for k in range(layers - 1):
            parts.append(LinearSymplectic(dim, sublayers, init_scale))
            update = "p" if k % 2 == 0 else "q"
            parts.append(ActivationShear(dim, update, activation, init_scale))
        parts.append(LinearSymplectic(dim, sublayers, init_scale))
        self.parts = nn.ModuleList(parts)


class GSympNet(_Composite):
    """G-SympNet: gradient shears alternating between ``p`` and ``q``.

    ``Φ = G_n ∘ ⋯ ∘ G_1``, ``G_k`` a :class:`GradientShear` (``p`` for odd ``k``, ``q`` for
    even ``k``). Symplectic for every parameter value; universal among symplectic maps as
    ``n`` and ``width`` grow (Jin et al. 2020).

    Args:
        dim: degrees of freedom ``d``.
        layers: number of gradient shears.
        width: ridges per shear.
        activation: ``"sigmoid"`` (the paper's) or ``"tanh"``.
        init_scale: standard deviation of the initial ``K`` and ``a`` (the paper's 0.01).

    Example:
        >>> import torch
        >>> from structdl.structure import check_symplectic
        >>> net = GSympNet(1, layers=5, width=30, init_scale=0.5).double()
        >>> check_symplectic(net, torch.randn(8, 2, dtype=torch.float64)).worst < 1e-12
        True
    """

    def __init__(
        self,
        dim: int,
        layers: int = 5,
        width: int = 30,
        activation: str = "sigmoid",
        init_scale: float = 0.01,
    ) -> None:
        super().__init__()
        self.dim = require_int(dim, "dim", "GSympNet")
        layers = require_int(layers, "layers", "GSympNet")
        self.parts = nn.ModuleList(
            GradientShear(dim, width, "p" if k % 2 == 0 else "q", activation, init_scale)
            for k in range(layers)
        )


class HenonLayer(_PhaseMap):
    """Four Hénon maps ``H(q, p) = (p + η, −q + ∇V(p))`` with one learned ``V`` and shift ``η``.

    ``H`` is a shear followed by the rotation ``(q, p) ↦ (p, −q)`` and a translation, so it is
    symplectic; ``H⁴`` has the identity as its parameter-free limit (``H₀⁴ = id`` for ``V = 0``,
    ``η = 0``). Inverse: ``q = ∇V(p') − q'`` after ``p = q' − η`` … applied four times.

    Args:
        dim: degrees of freedom ``d``.
        width: hidden width of the potential network ``V`` (a :class:`ScalarMLP`).
        depth: hidden layers of ``V``.

    Example:
        >>> import torch
        >>> from structdl.structure import check_inverse
        >>> layer = HenonLayer(1, width=8).double()
        >>> z = torch.randn(4, 2, dtype=torch.float64)
        >>> check_inverse(layer, layer.inverse, z).ok
        True
    """

    def __init__(self, dim: int, width: int = 16, depth: int = 1) -> None:
        super().__init__()
        self.dim = require_int(dim, "dim", "HenonLayer")
        self.potential = ScalarMLP(dim, width, depth)
        self.shift = nn.Parameter(torch.zeros(dim))

    def _forward(self, q: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        for _ in range(4):
            q, p = p + self.shift, -q + self.potential.gradient(p)
        return q, p

    def _inverse(self, q: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
        for _ in range(4):
            previous_p = q - self.shift
            q, p = self.potential.gradient(previous_p) - p, previous_p
        return q, p


class HenonNet(_Composite):
    """Hénon network: ``layers`` :class:`HenonLayer` s in sequence (symplectic, invertible).

    Args:
        dim: degrees of freedom ``d``.
        layers: number of Hénon layers.
        width: hidden width of each layer's potential.
        depth: hidden layers of each potential.

    Example:
        >>> import torch
        >>> from structdl.structure import check_symplectic
        >>> net = HenonNet(2, layers=2, width=8).double()
        >>> check_symplectic(net, torch.randn(3, 4, dtype=torch.float64)).worst < 1e-12
        True
    """

    def __init__(self, dim: int, layers: int = 3, width: int = 16, depth: int = 1) -> None:
        super().__init__()
        self.dim = require_int(dim, "dim", "HenonNet")
        layers = require_int(layers, "layers", "HenonNet")
        self.parts = nn.ModuleList(HenonLayer(dim, width, depth) for _ in range(layers))
