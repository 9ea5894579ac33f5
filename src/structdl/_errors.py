"""Exception hierarchy of structdl.

Every error a user can trigger is a :class:`StructdlError` that also subclasses the matching
built-in, so ``except ValueError`` keeps working. Messages follow one template:
what is wrong — what was expected — what was received — how to fix it.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConvergenceError",
    "IncompatibleSchemeError",
    "InverseError",
    "NonFiniteError",
    "NotOnManifoldError",
    "ShapeError",
    "StepSizeError",
    "StructdlError",
    "StructureViolation",
]


class StructdlError(Exception):
    """Base class of every error raised deliberately by structdl."""


class IncompatibleSchemeError(StructdlError, TypeError):
    """A vector field and an integrator (or layer and group, …) that cannot be combined."""


class StepSizeError(StructdlError, ValueError):
    """A step size that is not positive, not finite, or violates a stability bound."""


class ShapeError(StructdlError, ValueError):
    """A tensor of the wrong type, shape, layout, dtype or device."""


class NonFiniteError(StructdlError, ValueError):
    """A NaN or infinite value: in an input, or in a result computed from finite inputs."""


class ConvergenceError(StructdlError, RuntimeError):
    """An iterative solve (an implicit step) that did not converge; ``residual`` holds its last
    increment."""

    def __init__(self, message: str, residual: float | None = None) -> None:
        super().__init__(message)
        self.residual = residual


class NotOnManifoldError(StructdlError, ValueError):
    """A point that is not on the manifold it is claimed to lie on."""


class InverseError(StructdlError, RuntimeError):
    """An iterative inverse that did not converge; ``residual`` holds the final residual."""

    def __init__(self, message: str, residual: float | None = None) -> None:
        super().__init__(message)
        self.residual = residual


class StructureViolation(StructdlError, AssertionError):
    """A structure check failed; raised by the ``assert_…`` forms of the checks."""


class ConfigError(StructdlError, ValueError):
    """An invalid option, hyper-parameter, experiment name or results folder."""
