"""The result of a structure check and the tolerance table, one row per dtype."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._errors import ConfigError

__all__ = ["CheckResult", "Tolerance", "tolerance"]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a structure check.

    Attributes:
        ok: whether the property held within tolerance.
        worst: the worst value of the measured defect (an error, a ratio, a slope …).
        reason: a one-line human-readable explanation, mentioning the worst value and the bar.
    """

    ok: bool
    worst: float
    reason: str

    def __bool__(self) -> bool:
        return self.ok

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form (used by experiments and the report)."""
        return {"ok": bool(self.ok), "worst": float(self.worst), "reason": self.reason}

    def as_negative_control(self, claim: str) -> CheckResult:
        """This check run on a map WITHOUT the property: ``ok`` iff the check failed.

        A negative control shows that the check can tell — ``ok = True`` means the check
        rejected the map, as theory says it must; ``worst`` keeps the measured defect.

        Args:
            claim: what must fail, e.g. ``"check_symplectic on a ResNet"``.
        """
        verdict = "failed, as it must" if not self.ok else "PASSED, contradicting the control"
        return CheckResult(
            ok=not self.ok,
            worst=self.worst,
            reason=f"negative control: {claim} must fail — it {verdict} — {self.reason}",
        )


@dataclass(frozen=True)
class Tolerance:
    """Tolerances of the checks for one dtype.

    ``exact`` bounds defects that are zero in exact arithmetic for an explicit map (symplectic
    error, inverse error, volume, round-off-only drift); ``solve`` those that pass through an
    iterative solve; ``lipschitz`` the slack allowed on a Lipschitz ratio above its bound;
    ``equivariance`` relative equivariance error; ``order`` the allowed distance between fitted
    and declared order; ``manifold`` the distance from a manifold.
    """

    exact: float
    solve: float
    lipschitz: float
    equivariance: float
    order: float
    manifold: float


_TABLE = {
    torch.float64: Tolerance(
        exact=1e-10, solve=1e-9, lipschitz=1e-6, equivariance=1e-12, order=0.2, manifold=1e-12
    ),
    torch.float32: Tolerance(
        exact=1e-4, solve=1e-4, lipschitz=1e-4, equivariance=2e-6, order=0.2, manifold=1e-5
    ),
}


def tolerance(dtype: torch.dtype) -> Tolerance:
    """Return the tolerance row for ``dtype`` (float16/bfloat16 use a loose float32 row).

    Raises:
        ConfigError: ``dtype`` is not a floating ``torch.dtype`` (an integer dtype, a string).
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ConfigError(
            f"tolerance: no tolerance for {dtype!r} — expected a floating torch.dtype such as "
            f"torch.float64 — received {type(dtype).__name__} {dtype!r} — pass x.dtype of a "
            f"floating tensor"
        )
    if dtype in _TABLE:
        return _TABLE[dtype]
    if dtype in (torch.float16, torch.bfloat16):
        return Tolerance(
            exact=1e-2, solve=1e-2, lipschitz=1e-2, equivariance=1e-2, order=0.3, manifold=1e-2
        )
    raise ConfigError(
        f"tolerance: no tolerance for {dtype} — expected float16, bfloat16, float32 or float64 — "
        f"received {dtype} — convert the tensors to float32 or float64"
    )
