"""Discrete-weight networks trained by the discrete method of successive approximations.

A network with weights restricted to ``{−1, 0, 1}`` (ternary) or ``{−1, 1}`` (binary) is a
discrete-time control problem whose controls live in a finite set, so gradient descent does not
apply; the maximum principle does (Li & Hao, ICML 2018). For the layers
``x_{k+1} = σ_k(c_k W_k x_k)`` (``c_k = 1/√fan_in`` a fixed scale, ``σ`` the identity on the
last layer) the layer Hamiltonian is ``H_k(x, λ, W) = Σ_s ⟨λ_s, σ_k(c_k W x_s)⟩`` (``λ`` the
gradient costate). Linearised in ``W`` and accumulated over iterations,

    M_k ← α M_k − ∂_W H_k(x_k, λ_{k+1}, W_k)

the layer-wise minimisation of ``H_k`` over the finite set has a closed form: ``W = sign(M)``
(binary) or ``W = sign(M)·[|M| > δ_k]`` with ``δ_k = threshold·mean|M_k|`` (ternary, the
minimiser of ``−⟨M, W⟩ + δ_k‖W‖₁``). No weight is ever real-valued and no descent step is taken.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .._errors import ConfigError, ShapeError

__all__ = ["DiscreteMSA", "DiscreteWeightMLP", "VALUE_SETS", "project_to_values"]

#: The allowed weight sets.
VALUE_SETS = {"ternary": (-1.0, 0.0, 1.0), "binary": (-1.0, 1.0)}

_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}


def project_to_values(m: Tensor, values: str, threshold: float) -> Tensor:
    """The closed-form minimiser of ``−⟨m, W⟩ + δ‖W‖₁`` over the value set.

    Example:
        >>> project_to_values(torch.tensor([-2.0, 0.1, 3.0]), "ternary", 1.0)
        tensor([-1.,  0.,  1.])
    """
    if values == "binary":
        return torch.where(m >= 0, torch.ones_like(m), -torch.ones_like(m))
    delta = threshold * m.abs().mean()
    return torch.sign(m) * (m.abs() > delta).to(m.dtype)


def _check_values(weight: Tensor, values: str, where: str) -> None:
    allowed = torch.tensor(VALUE_SETS[values], dtype=weight.dtype)
    bad = ~torch.isin(weight, allowed)
    if bool(bad.any()):
        example = float(weight[bad].flatten()[0])
        raise ConfigError(
            f"{where}: a {values} model needs every weight in {list(VALUE_SETS[values])} — "
            f"received {int(bad.sum())} other values (e.g. {example:.4g}) — project the "
            "weights first (project_to_values) or use DiscreteWeightMLP.random"
        )


class DiscreteWeightMLP(nn.Module):
    """``x_{k+1} = σ(c_k W_k x_k)``, last layer linear, every ``W_k`` in the value set.

    Args:
        weights: ``W_k`` of shape ``(out, in)``, every entry in the value set.
        values: ``"ternary"`` or ``"binary"``.
        activation: ``"tanh"`` or ``"relu"`` (hidden layers).

    Raises:
        ConfigError: a weight outside the value set, or mismatched layer sizes.

    Example:
        >>> net = DiscreteWeightMLP.random((4, 8, 3), seed=0)
        >>> net(torch.randn(2, 4)).shape
        torch.Size([2, 3])
        >>> DiscreteWeightMLP([torch.full((3, 4), 0.5)])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        structdl._errors.ConfigError: DiscreteWeightMLP: a ternary model needs every weight ...
    """

    def __init__(
        self, weights: Sequence[Tensor], values: str = "ternary", activation: str = "tanh"
    ) -> None:
        super().__init__()
        if values not in VALUE_SETS:
            raise ConfigError(f"values must be one of {list(VALUE_SETS)}, got {values!r}")
        if activation not in _ACTIVATIONS:
            raise ConfigError(f"activation must be one of {list(_ACTIVATIONS)}, got {activation!r}")
        if not weights:
            raise ConfigError("DiscreteWeightMLP needs at least one weight matrix")
        for k, w in enumerate(weights):
            if not isinstance(w, Tensor) or w.dim() != 2:
                raise ConfigError(f"weight {k} must be a 2-D tensor, got {type(w).__name__}")
            if k and w.shape[1] != weights[k - 1].shape[0]:
                raise ConfigError(
                    f"weight {k} takes {w.shape[1]} inputs but layer {k - 1} has "
                    f"{weights[k - 1].shape[0]} outputs; chain the shapes"
                )
            _check_values(w, values, "DiscreteWeightMLP")
        self.values = values
        self.activation = activation
        for k, w in enumerate(weights):
            self.register_buffer(f"weight{k}", w.detach().clone())
        self.layers = len(weights)

    @classmethod
    def random(
        cls,
        sizes: Sequence[int],
        values: str = "ternary",
        activation: str = "tanh",
        *,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> DiscreteWeightMLP:
        """Uniformly random weights from the value set."""
        gen = torch.Generator().manual_seed(seed)
        choices = torch.tensor(VALUE_SETS.get(values, (0.0,)), dtype=dtype)
        weights = [
            choices[torch.randint(len(choices), (n_out, n_in), generator=gen)]
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        ]
        return cls(weights, values, activation)

    def weight(self, k: int) -> Tensor:
        """``W_k``."""
        return getattr(self, f"weight{k}")

    def scale(self, k: int) -> float:
        """The fixed layer scale ``c_k = 1/√fan_in``."""
        return 1.0 / math.sqrt(self.weight(k).shape[1])

    def layer(self, k: int, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """One layer ``σ(c_k W x)`` (identity on the last)."""
        w = self.weight(k) if weight is None else weight
        a = self.scale(k) * (x @ w.T)
        return a if k == self.layers - 1 else _ACTIVATIONS[self.activation](a)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of ``x``, shape ``(batch, out)``."""
        if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != self.weight(0).shape[1]:
            raise ShapeError(
                f"DiscreteWeightMLP expects (batch, {self.weight(0).shape[1]}) inputs, got "
                f"{getattr(x, 'shape', type(x).__name__)}"
            )
        for k in range(self.layers):
            x = self.layer(k, x)
        return x


