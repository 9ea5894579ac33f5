"""The package's import graph: ``structure`` is the bottom floor, and there are no cycles.

* ``structdl.structure`` imports nothing from the package but ``structdl._errors``: checked on
  the modules a fresh interpreter has loaded after ``import structdl.structure``.
* The graph of imports between the package's modules (every ``import``/``from … import``
  statement, module-level or inside a function) has no cycle: checked statically, so an import
  hidden inside a function to dodge a cycle counts too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import structdl

SOURCE = Path(structdl.__file__).resolve().parent
PACKAGE = "structdl"


def test_structure_imports_only_errors_from_the_package() -> None:
    code = (
        "import sys, structdl.structure; "
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('structdl'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    outside = [
        m
        for m in loaded
        if m not in ("structdl", "structdl._errors") and not m.startswith("structdl.structure")
    ]
    assert not outside, f"structdl.structure loads modules above it: {outside}"
    assert "structdl.structure" in loaded  # the probe ran


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:]) if "." in name else Path()
    base = SOURCE / relative
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _resolve(node: ast.ImportFrom, module: str, *, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    anchor = module.split(".") if is_package else module.split(".")[:-1]
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join(anchor + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """Module → the package modules it imports (statically, wherever the statement is)."""
    graph: dict[str, set[str]] = {}
    for path in SOURCE.rglob("*.py"):
        module = _module_name(path)
        targets: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith(PACKAGE))
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node, module, is_package=path.name == "__init__.py")
                if not base.startswith(PACKAGE):
                    continue
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if _is_module(sub) else base)
        graph[module] = {t for t in targets if t != module and _is_module(t)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules (first = last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_package_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 50  # the walk saw the package
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    # Negative control for the static analysis itself.
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
