"""What every equivariant module declares: its group, feature types and preserved structure."""

from __future__ import annotations

import torch

from ..structure.declarations import AttributeEquals, Claim
from ..structure.properties import Equivariant
from .actions import Representation
from .groups import FiniteGroup, GroupElement

#: Why an exact group gives exact equivariance: its actions only permute pixels and group-axis
#: entries, and every layer commutes with those permutations (docs/methods/equivariant.md).
EXACT_REASON = (
    "quarter turns and mirrors permute pixels and group-axis entries exactly, and the layer "
    "commutes with these permutations (symmetric sampling grid for strides)"
)


class DeclaresEquivariance:
    """Mixin: ``input_action``/``output_action`` from ``in_rep``/``out_rep``, and ``claims``.

    The claim is ``Equivariant(group)`` when the group acts exactly on the pixel grid
    (``group.exact``: C1, C2, C4, D1, D2, D4); interpolated groups claim nothing. So
    ``structure.guarantees(module)`` lists it and ``structure.assert_preserves(module, x)``
    runs ``check_equivariance`` with these actions. Layers with further conditions (a
    relaxation knob, a chain of modules) override :attr:`claims`.
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
    def claims(self) -> tuple[Claim, ...]:
        """``Equivariant(group)`` when the group acts exactly on the pixel grid."""
        return (
            Claim(
                Equivariant(self.group),
                when=AttributeEquals("group.exact", True),
                reason=EXACT_REASON,
            ),
        )
