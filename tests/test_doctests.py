"""Runs the docstring examples of every structdl module, so that documented usage stays true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import structdl


def _module_names() -> list[str]:
    names = [structdl.__name__]
    for info in pkgutil.walk_packages(structdl.__path__, prefix="structdl."):
        if info.name.endswith("__main__"):
            continue  # importing it would run the command line
        names.append(info.name)
    return names


MODULES = _module_names()


def test_every_public_subpackage_is_walked():
    # A guard against an empty walk silently testing nothing.
    for name in ("structdl.structure", "structdl.dynamics", "structdl.equivariant"):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert failures == 0, f"{failures} docstring example(s) failed in {name}"
