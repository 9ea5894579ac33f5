"""ButcherTableau: validation errors and derived (never declared) properties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from structdl._errors import ConfigError
from structdl.dynamics.tableau import (
    TABLEAUX,
    ButcherTableau,
    PartitionedTableau,
    bicolored_trees,
    euler,
    gauss2,
    gauss4,
    heun,
    lobatto_3a_3b,
    lobatto_3a_3b_3stage,
    midpoint,
    rk4,
    rooted_trees,
    ssp_rk3,
    symplectic_euler_prk,
    tableau,
)


def _tree_size(tree: tuple) -> int:
    return 1 + sum(_tree_size(child) for child in tree)


def test_rooted_tree_counts_match_oeis_a000081() -> None:
    counts = [0] * 6
    for tree in rooted_trees(6):
        counts[_tree_size(tree) - 1] += 1
    assert counts == [1, 1, 2, 4, 9, 20]


@pytest.mark.parametrize(
    ("tab", "order"),
    [(euler, 1), (midpoint, 2), (heun, 2), (rk4, 4), (ssp_rk3, 3), (gauss2, 2), (gauss4, 4)],
)
def test_order_is_derived_from_tree_conditions(tab: ButcherTableau, order: int) -> None:
    assert tab.order == order


def test_three_eighths_rule_has_order_four_and_perturbation_breaks_it() -> None:
    a = [[0, 0, 0, 0], [1 / 3, 0, 0, 0], [-1 / 3, 1, 0, 0], [1, -1, 1, 0]]
    c = [0, 1 / 3, 2 / 3, 1]
    assert ButcherTableau(a, [1 / 8, 3 / 8, 3 / 8, 1 / 8], c).order == 4
    # moving weight between stages keeps Σb = 1 and Σbc = 1/2 but breaks the order-3 conditions
    broken = ButcherTableau(a, [1 / 8 + 0.01, 3 / 8 - 0.02, 3 / 8 + 0.01, 1 / 8], c)
    assert broken.order < 4


def test_three_stage_gauss_has_order_six() -> None:
    r = math.sqrt(15.0)
    a = [
        [5 / 36, 2 / 9 - r / 15, 5 / 36 - r / 30],
        [5 / 36 + r / 24, 2 / 9, 5 / 36 - r / 24],
        [5 / 36 + r / 30, 2 / 9 + r / 15, 5 / 36],
    ]
    c = [0.5 - r / 10, 0.5, 0.5 + r / 10]
    g6 = ButcherTableau(a, [5 / 18, 4 / 9, 5 / 18], c, name="gauss6")
    assert (g6.order, g6.is_symplectic, g6.is_symmetric, g6.is_explicit) == (6, True, True, False)


def test_explicit_flags() -> None:
    assert all(t.is_explicit for t in (euler, midpoint, heun, rk4, ssp_rk3))
    assert not gauss2.is_explicit and not gauss4.is_explicit


def test_symplectic_flags() -> None:
    assert gauss2.is_symplectic and gauss4.is_symplectic
    assert not any(t.is_symplectic for t in (euler, midpoint, heun, rk4, ssp_rk3))


def test_symmetric_flags() -> None:
    assert gauss2.is_symmetric and gauss4.is_symmetric
    assert not any(t.is_symmetric for t in (euler, rk4, ssp_rk3))
    # trapezoidal rule (Lobatto IIIA, 2 stages) is symmetric but not symplectic
    trap = ButcherTableau([[0, 0], [0.5, 0.5]], [0.5, 0.5], [0, 1], name="trapezoid")
    assert trap.is_symmetric and not trap.is_symplectic and trap.order == 2


def test_order_defects_of_rk4_vanish_to_order_four_not_five() -> None:
    for n in range(1, 5):
        assert max(abs(d) for d in rk4.order_defects(n).values()) < 1e-14
    assert max(abs(d) for d in rk4.order_defects(5).values()) > 1e-3


def test_stability_functions() -> None:
    z = np.array([-0.5, 0.3 + 0.2j, -2.0 + 1.0j])
    assert np.allclose(euler.stability_function(z), 1 + z)
    taylor4 = 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24
    assert np.allclose(rk4.stability_function(z), taylor4)
    assert np.allclose(gauss2.stability_function(z), (1 + z / 2) / (1 - z / 2))
    # Gauss methods are A-stable and |R(iy)| = 1 on the imaginary axis
    assert abs(abs(gauss4.stability_function(3.0j)) - 1.0) < 1e-13
    assert isinstance(euler.stability_function(-1.0), complex)


def test_contractivity_radius_is_derived() -> None:
    assert euler.contractivity_radius == 1.0
    assert heun.contractivity_radius == 1.0
    assert ssp_rk3.contractivity_radius == 1.0
    assert rk4.contractivity_radius == 0.0  # do not assume r = 1 for RK4
    assert midpoint.contractivity_radius == 0.0
    assert gauss2.contractivity_radius == 2.0  # θ-method with θ = 1/2: R = 1/(1 − θ)
    backward_euler = ButcherTableau([[1.0]], [1.0], [1.0], name="backward_euler")
    assert backward_euler.contractivity_radius == math.inf


def test_lookup_by_name_and_unknown_name() -> None:
    assert tableau("rk4") is rk4
    assert set(TABLEAUX) == {"euler", "midpoint", "heun", "rk4", "ssp_rk3", "gauss2", "gauss4"}
    with pytest.raises(ConfigError, match="unknown Butcher tableau 'rk5'"):
        tableau("rk5")


@pytest.mark.parametrize(
    ("a", "b", "c", "match"),
    [
        ([[0.0, 0.0]], [1.0], [0.0], "square"),
        ([[0.0]], [0.5, 0.5], [0.0], "one entry per stage"),
        ([[0.0, 0.0], [1.0, 0.0]], [0.5, 0.5], [0.0, 0.5], "row sums"),
        ([[0.0, 0.0], [1.0, 0.0]], [0.5, 0.6], [0.0, 1.0], "sum to 1"),
        ([[float("nan")]], [1.0], [0.0], "finite"),
        ([["x"]], [1.0], [0.0], "numbers"),
        ([], [], [], "square"),
    ],
)
def test_validation_errors(a: list, b: list, c: list, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ButcherTableau(a, b, c)


def test_tableau_is_immutable_data() -> None:
    with pytest.raises(AttributeError):
        rk4.b = (1.0,)  # type: ignore[misc]
    a, b, c = rk4.arrays
    b[0] = 99.0  # a copy: the tableau is unchanged
    assert rk4.b[0] == pytest.approx(1 / 6)


def test_bicolored_tree_counts_match_oeis_a000151() -> None:
    assert [len(bicolored_trees(n)) for n in range(1, 6)] == [2, 4, 14, 52, 214]


@pytest.mark.parametrize(
    ("pair", "expected"),
    [
        (lobatto_3a_3b, (2, True, True)),
        (lobatto_3a_3b_3stage, (4, True, True)),
        (symplectic_euler_prk, (1, True, False)),
        (PartitionedTableau(gauss4, gauss4), (4, True, True)),
        (PartitionedTableau(rk4, rk4), (4, False, False)),
    ],
)
def test_partitioned_tableau_properties_are_derived(
    pair: PartitionedTableau, expected: tuple[int, bool, bool]
) -> None:
    assert (pair.order, pair.is_symplectic, pair.is_symmetric) == expected


def test_partitioned_pair_needs_coupling_conditions() -> None:
    # two fourth-order tableaux do not make a fourth-order pair: the bicoloured coupling
    # conditions of order 3 fail for RK4 combined with the 3/8 rule
    three_eighths = ButcherTableau(
        [[0, 0, 0, 0], [1 / 3, 0, 0, 0], [-1 / 3, 1, 0, 0], [1, -1, 1, 0]],
        [1 / 8, 3 / 8, 3 / 8, 1 / 8],
        [0, 1 / 3, 2 / 3, 1],
    )
    pair = PartitionedTableau(rk4, three_eighths)
    assert three_eighths.order == 4 and pair.order < 4 and pair.is_explicit


def separable_only_pair() -> PartitionedTableau:
    """Explicit drift–kick pair with ``b = (1, 0) ≠ b̂ = (0, 1)``.

    ``b_i â_ij + b̂_j a_ji = b_i b̂_j`` holds (â₁₁ = a₂₂ = 0, â₁₂ + a₂₁ = 1), so it is symplectic for
    separable Hamiltonians only.
    """
    first = ButcherTableau([[0.0, 0.0], [1.0, 0.0]], [1.0, 0.0], [0.0, 1.0], name="q_part")
    second = ButcherTableau([[0.0, 0.0], [0.0, 0.0]], [0.0, 1.0], [0.0, 0.0], name="p_part")
    return PartitionedTableau(first, second, name="separable_only")


def test_separable_only_symplectic_pair() -> None:
    pair = separable_only_pair()
    assert pair.is_symplectic_separable and not pair.is_symplectic
    assert pair.order == 1 and pair.is_explicit
    # negative control: perturbing the coupling breaks the condition
    first = ButcherTableau([[0.0, 0.0], [0.9, 0.0]], [1.0, 0.0], [0.0, 0.9])
    assert not PartitionedTableau(first, pair.second).is_symplectic_separable


def test_partitioned_tableau_validation() -> None:
    with pytest.raises(ConfigError, match="same number of stages"):
        PartitionedTableau(rk4, euler)
    with pytest.raises(ConfigError, match="ButcherTableau objects"):
        PartitionedTableau(rk4, "rk4")  # type: ignore[arg-type]
