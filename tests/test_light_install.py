"""`pip install structdl` brings torch and numpy only: no library module imports matplotlib,
scikit-learn or rich, and the command line without the `experiments` extra says how to get it.

The module list is found by walking the package, so modules added later are covered too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ("matplotlib", "sklearn", "rich")
INSTALL_HINT = "pip install 'structdl[experiments]'"

# Imports every module of structdl (found by walking the package) and reports what it loaded.
IMPORT_ALL = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    import structdl
    names, failed = [], {}
    for info in pkgutil.walk_packages(structdl.__path__, prefix="structdl."):
        if info.name.endswith("__main__"):
            continue  # importing it would run the command line
        names.append(info.name)
        try:
            importlib.import_module(info.name)
        except Exception as error:
            failed[info.name] = f"{type(error).__name__}: {error}"
    loaded = [m for m in EXTRAS if sys.modules.get(m) is not None]
    print(json.dumps({"modules": names, "failed": failed, "loaded": loaded}))
    """
).replace("EXTRAS", repr(EXTRAS))


def _import_all(python: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [python, "-c", IMPORT_ALL],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT.parent,  # not the checkout: the installed package must be the one imported
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_no_library_module_imports_the_extras():
    found = _import_all(sys.executable)
    assert len(found["modules"]) > 20 and "structdl.dynamics" in found["modules"]
    assert found["failed"] == {}
    assert found["loaded"] == [], f"imported at import time: {found['loaded']}"


def _cli_without_extras(python: str, *argv: str, block: bool) -> subprocess.CompletedProcess:
    # sys.modules[name] = None makes `import name` fail, as if it were not installed.
    blocker = "".join(f"sys.modules[{m!r}] = None\n" for m in EXTRAS) if block else ""
    code = f"import sys\n{blocker}from structdl.cli import main\nsys.exit(main({list(argv)!r}))"
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT.parent
    )


def test_command_line_without_the_extra_exits_2_with_one_line():
    done = _cli_without_extras(sys.executable, "reproduce", "--quick", block=True)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("structdl: error: the command line needs ")
    assert INSTALL_HINT in line


@pytest.mark.slow
def test_fresh_environment_with_only_torch_and_numpy(tmp_path):
    """A new virtual environment: torch==2.13.0 and numpy, then structdl with --no-deps."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([*pip, "torch==2.13.0", "numpy"], check=True, timeout=1200, env=environ)
    subprocess.run([*pip, "--no-deps", str(ROOT)], check=True, timeout=600, env=environ)
    listed = subprocess.run(
        [python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True
    )
    installed = {entry["name"].lower() for entry in json.loads(listed.stdout)}
    assert {"torch", "numpy", "structdl"} <= installed
    assert not installed & {"matplotlib", "scikit-learn", "rich"}

    found = _import_all(python, env=environ)
    assert found["failed"] == {} and len(found["modules"]) > 20
    done = subprocess.run(
        [str(env_dir / "bin" / "structdl"), "list"], capture_output=True, text=True, env=environ
    )
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert INSTALL_HINT in line
