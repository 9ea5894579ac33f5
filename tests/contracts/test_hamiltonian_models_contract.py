"""One contract over every public model class of ``structdl.dynamics.learning``.

A class exported there without an example below fails
:func:`test_every_public_model_has_an_example`, so a new model is tested the day it is
exported. The contract: structure is declared as data (``claims``) and every declared property
passes its check in float64; float32 runs; gradients reach every parameter; a state dict
round trip reproduces the outputs.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

import structdl.dynamics.learning as learning
from structdl.dynamics import ImplicitMidpoint, ItohAbe, RungeKutta, StormerVerlet, Yoshida4
from structdl.structure import assert_preserves, guarantees

#: name -> (factory of a phase-space map (batch, 2d) -> (batch, 2d), d).
#: Vector fields appear through FlowMap, the map whose structure they are declared by.
EXAMPLES: dict[str, Callable[[], tuple[nn.Module, int]]] = {
    "LinearSymplectic": lambda: (learning.LinearSymplectic(2, sublayers=3, init_scale=0.5), 2),
    "ActivationShear": lambda: (learning.ActivationShear(2, "q", init_scale=1.0), 2),
    "GradientShear": lambda: (learning.GradientShear(2, width=6, init_scale=1.0), 2),
    "LASympNet": lambda: (learning.LASympNet(1, layers=3, init_scale=0.5), 1),
    "GSympNet": lambda: (learning.GSympNet(1, layers=4, width=8, init_scale=0.5), 1),
    # Extended SympNets map (q, p, c); their symplectic claim is on the map at one fixed c.
    "ExtendedShear": lambda: (
        learning.ExtendedShear(2, parameter_dim=1, width=6, init_scale=1.0).at(torch.randn(1)),
        2,
    ),
    "ExtendedSympNet": lambda: (
        learning.ExtendedSympNet(1, 2, layers=4, width=8, init_scale=0.5).at(torch.randn(2)),
        1,
    ),
    "HenonLayer": lambda: (learning.HenonLayer(2, width=6), 2),
    "HenonNet": lambda: (learning.HenonNet(1, layers=2, width=6), 1),
    "SymplecticAutoencoder": lambda: (
        learning.SymplecticAutoencoder(2, latent_dim=1, layers=2, width=4),
        2,
    ),
    "HamiltonianNN": lambda: (
        learning.FlowMap(learning.HamiltonianNN(1, width=8), ImplicitMidpoint(), 0.1),
        1,
    ),
    "ReducedHamiltonian": lambda: (
        learning.FlowMap(
            learning.ReducedHamiltonian(
                lambda z: 0.5 * z.pow(2).sum(dim=1) + 0.1 * z.pow(4).sum(dim=1),
                learning.SymplecticAutoencoder(3, latent_dim=1, layers=2, width=4),
            ),
            ImplicitMidpoint(),
            0.1,
        ),
        1,
    ),
    "SeparableHamiltonianNN": lambda: (
        learning.FlowMap(learning.SeparableHamiltonianNN(2, width=8), Yoshida4(), 0.1),
        2,
    ),
    "PairwiseHamiltonianNN": lambda: (
        learning.FlowMap(learning.PairwiseHamiltonianNN(2, width=8), Yoshida4(), 0.1),
        4,
    ),
    "DissipativeHamiltonianNN": lambda: (
        learning.FlowMap(learning.DissipativeHamiltonianNN(1, width=8), ItohAbe(), 0.1),
        1,
    ),
    "MLPField": lambda: (
        learning.FlowMap(learning.MLPField(1, width=8), RungeKutta("rk4"), 0.1),
        1,
    ),
    "LagrangianNN": lambda: (
        learning.FlowMap(learning.LagrangianNN(1, width=8), RungeKutta("rk4"), 0.1),
        1,
    ),
    "FlowMap": lambda: (
        learning.FlowMap(learning.SeparableHamiltonianNN(1, width=8), StormerVerlet(), 0.1, 3),
        1,
    ),
    "ScalarMLP": lambda: (
        learning.FlowMap(
            learning.HamiltonianNN(1, width=8, energy="quadratic+mlp"), ImplicitMidpoint(), 0.05
        ),
        1,
    ),
}


#: Models that declare no canonical structure (the baseline; the Lagrangian field).
UNSTRUCTURED = {"MLPField", "LagrangianNN"}


def _public_models() -> set[str]:
    return {
        name
        for name in learning.__all__
        if isinstance(getattr(learning, name), type)
        and issubclass(getattr(learning, name), nn.Module)
    }


def test_every_public_model_has_an_example() -> None:
    missing = _public_models() - set(EXAMPLES)
    assert not missing, f"public models without a contract example: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_declared_structure_passes_its_checks_in_float64(name: str) -> None:
    torch.manual_seed(0)
    model, dof = EXAMPLES[name]()
    model = model.double()
    z = torch.randn(5, 2 * dof, dtype=torch.float64)
    declared = guarantees(model)
    if name in UNSTRUCTURED:
        assert declared == frozenset()  # claims nothing for the canonical form
        return
    assert declared, f"{name} declares no structure"
    assert_preserves(model, z, h=0.1, n_steps=6)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_float32_gradients_and_state_dict_round_trip(name: str) -> None:
    torch.manual_seed(1)
    model, dof = EXAMPLES[name]()
    z = torch.randn(4, 2 * dof)
    out = model(z)
    assert out.shape == z.shape and out.dtype == torch.float32
    out.pow(2).sum().backward()
    for pname, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{name}: no gradient reaches {pname}"
    twin, _ = EXAMPLES[name]()
    twin.load_state_dict(model.state_dict())
    assert torch.allclose(twin(z), model(z).detach())
