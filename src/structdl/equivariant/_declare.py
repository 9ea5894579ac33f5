"""What every equivariant module declares: its group, feature types and preserved structure."""

from __future__ import annotations

import torch

from ..structure.properties import Equivariant, Property
from .actions import Representation
from .groups import FiniteGroup, GroupElement


class DeclaresEquivariance:
    """Mixin: ``input_action``/``output_action`` from ``in_rep``/``out_rep``, and ``preserves``.

    ``preserves`` is ``{Equivariant(group)}`` when the equivariance is exact (an exact group and
    no relaxation), so that ``structure.assert_preserves(module, x)`` runs
    ``check_equivariance`` with these actions; it is empty for approximate layers.
    """

    group: FiniteGroup
    in_rep: Representation
    out_rep: Representation

    def input_action(self, g: GroupElement, x: torch.Tensor) -> torch.Tensor:
        """``L_g`` on inputs (the action of ``in_rep``)."""
        return self.in_rep.act(g, x)

    def output_action(self, g: GroupElement, y: torch.Tensor) -> torch.Tensor:
        """``L_g`` on outputs (the action of ``out_rep``)."""
        return self.out_rep.act(g, y)

    @property
    def is_exactly_equivariant(self) -> bool:
        """Exact group and (for relaxed layers) zero relaxation."""
        return self.group.exact and getattr(self, "relaxation", 0.0) == 0.0

    @property
    def preserves(self) -> frozenset[Property]:
        """``{Equivariant(group)}`` if exactly equivariant, else the empty set."""
        return frozenset({Equivariant(self.group)}) if self.is_exactly_equivariant else frozenset()
