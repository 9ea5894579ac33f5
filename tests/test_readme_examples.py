"""The README's Python examples run as written, and the values their comments quote hold."""

from __future__ import annotations

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def _run_blocks() -> list[dict[str, object]]:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 3, (
        "expected the ODE-network, equivariance and declared-structure examples"
    )
    namespaces: list[dict[str, object]] = []
    for block in blocks:
        namespace: dict[str, object] = {}
        # Blocks continue one another in the README (the second uses the first's `torch`).
        if namespaces:
            namespace.update(namespaces[-1])
        torch.manual_seed(0)
        exec(compile(block, str(README), "exec"), namespace)
        namespaces.append(namespace)
    return namespaces


def test_readme_examples_run_and_their_claims_hold():
    ode, equivariant, declared = _run_blocks()
    check_lipschitz = ode["check_lipschitz"]
    check_symplectic = ode["check_symplectic"]
    from structdl.structure import NonExpansive

    assert ode["net"].guarantees() == frozenset({NonExpansive(1.0)})
    assert check_lipschitz(ode["net"], torch.randn(64, 4)).ok
    assert check_symplectic(ode["step"], torch.randn(8, 4, dtype=torch.float64)).ok

    group = equivariant["D4"]
    result = equivariant["check_equivariance"](
        equivariant["net"],
        group,
        equivariant["act_image"],
        lambda g, y: equivariant["act_regular"](g, y, group),
        torch.randn(2, 1, 28, 28),
    )
    assert result.ok


def test_readme_declared_structure_example_holds():
    *_, declared = _run_blocks()
    from structdl.structure import BiLipschitz, ConformalSymplectic, Invertible

    log_p = declared["flow"].log_prob(torch.tensor([[0.0, 1.0], [50.0, -80.0]]))
    assert bool(torch.isfinite(log_p).all())
    claimed = declared["guarantees"](declared["block"])
    assert Invertible() in claimed
    (bi,) = [p for p in claimed if isinstance(p, BiLipschitz)]
    assert abs(bi.forward - 1.9) < 1e-3 and abs(bi.inverse - 10.0) < 1e-2
    assert declared["block"].last_inverse.iterations <= 8
    weight = declared["layer"].weight.detach()
    assert float((weight.T @ weight - torch.eye(16)).abs().max()) < 1e-5
    (rate,) = declared["guarantees"](
        declared["ConformalSymplecticEuler"](declared["layer"].parameters(), h=0.1, gamma=1.0)
    )
    assert isinstance(rate, ConformalSymplectic) and abs(rate.rate - 0.904837) < 1e-6
