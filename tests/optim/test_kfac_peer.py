"""K-FAC factors against curvlinops' (a peer); runs where curvlinops is installed.

The benchmark environment has it (``bash benchmarks/setup-peers.sh kfac``; run this file with
``benchmarks/.envs/kfac/bin/python -m pytest tests/optim/test_kfac_peer.py``); the project
environment does not, and the test is skipped there.
"""

from __future__ import annotations

import pytest
import torch

from structdl.optim.kfac import KFAC

curvlinops = pytest.importorskip(
    "curvlinops", reason="curvlinops is not installed (bash benchmarks/setup-peers.sh kfac)"
)


@pytest.mark.parametrize("likelihood", ["categorical", "gaussian"])
def test_factors_equal_curvlinops_type2_factors(likelihood: str) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3)
    ).double()
    x = torch.randn(16, 5, dtype=torch.float64)
    if likelihood == "categorical":
        y = torch.randint(0, 3, (16,))
        loss_func, scale = torch.nn.CrossEntropyLoss(), 1.0
    else:
        # Σ‖z − y‖² (Hessian 2I) against our ½‖z − y‖² averaged over the N samples.
        y = torch.randn(16, 3, dtype=torch.float64)
        loss_func, scale = torch.nn.MSELoss(reduction="sum"), 2.0 * 16
    ours = KFAC(net, likelihood=likelihood).curvature_factors(lambda: (net(x), y))
    peer = curvlinops.KFACLinearOperator(
        net,
        loss_func,
        list(net.parameters()),
        [(x, y)],
        fisher_type="type-2",
        separate_weight_and_bias=False,
        check_deterministic=False,
    )
    peer.compute_kronecker_factors()
    for name in ("0", "2"):
        a, g = ours[net.get_submodule(name)]
        assert torch.allclose(a, peer._input_covariances[name], rtol=0, atol=1e-12)
        assert torch.allclose(g, peer._gradient_covariances[name] / scale, rtol=0, atol=1e-12)
