"""README's two opening commands exist, and .ci/run runs exactly the README's test command."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TEST = "pip install torch==2.13.0 -e '.[test]'"
TEST_COMMAND = "python -m pytest -q"


def _bash_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_opens_with_the_two_commands():
    blocks = _bash_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    venv = "python3 -m venv .venv && . .venv/bin/activate"
    assert blocks[:2] == [
        f"{venv} && pip install torch==2.13.0 -e '.[experiments]' && structdl reproduce --quick",
        f"{venv} && {INSTALL_TEST} && {TEST_COMMAND}",
    ]


def test_ci_runs_the_readme_test_command():
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK)
    lines = [line.strip() for line in script.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == "#!/usr/bin/env bash" and "set -euo pipefail" in lines
    assert INSTALL_TEST in lines
    assert f"{TEST_COMMAND} || status=$?" in lines
    assert any("-eq 5" in line for line in lines)  # "no tests collected" fails CI
    # After the README's command: the slow bars, then the strict API reference build.
    order = [
        lines.index(f"{TEST_COMMAND} || status=$?"),
        lines.index('pytest_step python -m pytest -q -m "slow and not soak" --durations=20'),
        next(i for i, line in enumerate(lines) if line.startswith("python -m sphinx -W")),
    ]
    assert order == sorted(order)


def test_extras_split_the_install():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {dep.split(">")[0].split("=")[0].strip() for dep in project["dependencies"]}
    assert names == {"torch", "numpy"}
    extras = project["optional-dependencies"]
    for package in ("matplotlib", "scikit-learn", "rich"):
        assert any(dep.startswith(package) for dep in extras["experiments"])
        assert any(dep.startswith(package) for dep in extras["test"])  # tests need them too
