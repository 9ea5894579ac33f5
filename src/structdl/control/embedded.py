"""Embedded Runge–Kutta pairs as validated data: Bogacki–Shampine 3(2), Dormand–Prince 5(4),
Tsitouras 5(4).

An embedded pair shares the stages ``k_i`` of one tableau ``(A, c)`` between two weight
vectors: ``b`` (the propagated solution, order ``p``) and ``b̂`` (order ``p̂ = p − 1``); the
difference ``h Σ_i (b_i − b̂_i) k_i`` estimates the local error and drives the step size. Both
tableaux are :class:`~structdl.dynamics.tableau.ButcherTableau` objects, so their orders are
DERIVED from the rooted-tree conditions, not declared. A pair is "first same as last" (FSAL)
when the last row of ``A`` equals ``b`` and the last node is 1: the last stage of an accepted
step is the first stage of the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .._errors import ConfigError
from ..dynamics.tableau import ButcherTableau

__all__ = [
    "PAIRS",
    "EmbeddedPair",
    "bogacki_shampine",
    "dormand_prince",
    "embedded_pair",
    "tsitouras",
]


@dataclass(frozen=True, eq=False)
class EmbeddedPair:
    """A Runge–Kutta pair ``(A, b, b̂, c)``, validated through two Butcher tableaux.

    Args:
        a: the ``s × s`` stage matrix (strictly lower triangular: explicit pairs only).
        b: the weights of the propagated solution.
        b_hat: the weights of the embedded (error-estimating) solution.
        name: a label.

    Raises:
        ConfigError: inconsistent coefficients (through :class:`ButcherTableau`), an implicit
            ``A``, or an embedded order not below the main order.

    Example:
        >>> dormand_prince.order, dormand_prince.embedded_order, dormand_prince.fsal
        (5, 4, True)
    """

    main: ButcherTableau
    embedded: ButcherTableau
    name: str

    def __init__(self, a, b, b_hat, name: str) -> None:  # noqa: ANN001
        a_arr = np.asarray(a, dtype=np.float64)
        c = a_arr.sum(axis=1)
        main = ButcherTableau(a_arr, b, c, name=name)
        embedded = ButcherTableau(a_arr, b_hat, c, name=f"{name}-embedded")
        if not main.is_explicit:
            raise ConfigError(f"embedded pair {name!r}: A must be strictly lower triangular")
        if embedded.order >= main.order:
            raise ConfigError(
                f"embedded pair {name!r}: the error estimator needs an embedded order below the "
                f"main order, got {embedded.order} ≥ {main.order}"
            )
        object.__setattr__(self, "main", main)
        object.__setattr__(self, "embedded", embedded)
        object.__setattr__(self, "name", name)

    @property
    def order(self) -> int:
        """Order of the propagated solution (derived)."""
        return self.main.order

    @property
    def embedded_order(self) -> int:
        """Order of the embedded solution (derived)."""
        return self.embedded.order

    @property
    def stages(self) -> int:
        """Number of stages."""
        return self.main.stages

    @cached_property
    def fsal(self) -> bool:
        """Whether the last stage is evaluated at the new solution (first same as last)."""
        a, b, c = self.main.arrays
        return bool(np.allclose(a[-1], b, atol=1e-15) and abs(c[-1] - 1.0) < 1e-14)

    @cached_property
    def error_weights(self) -> tuple[float, ...]:
        """``b_i − b̂_i``: the local error estimate is ``h Σ_i (b_i − b̂_i) k_i``."""
        return tuple(float(x) for x in np.asarray(self.main.b) - np.asarray(self.embedded.b))


bogacki_shampine = EmbeddedPair(
    [[0, 0, 0, 0], [1 / 2, 0, 0, 0], [0, 3 / 4, 0, 0], [2 / 9, 1 / 3, 4 / 9, 0]],
    [2 / 9, 1 / 3, 4 / 9, 0],
    [7 / 24, 1 / 4, 1 / 3, 1 / 8],
    "bosh3",
)

dormand_prince = EmbeddedPair(
    [
        [0, 0, 0, 0, 0, 0, 0],
        [1 / 5, 0, 0, 0, 0, 0, 0],
        [3 / 40, 9 / 40, 0, 0, 0, 0, 0],
        [44 / 45, -56 / 15, 32 / 9, 0, 0, 0, 0],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0, 0, 0],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0, 0],
        [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0],
    ],
    [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0],
    [5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40],
    "dopri5",
)

_TSIT_B = [
    0.09646076681806523,
    0.01,
    0.4798896504144996,
    1.379008574103742,
    -3.290069515436081,
    2.324710524099774,
    0.0,
]
#: Tsitouras' error weights b − b̂ (Tsitouras 2011, Table 1; as in OrdinaryDiffEq's Tsit5).
_TSIT_BTILDE = [
    -0.00178001105222577714,
    -0.0008164344596567469,
    0.007880878010261995,
    -0.1447110071732629,
    0.5823571654525552,
    -0.45808210592918697,
    1.0 / 66.0,
]

tsitouras = EmbeddedPair(
    [
        [0, 0, 0, 0, 0, 0, 0],
        [0.161, 0, 0, 0, 0, 0, 0],
        [-0.008480655492356989, 0.335480655492357, 0, 0, 0, 0, 0],
        [2.897153057105493, -6.359448489975075, 4.3622954328695815, 0, 0, 0, 0],
        [5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525, 0, 0, 0],
        [
            5.86145544294642,
            -12.92096931784711,
            8.159367898576159,
            -0.071584973281401,
            -0.028269050394068383,
            0,
            0,
        ],
        _TSIT_B,
    ],
    _TSIT_B,
    [b - e for b, e in zip(_TSIT_B, _TSIT_BTILDE, strict=True)],
    "tsit5",
)

#: The pairs by name.
PAIRS: dict[str, EmbeddedPair] = {p.name: p for p in (bogacki_shampine, dormand_prince, tsitouras)}


def embedded_pair(name: str | EmbeddedPair) -> EmbeddedPair:
    """Look up a pair by name (``"bosh3"``, ``"dopri5"``, ``"tsit5"``) or pass one through."""
    if isinstance(name, EmbeddedPair):
        return name
    try:
        return PAIRS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown embedded pair {name!r} — expected one of {sorted(PAIRS)} — pass a name "
            "or an EmbeddedPair(a, b, b_hat, name)"
        ) from None
