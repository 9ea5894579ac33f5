"""Sphinx configuration of the API reference, built from the docstrings (Google style).

Build it (strict, as CI does)::

    pip install -e '.[docs]'
    python -m sphinx -W --keep-going -b html docs/api build/api

Every public subpackage of ``structdl`` (found by walking the package, so new ones appear
without editing this file) gets a section documenting the names in its ``__all__``.
"""

from __future__ import annotations

import importlib
import pkgutil

import structdl

project = "structdl"
author = "the structdl authors"
release = structdl.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Attributes:" sections as field lists: a class that documents an attribute there and also
# defines it as a property would otherwise describe the same object twice.
napoleon_use_ivar = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
exclude_patterns = ["_build"]
html_theme = "alabaster"
# The report's anchors etc. are not Python objects; nitpicky cross-references are not required.
nitpicky = False


def public_packages() -> list[str]:
    """``structdl`` and its public subpackages (and modules), in alphabetical order."""
    names = []
    for info in pkgutil.iter_modules(structdl.__path__, prefix="structdl."):
        short = info.name.rsplit(".", 1)[1]
        if short.startswith("_"):
            continue
        module = importlib.import_module(info.name)
        if getattr(module, "__all__", None):
            names.append(info.name)
    return sorted(names)


def _append_sections(app, docname: str, source: list[str]) -> None:
    # The index lists every public package, discovered at build time.
    if docname != "index":
        return
    for name in public_packages():
        title = f"``{name}``"
        source[0] += f"\n\n{title}\n{'-' * len(title)}\n\n.. automodule:: {name}\n"


def setup(app) -> dict[str, bool]:
    app.connect("source-read", _append_sections)
    return {"parallel_read_safe": True}
