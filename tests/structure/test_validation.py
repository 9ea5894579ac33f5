"""Bad inputs to the checks raise the typed errors of structdl._errors with a useful message."""

from __future__ import annotations

import pytest
import torch
from _structure_maps import rotation, scaling, shift_action

from structdl import ConfigError, NonFiniteError, ShapeError
from structdl.structure import (
    check_energy,
    check_equivariance,
    check_inverse,
    check_lipschitz,
    check_on_manifold,
    check_order,
    check_reversible,
    check_symplectic,
    check_volume_preserving,
)

GOOD = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
WITH_NAN = GOOD.clone()
WITH_NAN[1, 2] = float("nan")
IDENTITY = scaling(1.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: check_symplectic(IDENTITY, GOOD.tolist()), "not a tensor"),
        (lambda: check_symplectic(IDENTITY, GOOD[:, :3]), "odd dimension"),
        (lambda: check_symplectic(IDENTITY, GOOD[0]), "wrong shape"),
        (lambda: check_symplectic(IDENTITY, GOOD.reshape(4, 2, 2)), "wrong shape"),
        (lambda: check_symplectic(IDENTITY, GOOD.long()), "non-floating"),
        (lambda: check_symplectic(IDENTITY, GOOD, J=torch.eye(3)), "`J` is invalid"),
        (lambda: check_symplectic(lambda z: z[:, :2], GOOD), "changes the shape"),
        (lambda: check_symplectic(lambda z: z.sum(), GOOD), "did not return a batch"),
        (lambda: check_volume_preserving(lambda x: x[:, :2], GOOD), "non-square"),
        (lambda: check_volume_preserving(IDENTITY, GOOD, logdet=lambda x: x), "wrong shape"),
        (lambda: check_lipschitz(IDENTITY, torch.empty(0, 3)), "wrong shape"),
        (lambda: check_inverse(IDENTITY, lambda y: y[:, :2], GOOD), "structure of the input"),
        (lambda: check_inverse(IDENTITY, IDENTITY, (GOOD, GOOD[:2])), "different batch sizes"),
        (lambda: check_energy(lambda z: z.sum(1), [GOOD]), "too short"),
        (lambda: check_energy(lambda z: z, [GOOD, GOOD]), "wrong shape"),
        (lambda: check_on_manifold(lambda x: x, GOOD), "wrong shape"),
        (lambda: check_order([0.1, 0.05, 0.02], [0.1, 0.2], 1), "differ in length"),
        (lambda: check_order([0.1, 0.1], [0.1, 0.2], 1), "all equal"),
        (lambda: check_order([0.1, 0.05], [0.0, 0.1], 1), "at least two finite values > 0"),
        (lambda: check_order([0.1], [0.1], 1), "at least two"),
        (lambda: check_order("abc", [0.1, 0.2], 1), "not a sequence"),
    ],
)
def test_shape_errors(call, match):
    with pytest.raises(ShapeError, match=match):
        call()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: check_symplectic(IDENTITY, WITH_NAN), "1 non-finite entries"),
        (lambda: check_symplectic(lambda z: z / 0.0, GOOD), "returned non-finite values"),
        (lambda: check_energy(lambda z: z.sum(1), [GOOD, WITH_NAN]), "non-finite"),
    ],
)
def test_non_finite_inputs_and_outputs_raise_the_non_finite_error(call, match):
    # A NaN is a value error, not a shape error: NonFiniteError, as everywhere else.
    with pytest.raises(NonFiniteError, match=match):
        call()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: check_symplectic("not a map", GOOD), "not callable"),
        (lambda: check_symplectic(IDENTITY, GOOD, atol=-1.0), "`atol` is invalid"),
        (lambda: check_symplectic(IDENTITY, GOOD, atol="small"), "not a number"),
        (lambda: check_symplectic(IDENTITY, GOOD, rate=0.0), "`rate` is invalid"),
        (lambda: check_volume_preserving(IDENTITY, GOOD, logdet=3.0), "`logdet` is not"),
        (
            lambda: check_lipschitz(IDENTITY, GOOD, n_pairs=-1),
            "check_lipschitz: n_pairs must be an integer",
        ),
        (
            lambda: check_lipschitz(IDENTITY, GOOD, n_pairs=0),
            "check_lipschitz: n_pairs must be an integer",
        ),
        (
            lambda: check_lipschitz(IDENTITY, GOOD, n_pairs=2.5),
            "check_lipschitz: n_pairs must be an integer",
        ),
        (
            lambda: check_lipschitz(IDENTITY, GOOD, ascent_steps=-3),
            "check_lipschitz: ascent_steps must be an integer ≥ 0",
        ),
        (
            lambda: check_lipschitz(IDENTITY, GOOD, seed=-1),
            "check_lipschitz: seed must be an integer",
        ),
        (lambda: check_lipschitz(IDENTITY, GOOD, bound=-1.0), "`bound` is invalid"),
        (lambda: check_lipschitz(IDENTITY, GOOD, bound=float("nan")), "`bound` is invalid"),
        (lambda: check_lipschitz(IDENTITY, GOOD, rtol=float("inf")), "`rtol` is invalid"),
        (lambda: check_inverse(IDENTITY, None, GOOD), "`inverse` is not callable"),
        (lambda: check_reversible(None, GOOD, 0.1), "`step` is not callable"),
        (lambda: check_energy(lambda z: z.sum(1), [GOOD, GOOD], mode="foo"), "unknown mode"),
        (lambda: check_energy(None, [GOOD, GOOD]), "`energy` is not callable"),
        (lambda: check_equivariance(IDENTITY, [], shift_action, shift_action, GOOD), "empty"),
        (lambda: check_equivariance(IDENTITY, 4, shift_action, shift_action, GOOD), "iterable"),
        (lambda: check_equivariance(IDENTITY, [0], None, shift_action, GOOD), "input_action"),
        (lambda: check_on_manifold(object(), GOOD), "cannot measure a defect"),
        (lambda: check_order([0.1, 0.05], [0.1, 0.05], -1), "`declared_order` is invalid"),
        (lambda: check_order([0.1, 0.05], [0.1, 0.05], 1, atol=-0.1), "`atol` is invalid"),
    ],
)
def test_config_errors(call, match):
    with pytest.raises(ConfigError, match=match):
        call()


def test_messages_follow_the_template():
    with pytest.raises(ShapeError) as info:
        check_symplectic(rotation(0.1), GOOD[:, :3])
    message = str(info.value)
    # what is wrong — what was expected — what was received — how to fix it
    assert message.startswith("check_symplectic:")
    assert message.count(" — ") >= 3
    assert "expected" in message and "received" in message


def test_errors_are_also_builtin_exceptions():
    with pytest.raises(ValueError):
        check_lipschitz(IDENTITY, GOOD, n_pairs=-1)
    with pytest.raises(ValueError):
        check_symplectic(IDENTITY, WITH_NAN)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (torch.randn(64), True),
        (torch.tensor([1.0, float("nan"), 2.0]), False),
        (torch.tensor([float("inf"), -float("inf")]), False),  # a sum of NaN, not ±inf
        (torch.full((8,), 6e4, dtype=torch.float16), True),  # finite, though the sum overflows
        (torch.tensor([1 + 2j, 3 - 1j]), True),
        (torch.arange(5), True),  # integers cannot be non-finite
    ],
)
def test_the_one_finite_check_screens_by_a_sum_and_settles_overflow_exactly(values, expected):
    from structdl.structure._validate import finite_or_unknown

    assert finite_or_unknown(values) is expected
