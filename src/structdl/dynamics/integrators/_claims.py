"""What the coefficients of a Runge–Kutta-type method guarantee, declared once as data.

Every method with a Butcher ``tableau`` (forward Euler, implicit midpoint, any
:class:`~structdl.dynamics.RungeKutta`) lists :data:`RUNGE_KUTTA_CLAIMS`; the conditions read the
tableau's derived properties and the field of the step, and
:func:`structdl.structure.guarantees` evaluates them.
"""

from __future__ import annotations

from ...structure.declarations import (
    ALWAYS,
    AllOf,
    AttributeEquals,
    CircleContractiveStep,
    Claim,
    HasKinds,
    OfField,
    StepPositive,
)
from ...structure.properties import (
    Invertible,
    NonExpansive,
    Reversible,
    Symplectic,
    VolumePreserving,
)

__all__ = ["EXPLICIT_SHEARS", "INVERTIBLE", "REVERSIBLE", "RUNGE_KUTTA_CLAIMS"]

ON_HAMILTONIAN = OfField(HasKinds(frozenset({"hamiltonian"})))
ON_GRADIENT_FLOW = OfField(HasKinds(frozenset({"gradient"})))
_SYMPLECTIC_TABLEAU = AllOf((AttributeEquals("tableau.is_symplectic", True), ON_HAMILTONIAN))

#: Reversible (``Φ_{−h} ∘ Φ_h = id``) for a symmetric method, on every field.
REVERSIBLE = Claim(
    Reversible(),
    when=AttributeEquals("is_symmetric", True),
    reason="a symmetric method is its own adjoint: Φ_{−h} = Φ_h⁻¹ (Hairer–Lubich–Wanner V.1)",
)
#: Invertible where an exact inverse step exists.
INVERTIBLE = Claim(
    Invertible(),
    when=AttributeEquals("has_inverse", True),
    reason="an exact inverse step (explicit shears undone, or Φ_{−h} for a symmetric method)",
)

RUNGE_KUTTA_CLAIMS = (
    Claim(
        Symplectic(),
        when=_SYMPLECTIC_TABLEAU,
        reason="b_i a_ij + b_j a_ji = b_i b_j: symplectic on every Hamiltonian field "
        "(Sanz-Serna 1988)",
    ),
    Claim(
        VolumePreserving(),
        when=_SYMPLECTIC_TABLEAU,
        reason="a symplectic map has det DΦ = 1",
    ),
    Claim(
        NonExpansive(1.0),
        when=AllOf((ON_GRADIENT_FLOW, CircleContractiveStep())),
        reason="circle contractivity radius r on a co-coercive field with constant ν: "
        "non-expansive for 0 < h ≤ 2r/ν (Dahlquist–Jeltsch; Kraaijevanger)",
    ),
    Claim(
        NonExpansive(1.0),
        when=AllOf(
            (
                ON_GRADIENT_FLOW,
                AttributeEquals("tableau.is_algebraically_stable", True),
                StepPositive(),
            )
        ),
        reason="an algebraically stable method is B-stable: non-expansive on a gradient flow of "
        "a convex potential for every h > 0 (Burrage–Butcher)",
    ),
    REVERSIBLE,
    INVERTIBLE,
)

#: The explicit compositions of kicks and drifts (symplectic Euler, Störmer–Verlet, Yoshida):
#: they accept only separable Hamiltonian fields, on which every shear is symplectic.
EXPLICIT_SHEARS = (
    Claim(Symplectic(), ALWAYS, "a composition of the exact flows of T(p) and V(q)"),
    Claim(VolumePreserving(), ALWAYS, "a composition of shears has det DΦ = 1"),
    INVERTIBLE,
    REVERSIBLE,
)
