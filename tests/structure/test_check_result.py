"""CheckResult: JSON form and the negative-control view shared by the experiments."""

from __future__ import annotations

import torch

from structdl.structure import check_symplectic
from structdl.structure.result import CheckResult


def test_negative_control_is_ok_exactly_when_the_check_failed() -> None:
    rejected = CheckResult(ok=False, worst=0.3, reason="VIOLATED: 0.3 > 1e-10")
    control = rejected.as_negative_control("check_symplectic on Euler")
    assert control.ok and control.worst == 0.3
    assert control.reason.startswith("negative control: check_symplectic on Euler must fail")
    assert "failed, as it must" in control.reason and "VIOLATED" in control.reason
    # a check that passes where it must fail makes the control fail, and says so
    accepted = CheckResult(ok=True, worst=1e-16, reason="ok")
    broken = accepted.as_negative_control("check_symplectic on Euler")
    assert not broken.ok and "PASSED" in broken.reason
    assert broken.as_dict() == {"ok": False, "worst": 1e-16, "reason": broken.reason}


def test_negative_control_of_a_real_check() -> None:
    # Forward Euler on the harmonic oscillator is not symplectic: the control holds.
    def euler(z: torch.Tensor) -> torch.Tensor:
        q, p = z[..., :1], z[..., 1:]
        return torch.cat([q + 0.1 * p, p - 0.1 * q], dim=-1)

    points = torch.randn(4, 2, dtype=torch.float64)
    assert check_symplectic(euler, points).as_negative_control("Euler").ok
