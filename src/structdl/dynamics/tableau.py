"""Butcher tableaux as validated data whose properties are *derived*, never declared.

A Runge–Kutta method with ``s`` stages is the data ``(A, b, c)``::

    k_i     = f(t + c_i h, y + h Σ_j a_ij k_j),   i = 1..s
    y_{n+1} = y_n + h Σ_i b_i k_i

:class:`ButcherTableau` checks the consistency conditions (shapes, ``c_i = Σ_j a_ij``,
``Σ_i b_i = 1``) when it is built and computes from the coefficients:

* ``is_explicit`` — ``A`` strictly lower triangular;
* ``is_symplectic`` — ``b_i a_ij + b_j a_ji = b_i b_j`` for all ``i, j`` (Sanz-Serna 1988); such a
  method is symplectic for every Hamiltonian field and conserves every quadratic invariant;
* ``is_symmetric`` — ``a_ij + a_{s+1-i, s+1-j} = b_j`` and ``b_i = b_{s+1-i}``, so that
  ``Φ_{-h} = Φ_h^{-1}`` (Hairer–Lubich–Wanner, Thm. V.2.3);
* ``order`` — the largest ``p ≤ max_order`` such that ``bᵀ Φ(τ) = 1/γ(τ)`` holds for every rooted
  tree ``τ`` with at most ``p`` vertices (Butcher's order conditions, generated from the trees);
* ``contractivity_radius`` — Kraaijevanger's threshold factor ``R(A, b)``, equal to the
  circle-contractivity radius ``r`` used by the non-expansive step rule ``h ≤ 2r/ν``;
* ``is_algebraically_stable`` — ``b ≥ 0`` and ``BA + AᵀB − bbᵀ ⪰ 0`` (B-stability);
* ``stability_function(z)`` — ``R(z) = 1 + z bᵀ (I − zA)⁻¹ 𝟙``.

The module provides the tableaux ``euler``, ``midpoint``, ``heun``, ``rk4``, ``ssp_rk3``, ``gauss2``
(implicit midpoint) and ``gauss4`` (two-stage Gauss–Legendre), and the lookup :func:`tableau`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .._errors import ConfigError

__all__ = [
    "TABLEAUX",
    "ButcherTableau",
    "PartitionedTableau",
    "bicolored_trees",
    "euler",
    "gauss2",
    "gauss4",
    "heun",
    "lobatto_3a_3b",
    "lobatto_3a_3b_3stage",
    "midpoint",
    "rk4",
    "rooted_trees",
    "ssp_rk3",
    "symplectic_euler_prk",
    "tableau",
]

#: Absolute tolerance of the consistency and order conditions (coefficients are O(1) numbers).
_COND_TOL = 1e-12

#: Trees are nested tuples: a tree is the sorted tuple of its children (the leaf is ``()``).
Tree = tuple


def _trees_with(n: int, cache: dict[int, list[Tree]]) -> list[Tree]:
    """All rooted trees with exactly ``n`` vertices, each in a canonical sorted form."""
    if n in cache:
        return cache[n]
    if n == 1:
        cache[1] = [()]
        return cache[1]
    found: set[Tree] = set()
    # A tree with n vertices is a root plus a multiset of subtrees whose sizes sum to n - 1;
    # grow it one subtree at a time and canonicalise by sorting the children.
    for forest in _forests(n - 1, cache):
        found.add(tuple(sorted(forest)))
    cache[n] = sorted(found, key=repr)
    return cache[n]


def _forests(total: int, cache: dict[int, list[Tree]]) -> list[tuple[Tree, ...]]:
    """All multisets (as tuples) of rooted trees whose vertex counts sum to ``total``."""
    if total == 0:
        return [()]
    out: list[tuple[Tree, ...]] = []
    for first in range(1, total + 1):
        for sub in _trees_with(first, cache):
            for rest in _forests(total - first, cache):
                out.append((sub, *rest))
    return out


def rooted_trees(max_vertices: int) -> list[Tree]:
    """Return all rooted trees with ``1..max_vertices`` vertices (1, 1, 2, 4, 9, 20, … per size).

    Args:
        max_vertices: the largest tree size (the order the conditions are checked up to).

    Example:
        >>> [len([t for t in rooted_trees(4) if _size(t) == n]) for n in (1, 2, 3, 4)]
        [1, 1, 2, 4]
    """
    cache: dict[int, list[Tree]] = {}
    trees: list[Tree] = []
    for n in range(1, max_vertices + 1):
        trees.extend(_trees_with(n, cache))
    return trees


def _size(tree: Tree) -> int:
    return 1 + sum(_size(child) for child in tree)


def _density(tree: Tree) -> int:
    """γ(τ) = |τ| · Π γ(children)."""
    return _size(tree) * math.prod(_density(child) for child in tree)


def _stage_weights(tree: Tree, a: np.ndarray) -> np.ndarray:
    """The stage vector Φ_i(τ) = Π_children (A Φ(child))_i; ``bᵀΦ(τ)`` is the elementary weight."""
    out = np.ones(a.shape[0])
    for child in tree:
        out = out * (a @ _stage_weights(child, a))
    return out


def _as_matrix(values: Sequence[Sequence[float]] | np.ndarray, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"Butcher coefficient {what} must be numbers, got {values!r}; pass lists of floats"
        ) from exc
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"Butcher coefficient {what} must be finite, got {values!r}")
    return arr


@dataclass(frozen=True, eq=False)
class ButcherTableau:
    """Coefficients ``(A, b, c)`` of a Runge–Kutta method, validated at construction.

    Defining equations: ``k_i = f(t + c_i h, y + h Σ_j a_ij k_j)``, ``y₁ = y₀ + h Σ_i b_i k_i``.
    Every structural property (explicit, symplectic, symmetric, order, contractivity radius) is
    computed from the coefficients.

    Args:
        a: the ``s × s`` stage matrix ``A``.
        b: the ``s`` weights.
        c: the ``s`` nodes; must equal the row sums of ``A`` (the usual simplifying assumption,
            required so that non-autonomous fields are integrated to the same order).
        name: a short label used in messages.
        max_order: the largest order checked by the tree conditions (default 6).

    Raises:
        ConfigError: for non-square ``A``, mismatched lengths, ``c ≠ A𝟙`` or ``Σ b ≠ 1``.

    Example:
        >>> rk4.order, rk4.is_explicit, rk4.is_symplectic
        (4, True, False)
        >>> gauss4.order, gauss4.is_symplectic, gauss4.is_symmetric
        (4, True, True)
    """

    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]
    name: str = "custom"
    max_order: int = 6
    _arrays: tuple[np.ndarray, np.ndarray, np.ndarray] = field(init=False, repr=False)

    def __init__(
        self,
        a: Sequence[Sequence[float]] | np.ndarray,
        b: Sequence[float] | np.ndarray,
        c: Sequence[float] | np.ndarray,
        name: str = "custom",
        max_order: int = 6,
    ) -> None:
        a_arr = _as_matrix(a, "a")
        b_arr = _as_matrix(b, "b")
        c_arr = _as_matrix(c, "c")
        if a_arr.ndim != 2 or a_arr.shape[0] != a_arr.shape[1] or a_arr.shape[0] == 0:
            raise ConfigError(
                f"tableau {name!r}: A must be a non-empty square s×s matrix, got shape "
                f"{a_arr.shape}; pass one row of s coefficients per stage"
            )
        s = a_arr.shape[0]
        if b_arr.shape != (s,) or c_arr.shape != (s,):
            raise ConfigError(
                f"tableau {name!r}: b and c must have one entry per stage (s={s}), got b of "
                f"shape {b_arr.shape} and c of shape {c_arr.shape}"
            )
        row_sums = a_arr.sum(axis=1)
        if np.max(np.abs(row_sums - c_arr)) > _COND_TOL:
            raise ConfigError(
                f"tableau {name!r}: nodes must equal the row sums of A (c_i = Σ_j a_ij), got "
                f"c={c_arr.tolist()} but row sums {row_sums.tolist()}; set c to the row sums"
            )
        if abs(b_arr.sum() - 1.0) > _COND_TOL:
            raise ConfigError(
                f"tableau {name!r}: weights must sum to 1 for consistency (order ≥ 1), got "
                f"Σb={b_arr.sum()!r}; rescale b"
            )
        if not isinstance(max_order, int) or not 1 <= max_order <= 8:
            raise ConfigError(
                f"tableau {name!r}: max_order must be an int in 1..8, got {max_order!r}"
            )
        object.__setattr__(self, "a", tuple(tuple(float(x) for x in row) for row in a_arr))
        object.__setattr__(self, "b", tuple(float(x) for x in b_arr))
        object.__setattr__(self, "c", tuple(float(x) for x in c_arr))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "max_order", max_order)
        object.__setattr__(self, "_arrays", (a_arr, b_arr, c_arr))

    # -- derived properties ---------------------------------------------------------------

    @property
    def stages(self) -> int:
        """Number of stages ``s``."""
        return len(self.b)

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of ``(A, b, c)`` as float64 numpy arrays."""
        a, b, c = self._arrays
        return a.copy(), b.copy(), c.copy()

    @cached_property
    def is_explicit(self) -> bool:
        """``A`` strictly lower triangular: each stage uses only earlier stages."""
        a = self._arrays[0]
        return bool(np.all(np.triu(a) == 0.0))

    @cached_property
    def is_symplectic(self) -> bool:
        """``M_ij = b_i a_ij + b_j a_ji − b_i b_j = 0``: symplectic for every Hamiltonian field."""
        a, b, _ = self._arrays
        m = b[:, None] * a + (b[:, None] * a).T - np.outer(b, b)
        return bool(np.max(np.abs(m)) <= _COND_TOL)

    @cached_property
    def is_symmetric(self) -> bool:
        """``a_ij + a_{s+1−i,s+1−j} = b_j``, ``b_i = b_{s+1−i}``: the method is its own adjoint."""
        a, b, _ = self._arrays
        flipped = a[::-1, ::-1]
        cond_a = np.max(np.abs(a + flipped - b[None, :]))
        cond_b = np.max(np.abs(b - b[::-1]))
        return bool(max(cond_a, cond_b) <= _COND_TOL)

    @cached_property
    def is_algebraically_stable(self) -> bool:
        """``b ≥ 0`` and ``M = BA + AᵀB − bbᵀ ⪰ 0`` (Burrage–Butcher): B-stable, so non-expansive
        on every field with one-sided Lipschitz constant 0 (a gradient flow), for every ``h
        > 0``."""
        a, b, _ = self._arrays
        if np.any(b < -_COND_TOL):
            return False
        m = np.diag(b) @ a + a.T @ np.diag(b) - np.outer(b, b)
        return bool(np.linalg.eigvalsh(0.5 * (m + m.T)).min() >= -_COND_TOL)

    def order_defects(self, order: int) -> dict[Tree, float]:
        """``bᵀΦ(τ) − 1/γ(τ)`` for every rooted tree ``τ`` with exactly ``order`` vertices."""
        a, b, _ = self._arrays
        cache: dict[int, list[Tree]] = {}
        return {
            tree: float(b @ _stage_weights(tree, a) - 1.0 / _density(tree))
            for tree in _trees_with(order, cache)
        }

    @cached_property
    def order(self) -> int:
        """Classical order: largest ``p ≤ max_order`` with every tree condition of size ``≤ p``."""
        p = 0
        for n in range(1, self.max_order + 1):
            if max(abs(d) for d in self.order_defects(n).values()) > _COND_TOL:
                break
            p = n
        return p

    def stability_function(self, z: complex | np.ndarray) -> complex | np.ndarray:
        """``R(z) = 1 + z bᵀ (I − zA)⁻¹ 𝟙``: the step multiplier on ``y' = λy`` with ``z = hλ``."""
        a, b, _ = self._arrays
        s = self.stages
        zs = np.atleast_1d(np.asarray(z, dtype=np.complex128))
        out = np.empty_like(zs)
        for k, zk in enumerate(zs.ravel()):
            stage = np.linalg.solve(np.eye(s) - zk * a, np.ones(s))
            out.flat[k] = 1.0 + zk * (b @ stage)
        return complex(out[0]) if np.ndim(z) == 0 else out

    def _threshold_feasible(self, r: float) -> bool:
        # Kraaijevanger (1991): with K = [[A, 0], [bᵀ, 0]], the method is contractive under the
        # circle condition of radius r iff (I + rK) is invertible, K(I + rK)⁻¹ ≥ 0 and
        # r K (I + rK)⁻¹ 𝟙 ≤ 𝟙 componentwise.
        a, b, _ = self._arrays
        s = self.stages
        k = np.zeros((s + 1, s + 1))
        k[:s, :s] = a
        k[s, :s] = b
        m = np.eye(s + 1) + r * k
        if abs(np.linalg.det(m)) < 1e-14:
            return False
        kinv = k @ np.linalg.inv(m)
        slack = 1e-13
        return bool(np.all(kinv >= -slack) and np.all(r * kinv.sum(axis=1) <= 1.0 + slack))

    @cached_property
    def contractivity_radius(self) -> float:
        """Circle-contractivity radius (threshold factor) ``r ≥ 0``; ``inf`` if unbounded.

        A method with radius ``r`` maps a co-coercive field with constant ``ν`` non-expansively
        whenever ``h ≤ 2r/ν``. Forward Euler, Heun and SSP-RK3 have ``r = 1``; classical RK4 and
        explicit midpoint have ``r = 0`` (no step size is guaranteed non-expansive).
        """
        if not self._threshold_feasible(0.0):
            return 0.0
        big = 1e6
        if self._threshold_feasible(big):
            return math.inf
        lo, hi = 0.0, 1.0
        while self._threshold_feasible(hi):
            lo, hi = hi, 2.0 * hi
        for _ in range(80):  # bisection to round-off
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if self._threshold_feasible(mid) else (lo, mid)
        # The feasibility test allows a round-off slack; rounding removes its footprint
        # (a radius of 1e-13 is 0, and 1 + 1e-13 is 1).
        return float(round(lo, 10))

    def __repr__(self) -> str:
        return (
            f"ButcherTableau(name={self.name!r}, stages={self.stages}, order={self.order}, "
            f"explicit={self.is_explicit}, symplectic={self.is_symplectic})"
        )


