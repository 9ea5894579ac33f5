"""The bijection contract: a map with its inverse and the log-determinant of its Jacobian.

Direction convention (one, everywhere): a flow maps **data to the base distribution**,
``z = f(x)``. ``forward_and_logdet(x)`` returns ``(f(x), log|det ∂f/∂x|)`` per sample;
``inverse_and_logdet(z)`` returns ``(f⁻¹(z), log|det ∂f⁻¹/∂z|)``, which is minus the forward
log-determinant at ``f⁻¹(z)``. The inverse is an object, ``b.inv`` — never a direction flag.

Structure is declared as data (:mod:`structdl.structure.declarations`): every bijection claims
``Invertible``; one whose log-determinant is identically zero also claims
``VolumePreserving``. :func:`structdl.structure.guarantees` derives them, and the checks of
:mod:`structdl.structure` verify them.

Tensor layout: ``x`` is ``(batch, *event_shape)``; the log-determinant is ``(batch,)``.
Conditional bijections take a ``context`` keyword of shape ``(batch, context_dim)``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable

from torch import Tensor, nn

from .._errors import ShapeError
from ..structure._validate import require_float_tensor
from ..structure.declarations import ALWAYS, Claim, EveryPart, explain
from ..structure.properties import BiLipschitz, Invertible, VolumePreserving

__all__ = ["Bijection", "Compose", "Inverse"]


class Bijection(nn.Module):
    """Abstract base of every invertible map with a tractable log-determinant.

    Subclasses implement :meth:`_forward` and :meth:`_inverse` (each returning the image and
    the per-sample log-determinant of that direction) and set ``claims``. The public methods
    validate once, here, and call them.

    Attributes:
        claims: the structure the bijection declares (default: ``Invertible`` always).
        volume_preserving: class flag; ``True`` adds the ``VolumePreserving`` claim.
    """

    volume_preserving: bool = False

    @property
    def claims(self) -> tuple[Claim, ...]:
        """``Invertible`` always; ``VolumePreserving`` when the log-determinant is 0."""
        found = [Claim(Invertible(), ALWAYS, "an explicit inverse")]
        if self.volume_preserving:
            found.append(Claim(VolumePreserving(), ALWAYS, "log|det| = 0 by construction"))
        return tuple(found)

    # -- the two directions -------------------------------------------------------------------

    @abstractmethod
    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        """``(f(x), log|det ∂f/∂x|)`` on validated input."""

    @abstractmethod
    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        """``(f⁻¹(z), log|det ∂f⁻¹/∂z|)`` on validated input."""

    def _validate(self, x: Tensor, what: str) -> None:
        require_float_tensor(x, what, type(self).__name__)

    def forward_and_logdet(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Return ``(f(x), log|det ∂f/∂x|)``; the log-determinant has shape ``(batch,)``."""
        self._validate(x, "input")
        return self._forward(x, context)

    def inverse_and_logdet(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Return ``(f⁻¹(z), log|det ∂f⁻¹/∂z|)``; the log-determinant has shape ``(batch,)``."""
        self._validate(z, "input of the inverse")
        return self._inverse(z, context)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``f(x)``."""
        return self.forward_and_logdet(x, context)[0]

    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """``f⁻¹(z)``."""
        return self.inverse_and_logdet(z, context)[0]

    @property
    def inv(self) -> Bijection:
        """The inverse map as a bijection (``b.inv.inv is b``; one object per bijection)."""
        cached = self.__dict__.get("_inverse_object")
        return cached if cached is not None else Inverse(self)


class Inverse(Bijection):
    """The inverse ``f⁻¹`` of a bijection, sharing its parameters. Final."""

    def __init__(self, base: Bijection) -> None:
        super().__init__()
        self.base = base
        # Remember the first inverse object of ``base`` outside the module tree (no cycle in
        # ``modules()`` or the state dict), so that ``b.inv`` is always the same object.
        if base.__dict__.get("_inverse_object") is None:
            object.__setattr__(base, "_inverse_object", self)

    @property
    def claims(self) -> tuple[Claim, ...]:
        """What holds for the base map now, with bi-Lipschitz constants swapped.

        ``f⁻¹`` is invertible and volume preserving exactly when ``f`` is; ``f⁻¹`` has
        Lipschitz constants ``(inverse, forward)`` when ``f`` has ``(forward, inverse)``. The
        base's conditions read the base's attributes, so they are evaluated on the base here.
        """
        found = []
        for item in explain(self.base):
            if not item.holds:
                continue
            tag = item.claim.property
            if isinstance(tag, BiLipschitz):
                tag = BiLipschitz(forward=tag.inverse, inverse=tag.forward)
            reason = f"holds for the base map ({item.claim.when}): {item.claim.reason}"
            found.append(Claim(tag, ALWAYS, reason))
        return tuple(found)

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return self.base.inverse_and_logdet(x, context)

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return self.base.forward_and_logdet(z, context)

    @property
    def inv(self) -> Bijection:
        return self.base


class Compose(Bijection):
    """``f = f_n ∘ … ∘ f_1``: log-determinants add. Final.

    Invertible always; volume preserving when every part is (derived, not assumed).

    Args:
        transforms: the bijections, applied first to last in the forward direction.
    """

    def __init__(self, transforms: Iterable[Bijection]) -> None:
        super().__init__()
        parts = list(transforms)
        for i, part in enumerate(parts):
            if not isinstance(part, Bijection):
                raise ShapeError(
                    f"Compose: transform {i} must be a Bijection — received "
                    f"{type(part).__name__} — wrap it or use a structdl.invertible layer"
                )
        self.transforms = nn.ModuleList(parts)

    @property
    def claims(self) -> tuple[Claim, ...]:
        """``Invertible`` always; ``VolumePreserving`` when every part guarantees it."""
        return (
            Claim(Invertible(), ALWAYS, "a composition of bijections"),
            Claim(
                VolumePreserving(),
                EveryPart("transforms", VolumePreserving()),
                "log-determinants add",
            ),
        )

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        total = x.new_zeros(x.shape[0])
        for transform in self.transforms:
            x, logdet = transform.forward_and_logdet(x, context)
            total = total + logdet
        return x, total

    def _inverse(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        total = z.new_zeros(z.shape[0])
        for transform in reversed(self.transforms):
            z, logdet = transform.inverse_and_logdet(z, context)
            total = total + logdet
        return z, total
