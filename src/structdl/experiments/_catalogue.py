"""Imports every experiment module so that each registers itself. Order = report order."""
# Each experiment module appends itself to the registry on import; add new ones here.
