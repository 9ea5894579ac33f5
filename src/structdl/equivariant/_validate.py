"""Validation shared by every equivariant layer (written once, in one place, used by all)."""

from __future__ import annotations

import torch

from .._errors import ConfigError, IncompatibleSchemeError, NonFiniteError, ShapeError
from ..structure._validate import finite_or_unknown
from .actions import Representation
from .groups import FiniteGroup, require_group

__all__ = [
    "PADDING_MODES",
    "check_field",
    "nominal_padding",
    "padding_mode",
    "require_exactness",
    "require_finite",
    "require_finite_behind",
    "require_group",
]

PADDING_MODES = ("zeros", "replicate", "reflect", "circular")


def require_exactness(group: FiniteGroup, owner: str, *, require_exact: bool) -> None:
    """Raise if exact equivariance was asked for a group that acts by interpolation."""
    if require_exact and not group.exact:
        raise IncompatibleSchemeError(
            f"{owner} with {group.name} is only approximately equivariant — expected a group "
            f"that maps the pixel grid onto itself (C1, C2, C4, D1, D2, D4) — received "
            f"{group.name}, whose {360 / group.n:g}° rotations need interpolation — use C4/D4 or "
            "pass require_exact=False and accept the (measurable) interpolation error"
        )


def padding_mode(mode: object) -> str:
    """Return ``mode`` if it is a known padding mode, else raise :class:`ConfigError`."""
    if mode not in PADDING_MODES:
        raise ConfigError(
            f"unknown padding_mode — expected one of {', '.join(PADDING_MODES)} — received "
            f"{mode!r} — all of these commute with rotations and mirrors of a square grid"
        )
    return str(mode)


def nominal_padding(padding: object, kernel_size: int) -> int:
    """``"same"`` → ``(k − 1)//2``, ``"valid"`` → 0, or a non-negative integer."""
    if padding == "same":
        return (kernel_size - 1) // 2
    if padding == "valid":
        return 0
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ConfigError(
            f"invalid padding — expected 'same', 'valid' or an integer ≥ 0 — received "
            f"{padding!r} — the layer may add up to stride−1 pixels to keep sampling symmetric"
        )
    return padding


def needs_square(group: FiniteGroup) -> bool:
    """Whether the group contains a rotation that does not map an H×W grid onto itself."""
    return group.n not in (1, 2)


def require_finite(x: torch.Tensor, owner: str, what: str = "input") -> torch.Tensor:
    """Raise :class:`NonFiniteError` if ``x`` holds a NaN or an infinite entry.

    Values are read where they can be (``structure``'s one finite check): not on the meta
    device (shapes only), not inside ``torch.func`` transforms and not while ``torch.compile``
    traces; there the layers check shapes, dtypes and devices only.
    """
    if finite_or_unknown(x) is False:
        count = int((~torch.isfinite(x.detach())).sum())
        raise NonFiniteError(
            f"{owner}: the {what} contains {count} NaN or infinite entries — expected finite "
            f"values — received a {tuple(x.shape)} tensor — clean it (torch.nan_to_num) or "
            "find where it diverged"
        )
    return x


def _layout(rep: Representation) -> str:
    """The expected input layout of a field of ``rep``, for messages."""
    return "(B, C, H, W)" if rep.size is None else f"(B, C, {rep.size}, H, W)"


def require_finite_behind(witness: torch.Tensor, x: torch.Tensor, owner: str) -> None:
    """Raise :class:`NonFiniteError` if ``x`` is not finite, screening ``witness`` first.

    ``witness`` is something the layer computed from ``x`` in which every non-finite entry of
    ``x`` shows up as a non-finite entry (one output channel of a dense stride-1 convolution:
    every input entry lies in some window of every output channel, and ``0·NaN`` and ``0·inf``
    are NaN, so even a zero filter passes it on). Screening the small witness instead of the
    whole input saves a pass over ``x``; only when the witness is not finite is ``x`` itself
    checked, so finite input whose output overflows passes exactly as before.
    """
    if finite_or_unknown(witness) is False:
        require_finite(x, owner)


def check_field(
    x: object,
    rep: Representation,
    channels: int,
    group: FiniteGroup,
    owner: str,
    *,
    device: torch.device | None = None,
    finite: bool = True,
) -> torch.Tensor:
    """Check that ``x`` is a batched, finite field of ``rep`` with ``channels`` channels.

    Args:
        x: the input.
        rep: its declared representation (sets the number of axes and the group-axis size).
        channels: the number of fields at axis 1.
        group: the layer's group (quarter turns need square grids).
        owner: the layer's name, for messages.
        device: the device of the layer's parameters, if it has any; ``x`` must be on it.
        finite: check the values here; ``False`` for a layer that screens them through its
            output instead (:func:`require_finite_behind`).

    Returns:
        ``x`` itself.
    """
    if not isinstance(x, torch.Tensor):
        raise ShapeError(
            f"{owner} needs a tensor — expected {_layout(rep)} — received {type(x).__name__} — "
            "convert with torch.as_tensor"
        )
    if x.ndim != rep.field_ndim:
        raise ShapeError(
            f"{owner}: wrong number of axes for a {rep!r} field — expected {_layout(rep)} — "
            f"received shape {tuple(x.shape)} — "
            + ("lift images with LiftingConv2d first" if rep.size else "pool the group axis first")
        )
    if not x.is_floating_point():
        raise ShapeError(
            f"{owner} needs floating-point input — received {x.dtype} — convert with x.float()"
        )
    if x.shape[1] != channels:
        raise ShapeError(
            f"{owner}: wrong channel count — expected {channels} channels at axis 1 of "
            f"{_layout(rep)} — "
            f"received {x.shape[1]} (shape {tuple(x.shape)}) — match in_channels to the input"
        )
    if device is not None and x.device != device:
        raise ShapeError(
            f"{owner}: input and parameters on different devices — expected a tensor on "
            f"{device} — received one on {x.device} — move one of them with .to(device)"
        )
    if rep.size is not None and x.shape[2] != rep.size:
        raise ShapeError(
            f"{owner}: wrong group-axis size — expected {rep.size} (a {rep!r} field) — received "
            f"{x.shape[2]} (shape {tuple(x.shape)}) — the input was built for another group; "
            "use a layer of the same group, or restrict/pool the field first"
        )
    h, w = x.shape[-2:]
    if needs_square(group) and h != w:
        raise ShapeError(
            f"{owner}: {group.name} rotates by {360 / group.n:g}°, which maps the grid onto itself "
            f"only if it is square — expected H == W — received {h}×{w} — crop or pad to a square"
        )
    return require_finite(x, owner) if finite else x
