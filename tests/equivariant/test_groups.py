"""Group axioms and the homomorphism property of the actions on images and fields."""

from __future__ import annotations

import itertools

import pytest
import torch

from structdl.equivariant import (
    C1,
    C2,
    C4,
    D1,
    D2,
    D4,
    C,
    D,
    act_image,
    act_quotient,
    act_regular,
    restrict_regular,
    rotate_interpolated,
)

GROUPS = [C1, C2, C4, D1, D2, D4, C(3), C(8), D(6)]
EXACT = [C1, C2, C4, D1, D2, D4]


@pytest.mark.parametrize("group", GROUPS, ids=str)
def test_cayley_table_is_a_group_law(group):
    table = group.cayley_table()
    n = group.order
    assert table.shape == (n, n)
    # Latin square: every row and column is a permutation (cancellation laws).
    for i in range(n):
        assert sorted(table[i].tolist()) == list(range(n))
        assert sorted(table[:, i].tolist()) == list(range(n))
    # Associativity (a b) c = a (b c) for all triples.
    left = torch.stack([table[table[a]] for a in range(n)])  # left[a, b, c] = table[ab, c]
    right = torch.stack([table[a][table] for a in range(n)])  # right[a, b, c] = a(bc)
    assert torch.equal(left, right)
    # Identity and inverses.
    e = group.index(group.identity)
    assert table[e].tolist() == list(range(n)) == table[:, e].tolist()
    for g in group:
        assert group.compose(g, group.inverse(g)) == group.identity
        assert group.compose(group.inverse(g), g) == group.identity


@pytest.mark.parametrize("group", [C4, D4, D(3)], ids=str)
def test_dihedral_relations(group):
    r = group.element(1)
    assert group.order == group.n * (2 if group.dihedral else 1)
    power = group.identity
    for _ in range(group.n):
        power = group.compose(r, power)
    assert power == group.identity
    if group.dihedral:
        m = group.element(0, 1)
        # m r m = r^{-1}
        assert group.compose(m, group.compose(r, m)) == group.inverse(r)


def test_named_constants_and_exactness():
    assert (C4.order, D4.order, C1.order, D1.order, C2.order, D2.order) == (4, 8, 1, 2, 2, 4)
    assert all(g.exact for g in EXACT)
    assert not C(8).exact and not D(3).exact
    assert C4 == C(4) and D4 != C4 and hash(C(4)) == hash(C4)
    assert C4.is_subgroup_of(D4) and D1.is_subgroup_of(D4) and C4.is_subgroup_of(C(8))
    assert not D1.is_subgroup_of(C4) and not C(3).is_subgroup_of(C4)


def _image(n=9, dtype=torch.float64):
    return torch.randn(2, 3, n, n, generator=torch.Generator().manual_seed(1), dtype=dtype)


@pytest.mark.parametrize("group", EXACT, ids=str)
def test_image_action_is_exact_homomorphism(group):
    x = _image()
    for g, h in itertools.product(group, group):
        lhs = act_image(g, act_image(h, x))
        assert torch.equal(lhs, act_image(group.compose(g, h), x))


@pytest.mark.parametrize("group", EXACT, ids=str)
def test_regular_action_is_exact_homomorphism(group):
    x = torch.randn(2, 3, group.order, 7, 7, dtype=torch.float64)
    for g, h in itertools.product(group, group):
        lhs = act_regular(g, act_regular(h, x, group), group)
        assert torch.equal(lhs, act_regular(group.compose(g, h), x, group))


@pytest.mark.parametrize(("group", "subgroup"), [(D4, C4), (D4, D1), (C4, C2), (D4, D2)])
def test_quotient_action_is_exact_homomorphism(group, subgroup):
    size = group.order // subgroup.order
    x = torch.randn(1, 2, size, 6, 6, dtype=torch.float64)
    for g, h in itertools.product(group, group):
        lhs = act_quotient(g, act_quotient(h, x, group, subgroup), group, subgroup)
        assert torch.equal(lhs, act_quotient(group.compose(g, h), x, group, subgroup))


def test_regular_action_of_c4_is_a_cyclic_shift():
    x = torch.randn(1, 1, 4, 5, 5)
    r = C4.element(1)
    y = act_regular(r, x, C4)
    # (L_r f)(r^k) = T_r f(r^{k-1}): the group axis shifts by one.
    assert torch.equal(y[:, :, 1], torch.rot90(x[:, :, 0], 1, dims=(-2, -1)))


@pytest.mark.parametrize(("group", "subgroup"), [(D4, C4), (D4, D1), (C4, C2)])
def test_restriction_of_regular_fields_commutes_with_subgroup_action(group, subgroup):
    x = torch.randn(2, 3, group.order, 5, 5, dtype=torch.float64)
    for h in subgroup:
        lhs = restrict_regular(act_regular(h, x, group), group, subgroup)
        rhs = act_regular(h, restrict_regular(x, group, subgroup), subgroup)
        assert torch.equal(lhs, rhs)


def test_interpolated_rotation_matches_rot90_and_is_approximate():
    x = _image(11)
    assert torch.allclose(rotate_interpolated(x, torch.pi / 2), torch.rot90(x, 1, (-2, -1)))
    r8 = C(8).element(1)
    twice = act_image(r8, act_image(r8, x))
    quarter = act_image(C(8).element(2), x)
    # r8 ∘ r8 = r8² holds only approximately (interpolation) — but r8² itself is exact rot90.
    assert torch.equal(quarter, torch.rot90(x, 1, (-2, -1)))
    defect = float((twice - quarter).norm() / quarter.norm())
    assert 1e-3 < defect < 1.0


def test_subgroup_elements_act_like_the_same_element_of_the_big_group():
    x = _image()
    for g in C4:
        assert torch.equal(act_image(g, x), act_image(D4.coerce(g), x))
        assert torch.equal(act_image(g, x), act_image(C(8).coerce(g), x))
