"""Validation shared by every equivariant layer (written once, used by all; STYLE habit 12)."""

from __future__ import annotations

import torch

from .._errors import ConfigError, IncompatibleSchemeError, ShapeError
from .actions import Representation
from .groups import FiniteGroup

PADDING_MODES = ("zeros", "replicate", "reflect", "circular")


def positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer ``≥ minimum``, else raise :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"invalid {name} — expected an integer ≥ {minimum} — received {value!r} — "
            f"pass e.g. {max(minimum, 1)}"
        )
    return value


def require_group(group: object, owner: str) -> FiniteGroup:
    """Return ``group`` if it is a :class:`FiniteGroup`, else raise."""
    if not isinstance(group, FiniteGroup):
        raise IncompatibleSchemeError(
            f"{owner} cannot act with {group!r} — expected a finite planar group such as C4, D4, "
            f"C(8) — received {type(group).__name__} — import them from structdl.equivariant"
        )
    return group


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


def check_field(
    x: object, rep: Representation, channels: int, group: FiniteGroup, owner: str
) -> torch.Tensor:
    """Check that ``x`` is a batched field of ``rep`` with ``channels`` channels; return it."""
    layout = "(B, C, H, W)" if rep.size is None else f"(B, C, {rep.size}, H, W)"
    if not isinstance(x, torch.Tensor):
        raise ShapeError(
            f"{owner} needs a tensor — expected {layout} — received {type(x).__name__} — "
            "convert with torch.as_tensor"
        )
    if x.ndim != rep.field_ndim:
        raise ShapeError(
            f"{owner}: wrong number of axes for a {rep!r} field — expected {layout} — received "
            f"shape {tuple(x.shape)} — "
            + ("lift images with LiftingConv2d first" if rep.size else "pool the group axis first")
        )
    if not x.is_floating_point():
        raise ShapeError(
            f"{owner} needs floating-point input — received {x.dtype} — convert with x.float()"
        )
    if x.shape[1] != channels:
        raise ShapeError(
            f"{owner}: wrong channel count — expected {channels} channels at axis 1 of {layout} — "
            f"received {x.shape[1]} (shape {tuple(x.shape)}) — match in_channels to the input"
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
    return x
