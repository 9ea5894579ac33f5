"""The repository explains itself: no file in it points at documents outside it.

The design notes, style guide, benchmarking protocol and method summaries the project was
started from live outside the repository; a user who clones it cannot follow a reference to
them. Methods are explained in ``docs/methods.md`` and ``docs/methods/``, the benchmark protocol
in ``benchmarks/README.md``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The outside documents and the two ways they were cited: by file name, or by section (a
#: document's name followed by "§"), plus the folder they live in. The names are assembled
#: from parts so that this file, which is scanned like every other, cites nothing itself.
_DOCUMENTS = ("METH" + "ODS", "DES" + "IGN", "STY" + "LE", "BENCH" + "MARKING")
_FOLDER = "../" + "shared"
OUTSIDE = re.compile(
    "|".join(
        [re.escape(_FOLDER), r"\b(?:" + "|".join(_DOCUMENTS) + r")\.md\b"]
        + [rf"\b{name} §" for name in _DOCUMENTS[:2]]
        + [_DOCUMENTS[2] + " habit", "seed" + "-outline"]
    )
)
TEXT_SUFFIXES = {".py", ".md", ".rst", ".txt", ".toml", ".cfg", ".ini", ".sh", ".yml", ".yaml"}
SKIPPED_DIRS = {".git", ".venv", ".envs", "__pycache__", "build", "dist", "node_modules"}


def _repository_text_files() -> list[Path]:
    files = []
    for folder, dirs, names in os.walk(ROOT):
        # Pruned in place, so virtual environments and build trees are never walked.
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
        for name in names:
            path = Path(folder, name)
            if path.suffix in TEXT_SUFFIXES or name == "run":
                files.append(path)
    return files


def test_no_file_refers_to_documents_outside_the_repository() -> None:
    offenders = []
    for path in _repository_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not offenders, "references to documents outside the repository:\n" + "\n".join(offenders)


def test_the_scan_sees_the_files_it_must_and_catches_a_reference() -> None:
    # Negative control: the pattern matches each citation style, and the scan reaches sources,
    # docs, benchmarks and the CI script.
    methods, design, style, _ = _DOCUMENTS
    for cited in (f"see {_FOLDER}/x", f"{methods}.md", f"({design} § 5)", f"a {style} habit"):
        assert OUTSIDE.search(cited), cited
    assert not OUTSIDE.search("docs/methods.md and benchmarks/README.md")
    seen = {p.relative_to(ROOT).as_posix() for p in _repository_text_files()}
    required_files = ("README.md", "src/structdl/__init__.py", "docs/methods.md", ".ci/run")
    for required in (*required_files, "tests/test_repository_stands_alone.py"):
        assert required in seen, required
