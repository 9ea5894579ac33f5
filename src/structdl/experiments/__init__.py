"""Experiments: one module per experiment, each with a Config (quick/full) and run()."""

from ._registry import Experiment, NullProgress, Progress, Result, get, names, register

__all__ = ["Experiment", "NullProgress", "Progress", "Result", "get", "names", "register"]