_SQ3 = math.sqrt(3.0)

euler = ButcherTableau([[0.0]], [1.0], [0.0], name="euler")
midpoint = ButcherTableau([[0.0, 0.0], [0.5, 0.0]], [0.0, 1.0], [0.0, 0.5], name="midpoint")
heun = ButcherTableau([[0.0, 0.0], [1.0, 0.0]], [0.5, 0.5], [0.0, 1.0], name="heun")
rk4 = ButcherTableau(
    [[0.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0], [0.0, 0.5, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]],
    [1 / 6, 1 / 3, 1 / 3, 1 / 6],
    [0.0, 0.5, 0.5, 1.0],
    name="rk4",
)
#: Shu–Osher strong-stability-preserving RK3 (SSP coefficient and contractivity radius 1).
ssp_rk3 = ButcherTableau(
    [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.25, 0.25, 0.0]],
    [1 / 6, 1 / 6, 2 / 3],
    [0.0, 1.0, 0.5],
    name="ssp_rk3",
)
#: One-stage Gauss–Legendre = implicit midpoint rule (order 2, symplectic, symmetric).
gauss2 = ButcherTableau([[0.5]], [1.0], [0.5], name="gauss2")
#: Two-stage Gauss–Legendre (order 4, symplectic, symmetric).
gauss4 = ButcherTableau(
    [[0.25, 0.25 - _SQ3 / 6], [0.25 + _SQ3 / 6, 0.25]],
    [0.5, 0.5],
    [0.5 - _SQ3 / 6, 0.5 + _SQ3 / 6],
    name="gauss4",
)

