"""Imports every experiment module so that each registers itself. Order = report order."""

# ruff: noqa: I001  (import order is the report order, not alphabetical)
# Each experiment module appends itself to the registry on import; add new ones here.
from . import symplectic_structure  # noqa: F401
from . import toy_classification  # noqa: F401
from . import nonexpansive_robustness  # noqa: F401
from . import sphere_features  # noqa: F401
from . import learned_hamiltonian  # noqa: F401
from . import equivariant_reconstruction  # noqa: F401
from . import rotated_digits  # noqa: F401
from . import approximate_equivariance  # noqa: F401
