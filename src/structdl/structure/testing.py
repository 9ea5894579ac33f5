"""Test helpers: run every check that an object's declared structure calls for.

``assert_preserves(obj, x)`` reads the property tags that hold for an object (derived from
``obj.claims``, or ``obj.guarantees()`` for networks) and runs the matching check of
:mod:`structdl.structure.checks` on the sample inputs ``x``:

=====================  =====================================================================
tag                    check
=====================  =====================================================================
Symplectic             ``check_symplectic(obj, x)``
ConformalSymplectic    ``check_symplectic(obj, x, rate=tag.rate)``
VolumePreserving       ``check_volume_preserving(obj, x)``
NonExpansive           ``check_lipschitz(obj, x, bound=tag.lipschitz)``
BiLipschitz            ``check_lipschitz`` on ``obj`` (``tag.forward``) and on its inverse
                       (``tag.inverse``)
Invertible             ``check_inverse(obj, inverse, x)`` (``inverse_and_logdet``, ``inverse``
                       or ``inv``)
Reversible             ``check_reversible(obj.step, x, h)`` (needs ``h=``)
EnergyConserving       ``check_energy(obj.energy, trajectory, mode="conserved")``
Dissipative            ``check_energy(getattr(obj, tag.energy), trajectory,
                       mode="non_increasing")``
Equivariant            ``check_equivariance(obj, tag.group, input_action, output_action, x)``
OnManifold             ``check_on_manifold(tag.manifold, obj(x))`` (``"sphere"`` names the
                       unit sphere; other names need ``obj.manifold``)
=====================  =====================================================================

A tag that cannot be checked with what the object exposes raises :class:`~structdl.ConfigError`
naming what is missing: a declared property is never skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from .._errors import ConfigError, StructureViolation
from ._validate import require_int
from .checks import (
    check_energy,
    check_equivariance,
    check_inverse,
    check_lipschitz,
    check_on_manifold,
    check_reversible,
    check_symplectic,
    check_volume_preserving,
)
from .declarations import declares_claims, derive
from .properties import (
    BiLipschitz,
    ConformalSymplectic,
    Dissipative,
    EnergyConserving,
    Equivariant,
    Invertible,
    NonExpansive,
    OnManifold,
    Property,
    Reversible,
    Symplectic,
    VolumePreserving,
)
from .result import CheckResult, Tolerance, tolerance

__all__ = ["DTYPES", "Tolerance", "assert_preserves", "declared_properties", "tolerance"]

#: The dtypes the structure tests run in: float64 for exactness, float32 for what users run.
DTYPES = (torch.float32, torch.float64)


def _unit_sphere_defect(x: torch.Tensor) -> torch.Tensor:
    """Distance of each row from the unit sphere, ``|‖x‖ − 1|``."""
    return (x.reshape(x.shape[0], -1).norm(dim=1) - 1.0).abs()


#: Manifolds a tag may name by string (``OnManifold("sphere")``) when the object has no
#: ``manifold`` attribute: name → defect function ``(batch, …) → (batch,)``.
_NAMED_DEFECTS: dict[Any, Callable[[torch.Tensor], torch.Tensor]] = {
    "sphere": _unit_sphere_defect,
}


def _missing(obj: Any, tag: Property, what: str) -> ConfigError:
    return ConfigError(
        f"assert_preserves: cannot check {tag!r} for {type(obj).__name__} — expected {what} — "
        f"received an object without it — provide it, or exclude the tag with properties=…"
    )


def declared_properties(obj: Any) -> frozenset[Property]:
    """The property tags that hold for ``obj``.

    Derived from ``obj.claims`` (:mod:`.declarations`) when the object declares claims; a
    network that derives its structure layer by layer reports it through ``obj.guarantees()``.
    """
    if declares_claims(obj):
        return derive(obj)
    declared = obj.guarantees() if callable(getattr(obj, "guarantees", None)) else None
    if declared is None:
        raise ConfigError(
            f"assert_preserves: {type(obj).__name__} declares no structure — expected a "
            f"`claims` attribute or a `guarantees()` method — received neither — declare "
            f"claims = (Claim(...), …) or pass the tags explicitly with properties=[…]"
        )
    tags = frozenset([declared] if isinstance(declared, Property) else declared)
    bad = [t for t in tags if not isinstance(t, Property)]
    if bad:
        raise ConfigError(
            f"assert_preserves: {type(obj).__name__} declares non-tags {bad!r} — expected "
            f"structure.properties tags — received {type(bad[0]).__name__} — declare e.g. "
            f"frozenset({{Symplectic()}})"
        )
    return tags


def _forward(obj: Any) -> Callable[[Any], Any]:
    if callable(getattr(obj, "forward_and_logdet", None)):
        return lambda x: obj.forward_and_logdet(x)[0]
    if not callable(obj):
        raise ConfigError(
            f"assert_preserves: {type(obj).__name__} is not callable — expected a map on "
            f"batched inputs — received {type(obj).__name__} — pass the layer or network"
        )
    return obj


def _inverse(obj: Any, tag: Property) -> Callable[[Any], Any]:
    if callable(getattr(obj, "inverse_and_logdet", None)):
        return lambda y: obj.inverse_and_logdet(y)[0]
    for name in ("inverse", "inv"):
        candidate = getattr(obj, name, None)
        if callable(candidate):
            return candidate
    raise _missing(obj, tag, "an inverse_and_logdet, inverse or inv method")


def _trajectory(obj: Any, forward: Callable[[Any], Any], x: Any, n_steps: int) -> list[Any]:
    if callable(getattr(obj, "trajectory", None)):
        return list(obj.trajectory(x))
    states = [x]
    for _ in range(n_steps):
        states.append(forward(states[-1]))
    return states


def _energy_fn(obj: Any, name: str, tag: Property) -> Callable[[Any], Any]:
    energy = getattr(obj, name, None)
    if not callable(energy):
        raise _missing(obj, tag, f"an energy method `{name}`")
    # Partitioned states (q, p) go to energy(q, p), the signature of Hamiltonian fields.
    return lambda s: energy(*s) if isinstance(s, tuple) else energy(s)


def _run_one(obj: Any, tag: Property, x: Any, options: dict[str, Any]) -> CheckResult:
    forward = _forward(obj)
    if isinstance(tag, Symplectic):
        return check_symplectic(forward, x)
    if isinstance(tag, ConformalSymplectic):
        return check_symplectic(forward, x, rate=tag.rate)
    if isinstance(tag, VolumePreserving):
        return check_volume_preserving(forward, x)
    if isinstance(tag, NonExpansive):
        return check_lipschitz(forward, x, bound=tag.lipschitz)
    if isinstance(tag, Invertible):
        return check_inverse(forward, _inverse(obj, tag), x)
    if isinstance(tag, BiLipschitz):
        inverse = _inverse(obj, tag)
        ahead = check_lipschitz(forward, x, bound=tag.forward)
        back = check_lipschitz(inverse, forward(x), bound=tag.inverse)
        worse = ahead if not ahead.ok or ahead.worst >= back.worst else back
        return CheckResult(
            ok=ahead.ok and back.ok,
            worst=worse.worst,
            reason=f"forward: {ahead.reason}; inverse: {back.reason}",
        )
    if isinstance(tag, Reversible):
        if options["h"] is None or not callable(getattr(obj, "step", None)):
            raise _missing(obj, tag, "a step(y, h) method and the keyword h=")
        return check_reversible(obj.step, x, options["h"])
    if isinstance(tag, (EnergyConserving, Dissipative)):
        name = tag.energy if isinstance(tag, Dissipative) else "energy"
        energy = _energy_fn(obj, name, tag)
        mode = "conserved" if isinstance(tag, EnergyConserving) else "non_increasing"
        return check_energy(energy, _trajectory(obj, forward, x, options["n_steps"]), mode=mode)
    if isinstance(tag, Equivariant):
        group = tag.group if tag.group is not None else getattr(obj, "group", None)
        actions = [options[k] or getattr(obj, k, None) for k in ("input_action", "output_action")]
        if group is None or not all(callable(a) for a in actions):
            raise _missing(obj, tag, "a group and input_action/output_action")
        return check_equivariance(forward, group, actions[0], actions[1], x)
    if isinstance(tag, OnManifold):
        manifold = tag.manifold
        if manifold is None or isinstance(manifold, str):
            manifold = getattr(obj, "manifold", None) or _NAMED_DEFECTS.get(tag.manifold)
        if manifold is None:
            raise _missing(
                obj,
                tag,
                f"a manifold object on the tag or as obj.manifold, or a name in "
                f"{sorted(_NAMED_DEFECTS)}",
            )
        return check_on_manifold(manifold, forward(x))
    raise ConfigError(
        f"assert_preserves: no check is known for the tag {tag!r} — expected one of the tags "
        f"of structdl.structure.properties — received {type(tag).__name__} — check it directly "
        f"or exclude it with properties=…"
    )


def assert_preserves(
    obj: Any,
    inputs: Any,
    properties: Iterable[Property] | None = None,
    *,
    h: float | None = None,
    n_steps: int = 8,
    input_action: Callable[[Any, Any], Any] | None = None,
    output_action: Callable[[Any, Any], Any] | None = None,
) -> dict[str, CheckResult]:
    """Run the check of every property ``obj`` declares and raise if any fails.

    Args:
        obj: a layer, network, bijection or step map, callable on batched ``inputs``.
        inputs: sample inputs (a tensor or a partitioned state).
        properties: the tags to check; default every tag ``obj`` declares.
        h: step size for ``Reversible`` (uses ``obj.step(y, h)``).
        n_steps: trajectory length for the energy tags when ``obj`` has no ``trajectory``.
        input_action: action on inputs for ``Equivariant`` (default ``obj.input_action``).
        output_action: action on outputs for ``Equivariant`` (default ``obj.output_action``).

    Returns:
        The passing results, keyed by ``repr(tag)``.

    Raises:
        StructureViolation: one or more checks failed; the message lists each failing reason.
        ConfigError: a tag that cannot be checked with what ``obj`` exposes, or no tags.
    """
    tags = declared_properties(obj) if properties is None else frozenset(properties)
    if not tags:
        raise ConfigError(
            f"assert_preserves: nothing to check for {type(obj).__name__} — expected at least "
            f"one property tag — received none — declare `claims` or pass properties=[…]"
        )
    options = {
        "h": h,
        "n_steps": require_int(n_steps, "n_steps", "assert_preserves", 1),
        "input_action": input_action,
        "output_action": output_action,
    }
    results = {repr(tag): _run_one(obj, tag, inputs, options) for tag in sorted(tags, key=repr)}
    failures = [f"  - {name}: {res.reason}" for name, res in results.items() if not res.ok]
    if failures:
        raise StructureViolation(
            f"{type(obj).__name__} violates {len(failures)} of {len(results)} declared "
            f"properties:\n" + "\n".join(failures)
        )
    return results
