"""structdl: structure-preserving deep learning on PyTorch.

Networks and training algorithms whose structure (non-expansiveness, symplecticity, volume
preservation, invertibility, equivariance, manifold constraints) holds by construction and is
verified by the executable checks in :mod:`structdl.structure`.
"""

from __future__ import annotations

from ._errors import (
    ConfigError,
    ConvergenceError,
    IncompatibleSchemeError,
    InverseError,
    NonFiniteError,
    NotOnManifoldError,
    ShapeError,
    StepSizeError,
    StructdlError,
    StructureViolation,
)

__version__ = "0.1.0"

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
    "__version__",
]
