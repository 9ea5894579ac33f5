"""Executable checks of the structure that layers, integrators and networks claim to preserve.

Every check returns a :class:`~structdl.structure.result.CheckResult` ``(ok, worst, reason)``
and has an ``assert_…`` form that raises :class:`~structdl.StructureViolation` with the reason.
Default tolerances come from :func:`~structdl.structure.result.tolerance` for the dtype of the
sample points; every check accepts ``atol=`` (or ``rtol=``) to override them. Maps take and
return batched tensors ``(batch, …)``; Jacobians are computed per point with ``torch.func``
(``vmap`` of ``jacrev``), falling back to ``torch.autograd.functional.jacobian``.

Example:
    >>> import torch
    >>> from structdl.structure import check_symplectic
    >>> c, s = 0.6, 0.8  # a rotation of the (q, p) plane is symplectic
    >>> rotate = lambda z: torch.stack([c * z[:, 0] + s * z[:, 1], -s * z[:, 0] + c * z[:, 1]], 1)
    >>> check_symplectic(rotate, torch.randn(4, 2, dtype=torch.float64)).ok
    True
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .._errors import StructureViolation
from ._check_energy import check_energy, check_order
from ._check_equivariance import check_equivariance, check_on_manifold
from ._check_maps import check_inverse, check_lipschitz, check_reversible
from ._check_optim import (
    check_conformal_step,
    check_passivity,
    check_reparametrisation_invariance,
)
from ._check_symplectic import canonical_J, check_symplectic, check_volume_preserving
from ._check_symplectic_embedding import check_symplectic_embedding
from .result import CheckResult

__all__ = [
    "assert_conformal_step",
    "assert_energy",
    "assert_equivariance",
    "assert_inverse",
    "assert_lipschitz",
    "assert_on_manifold",
    "assert_order",
    "assert_passivity",
    "assert_reparametrisation_invariance",
    "assert_reversible",
    "assert_symplectic",
    "assert_symplectic_embedding",
    "assert_volume_preserving",
    "canonical_J",
    "check_conformal_step",
    "check_energy",
    "check_equivariance",
    "check_inverse",
    "check_lipschitz",
    "check_on_manifold",
    "check_order",
    "check_passivity",
    "check_reparametrisation_invariance",
    "check_reversible",
    "check_symplectic",
    "check_symplectic_embedding",
    "check_volume_preserving",
]


def _assert_form(check: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
    """The ``assert_…`` form of a check: return the result, or raise with its reason."""

    @functools.wraps(check)
    def assert_check(*args: Any, **kwargs: Any) -> CheckResult:
        result = check(*args, **kwargs)
        if not result.ok:
            raise StructureViolation(result.reason)
        return result

    name = check.__name__.replace("check_", "assert_", 1)
    assert_check.__name__ = assert_check.__qualname__ = name
    assert_check.__doc__ = (
        f"Run :func:`{check.__name__}` and raise :class:`~structdl.StructureViolation` with its "
        f"reason if it fails; otherwise return the passing :class:`CheckResult`.\n\n"
        f"Takes exactly the arguments of :func:`{check.__name__}`."
    )
    return assert_check


assert_symplectic = _assert_form(check_symplectic)
assert_symplectic_embedding = _assert_form(check_symplectic_embedding)
assert_volume_preserving = _assert_form(check_volume_preserving)
assert_lipschitz = _assert_form(check_lipschitz)
assert_inverse = _assert_form(check_inverse)
assert_reversible = _assert_form(check_reversible)
assert_energy = _assert_form(check_energy)
assert_equivariance = _assert_form(check_equivariance)
assert_on_manifold = _assert_form(check_on_manifold)
assert_order = _assert_form(check_order)
assert_conformal_step = _assert_form(check_conformal_step)
assert_passivity = _assert_form(check_passivity)
assert_reparametrisation_invariance = _assert_form(check_reparametrisation_invariance)