#: Every named tableau, by name.
TABLEAUX: dict[str, ButcherTableau] = {
    t.name: t for t in (euler, midpoint, heun, rk4, ssp_rk3, gauss2, gauss4)
}


def tableau(name: str) -> ButcherTableau:
    """Look up a named tableau (``"euler"``, ``"midpoint"``, ``"heun"``, ``"rk4"``, …).

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    try:
        return TABLEAUX[name]
    except KeyError:
        raise ConfigError(
            f"unknown Butcher tableau {name!r}; expected one of {sorted(TABLEAUX)}; pass a "
            "ButcherTableau(a, b, c) for a custom method"
        ) from None


# -- partitioned Runge–Kutta methods -----------------------------------------------------------

#: A bicoloured tree is ``(colour, children)`` with colour 0 (first component, ``q``) or 1 (``p``)
#: and ``children`` the sorted tuple of bicoloured subtrees.
ColoredTree = tuple


def _colored_with(n: int, cache: dict[int, list[ColoredTree]]) -> list[ColoredTree]:
    if n in cache:
        return cache[n]
    found: set[ColoredTree] = set()
    for forest in _colored_forests(n - 1, cache):
        children = tuple(sorted(forest))
        found.add((0, children))
        found.add((1, children))
    cache[n] = sorted(found, key=repr)
    return cache[n]


def _colored_forests(total: int, cache: dict[int, list[ColoredTree]]) -> list[tuple]:
    if total == 0:
        return [()]
    out: list[tuple] = []
    for first in range(1, total + 1):
        for sub in _colored_with(first, cache):
            for rest in _colored_forests(total - first, cache):
                out.append((sub, *rest))
    return out


def bicolored_trees(vertices: int) -> list[ColoredTree]:
    """All bicoloured rooted trees with exactly ``vertices`` vertices (2, 4, 14, 52, 214, …)."""
    return list(_colored_with(vertices, {}))


def _colored_size(tree: ColoredTree) -> int:
    return 1 + sum(_colored_size(child) for child in tree[1])


def _colored_density(tree: ColoredTree) -> int:
    return _colored_size(tree) * math.prod(_colored_density(child) for child in tree[1])


def _colored_stage_weights(tree: ColoredTree, mats: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    # a child of colour k contributes through the stage matrix of component k
    out = np.ones(mats[0].shape[0])
    for child in tree[1]:
        out = out * (mats[child[0]] @ _colored_stage_weights(child, mats))
    return out


@dataclass(frozen=True, eq=False)
class PartitionedTableau:
    """A partitioned Runge–Kutta method: ``(A, b, c)`` for ``q`` and ``(Â, b̂, ĉ)`` for ``p``.

    Defining equations for ``q' = f(q, p)``, ``p' = g(q, p)``::

        Q_i = q₀ + h Σ_j a_ij f(Q_j, P_j),     P_i = p₀ + h Σ_j â_ij g(Q_j, P_j)
        q₁  = q₀ + h Σ_i b_i f(Q_i, P_i),      p₁  = p₀ + h Σ_i b̂_i g(Q_i, P_i)

    Derived properties: ``is_explicit`` (both matrices strictly lower triangular),
    ``is_symplectic`` (``b_i â_ij + b̂_j a_ji = b_i b̂_j`` and ``b = b̂``: symplectic for every
    Hamiltonian), ``is_symplectic_separable`` (the first condition alone, which suffices for
    separable ``H = T(p) + V(q)``; Hairer–Lubich–Wanner Thm. VI.4.6), ``is_symmetric`` and
    ``order`` from the bicoloured-tree conditions ``b^{(root)}ᵀ Φ(τ) = 1/γ(τ)``.

    Args:
        first: the tableau applied to the first component ``q``.
        second: the tableau applied to the second component ``p`` (same number of stages).
        name: a short label.

    Example:
        >>> lobatto_3a_3b.order, lobatto_3a_3b.is_symplectic, lobatto_3a_3b.is_symmetric
        (2, True, True)
    """

    first: ButcherTableau
    second: ButcherTableau
    name: str = "custom"

    def __post_init__(self) -> None:
        if not isinstance(self.first, ButcherTableau) or not isinstance(
            self.second, ButcherTableau
        ):
            raise ConfigError(
                f"partitioned tableau {self.name!r}: both parts must be ButcherTableau objects, "
                f"got {type(self.first).__name__} and {type(self.second).__name__}"
            )
        if self.first.stages != self.second.stages:
            raise ConfigError(
                f"partitioned tableau {self.name!r}: both parts need the same number of stages, "
                f"got {self.first.stages} and {self.second.stages}; pad the shorter one with "
                "zero-weight stages"
            )

    @property
    def stages(self) -> int:
        """Number of stages ``s``."""
        return self.first.stages

    @cached_property
    def is_explicit(self) -> bool:
        """Every stage depends only on earlier stages in both components."""
        return self.first.is_explicit and self.second.is_explicit

    @cached_property
    def _symplectic_defect(self) -> float:
        a, b, _ = self.first.arrays
        ah, bh, _ = self.second.arrays
        m = b[:, None] * ah + (bh[:, None] * a).T - np.outer(b, bh)
        return float(np.max(np.abs(m)))

    @cached_property
    def is_symplectic_separable(self) -> bool:
        """``b_i â_ij + b̂_j a_ji = b_i b̂_j``: symplectic for separable Hamiltonians."""
        return self._symplectic_defect <= _COND_TOL

    @cached_property
    def is_symplectic(self) -> bool:
        """Symplectic for every Hamiltonian: the condition above and ``b = b̂``."""
        _, b, _ = self.first.arrays
        _, bh, _ = self.second.arrays
        return self.is_symplectic_separable and float(np.max(np.abs(b - bh))) <= _COND_TOL

    @cached_property
    def is_symmetric(self) -> bool:
        """Both parts symmetric (with the same stage reversal): ``Φ_{−h} = Φ_h⁻¹``."""
        return self.first.is_symmetric and self.second.is_symmetric

    def order_defects(self, order: int) -> dict[ColoredTree, float]:
        """``b^{(root)}ᵀΦ(τ) − 1/γ(τ)`` for every bicoloured tree with ``order`` vertices."""
        a, b, _ = self.first.arrays
        ah, bh, _ = self.second.arrays
        weights = (b, bh)
        return {
            tree: float(
                weights[tree[0]] @ _colored_stage_weights(tree, (a, ah))
                - 1.0 / _colored_density(tree)
            )
            for tree in bicolored_trees(order)
        }

    @cached_property
    def order(self) -> int:
        """Largest ``p ≤ min(max_order)`` with every bicoloured tree condition up to size ``p``."""
        p = 0
        for n in range(1, min(self.first.max_order, self.second.max_order, 5) + 1):
            if max(abs(d) for d in self.order_defects(n).values()) > _COND_TOL:
                break
            p = n
        return p


#: Lobatto IIIA–IIIB pair (2 stages) = kick–drift–kick Störmer–Verlet: order 2, symplectic,
#: symmetric. (IIIB's nodes are given as its row sums, 1/2, as the validation requires; stage
#: times follow the first tableau's nodes.)
lobatto_3a_3b = PartitionedTableau(
    ButcherTableau([[0.0, 0.0], [0.5, 0.5]], [0.5, 0.5], [0.0, 1.0], name="lobatto_3a"),
    ButcherTableau([[0.5, 0.0], [0.5, 0.0]], [0.5, 0.5], [0.5, 0.5], name="lobatto_3b"),
    name="lobatto_3a_3b",
)
#: Three-stage Lobatto IIIA–IIIB pair: order 4, symplectic, symmetric.
lobatto_3a_3b_3stage = PartitionedTableau(
    ButcherTableau(
        [[0.0, 0.0, 0.0], [5 / 24, 1 / 3, -1 / 24], [1 / 6, 2 / 3, 1 / 6]],
        [1 / 6, 2 / 3, 1 / 6],
        [0.0, 0.5, 1.0],
        name="lobatto_3a_3",
    ),
    ButcherTableau(
        [[1 / 6, -1 / 6, 0.0], [1 / 6, 1 / 3, 0.0], [1 / 6, 5 / 6, 0.0]],
        [1 / 6, 2 / 3, 1 / 6],
        [0.0, 0.5, 1.0],
        name="lobatto_3b_3",
    ),
    name="lobatto_3a_3b_3stage",
)
#: Symplectic Euler as a pair: implicit Euler for q, explicit Euler for p (order 1).
symplectic_euler_prk = PartitionedTableau(
    ButcherTableau([[1.0]], [1.0], [1.0], name="implicit_euler"),
    ButcherTableau([[0.0]], [1.0], [0.0], name="explicit_euler"),
    name="symplectic_euler_prk",
)
