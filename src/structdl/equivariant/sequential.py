"""A sequential container that checks that consecutive feature types match."""

from __future__ import annotations

from torch import nn

from .._errors import IncompatibleSchemeError
from ..structure.declarations import AttributeEquals, Claim
from ..structure.properties import Equivariant
from ._declare import DeclaresEquivariance
from .actions import Representation

__all__ = ["EquivariantSequential"]


class EquivariantSequential(DeclaresEquivariance, nn.Sequential):
    """:class:`torch.nn.Sequential` whose modules' ``in_rep``/``out_rep`` must chain.

    Modules without ``in_rep`` (pointwise non-linearities, spatial pooling, dropout) pass the
    feature type through. A mismatch — e.g. a ``C4`` regular field fed to a ``D4`` layer —
    raises :class:`IncompatibleSchemeError` at construction, before any computation.

    **Preserves** equivariance from ``in_rep`` to ``out_rep`` if every module does (a composition
    of equivariant maps is equivariant).

    Attributes:
        in_rep: feature type of the first module that declares one.
        out_rep: feature type produced by the last module that declares one.
        group: the group of the first module that declares one.
    """

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__(*modules)
        current: Representation | None = None
        self.in_rep: Representation | None = None
        self.group = None
        for i, module in enumerate(modules):
            rep_in = getattr(module, "in_rep", None)
            if rep_in is None:
                continue
            if self.group is None:
                self.group = getattr(module, "group", None)
                self.in_rep = rep_in
            if current is not None and rep_in != current:
                raise IncompatibleSchemeError(
                    f"module {i} ({type(module).__name__}) cannot act on the features produced "
                    f"before it — expected input {rep_in!r} — received {current!r} — insert a "
                    "lifting, pooling or restriction layer, or build both with the same group"
                )
            current = module.out_rep
        self.out_rep = current

    @property
    def claims(self) -> tuple[Claim, ...]:
        """``Equivariant(group)`` when every module that declares a group is exactly equivariant."""
        if self.group is None:
            return ()
        return (
            Claim(
                Equivariant(self.group),
                when=AttributeEquals("is_exactly_equivariant", True),
                reason="a composition of equivariant maps between chained feature types is "
                "equivariant",
            ),
        )

    @property
    def is_exactly_equivariant(self) -> bool:
        """Every module that declares a group is exactly equivariant."""
        return self.group is not None and all(
            getattr(m, "is_exactly_equivariant", True) for m in self
        )