class DiscreteMSA:
    """Gradient-free training of a :class:`DiscreteWeightMLP` by the discrete MSA.

    Each :meth:`step` runs the forward states, the costates by the layer-wise adjoint
    ``λ_k = ∂_x H_k(x_k, λ_{k+1}, W_k)``, and sets every ``W_k`` to the closed-form minimiser
    of the accumulated linearised Hamiltonian (module docstring).

    Args:
        model: the network; its weights must already lie in its value set.
        decay: ``α`` in ``M ← αM − ∂_W H``, in ``(0, 1]`` (1: plain accumulation, the most
            stable choice on the digits; 0.9 oscillates).
        threshold: ``δ_k / mean|M_k|`` of the ternary projection (ignored for binary).
        initial_scale: ``M`` starts at ``initial_scale · W₀``: how strongly the first
            iterations hold on to the initial weights.

    Raises:
        ConfigError: weights outside the value set, ``decay`` or ``threshold`` invalid.

    Example:
        >>> net = DiscreteWeightMLP.random((4, 8, 2), seed=0)
        >>> x, y = torch.randn(32, 4), torch.randint(2, (32,))
        >>> trainer = DiscreteMSA(net)
        >>> loss = trainer.step(x, y)
        >>> sorted(set(net.weight(0).unique().tolist())) <= [-1.0, 0.0, 1.0]
        True
    """

    def __init__(
        self,
        model: DiscreteWeightMLP,
        decay: float = 1.0,
        threshold: float = 0.7,
        initial_scale: float = 0.01,
    ) -> None:
        if not isinstance(model, DiscreteWeightMLP):
            raise ConfigError(f"DiscreteMSA trains a DiscreteWeightMLP, got {type(model).__name__}")
        for k in range(model.layers):
            _check_values(model.weight(k), model.values, "DiscreteMSA")
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay <= 1:
            raise ConfigError(f"decay must be in (0, 1], got {decay!r}")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold < 0:
            raise ConfigError(f"threshold must be a number ≥ 0, got {threshold!r}")
        if (
            isinstance(initial_scale, bool)
            or not isinstance(initial_scale, (int, float))
            or not initial_scale > 0
        ):
            raise ConfigError(f"initial_scale must be a positive number, got {initial_scale!r}")
        self.model, self.decay, self.threshold = model, float(decay), float(threshold)
        # M starts along the current weights, so the first argmin keeps them.
        self.memory = [float(initial_scale) * model.weight(k) for k in range(model.layers)]

    def step(self, x: Tensor, y: Tensor) -> float:
        """One discrete-MSA iteration on the batch ``(x, y)`` (cross-entropy); returns the loss."""
        model = self.model
        states = [x]
        with torch.no_grad():
            for k in range(model.layers):
                states.append(model.layer(k, states[-1]))
        with torch.enable_grad():
            logits = states[-1].detach().requires_grad_(True)
            loss = nn.functional.cross_entropy(logits, y)
            (lam,) = torch.autograd.grad(loss, logits)
        for k in reversed(range(model.layers)):
            with torch.enable_grad():
                z = states[k].detach().requires_grad_(True)
                w = model.weight(k).clone().requires_grad_(True)
                hamiltonian = (lam * model.layer(k, z, w)).sum()
                lam_prev, grad_w = torch.autograd.grad(hamiltonian, (z, w))
            self.memory[k] = self.decay * self.memory[k] - grad_w.detach()
            lam = lam_prev.detach()
        for k in range(model.layers):
            model.weight(k).copy_(project_to_values(self.memory[k], model.values, self.threshold))
        return float(loss.detach())
