"""The flow checks registered for ``structdl check`` pass, and are really registered."""

from __future__ import annotations

import pytest

import structdl.invertible  # noqa: F401  (registers the checks)
from structdl.structure import all_checks

NAMES = [
    "invertible.spline_coupling_inverse_outside_interval",
    "invertible.spline_coupling_logdet",
    "invertible.lu_conv1x1_inverse",
    "invertible.householder_volume_preserving",
    "invertible.actnorm_inverse_lipschitz",
    "invertible.multiscale_logdet",
]


@pytest.mark.parametrize("name", NAMES)
def test_registered_flow_check_passes(name: str) -> None:
    result = all_checks()[name]()
    assert result.ok, result.reason
