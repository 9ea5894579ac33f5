"""Embedded data, generated or shipped with dependencies — nothing is downloaded.

- :mod:`.toys`: two-class 2-D sets (rings, spirals, Swiss roll, moons) for ODE-network classifiers;
- :mod:`.digits`: scikit-learn's 8×8 digits scaled to ``[0, 1]`` with a stratified split;
- :mod:`.physics`: noisy trajectories of the pendulum and the mass–spring system;
- :mod:`.phantoms`: random-ellipse CT phantoms and Poisson-noise sinograms;
- :mod:`.hamiltonian_pde`: discretised wave equations (``R^{2n}``) and travelling-bump
  trajectories, for symplectic model reduction.
"""

from ._split import Split, stratified_split
from .digits import digits_split, load_digits
from .hamiltonian_pde import WaveChain, travelling_bump, wave_trajectories, wave_transport
from .phantoms import ellipse_phantom, poisson_sinogram, random_ellipses
from .physics import PHYSICS_SYSTEMS, Trajectories, make_trajectories, true_energy
from .toys import (
    TOY_DATASETS,
    make_moons,
    make_rings,
    make_spirals,
    make_swiss_roll_2class,
    make_toy,
    toy_split,
)

__all__ = [
    "PHYSICS_SYSTEMS",
    "TOY_DATASETS",
    "Split",
    "Trajectories",
    "WaveChain",
    "digits_split",
    "ellipse_phantom",
    "load_digits",
    "make_moons",
    "make_rings",
    "make_spirals",
    "make_swiss_roll_2class",
    "make_toy",
    "make_trajectories",
    "poisson_sinogram",
    "random_ellipses",
    "stratified_split",
    "toy_split",
    "travelling_bump",
    "true_energy",
    "wave_trajectories",
    "wave_transport",
]
