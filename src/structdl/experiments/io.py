"""Atomic file writes for results: write to a temporary file in the same folder, then rename.

A run that is killed part-way leaves either the old file or the new one, never half a file.
Files are created with mode ``0o666`` filtered by the process umask, like any file the user
creates (``tempfile.mkstemp`` would force ``0o600``).
"""

from __future__ import annotations

import json
import math
import os
import secrets
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "save_figure",
    "temporary_name",
]

_FILE_MODE = 0o666  # the umask takes away what the user does not want (usually 0o644 remains)


def temporary_name(path: Path) -> Path:
    """A fresh hidden name ``.<name>.<random>.tmp`` next to ``path`` (not created)."""
    path = Path(path)
    return path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + fsync + ``os.replace``).

    The temporary name is chosen *before* the file is created and the clean-up covers the
    creation itself, so an interrupt (Ctrl-C or SIGTERM turned into ``KeyboardInterrupt``)
    landing anywhere — even between ``open`` returning and the next statement — leaves no
    temporary file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Nothing else can have created this random name, so removing it is always ours.
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _jsonable(value: Any) -> Any:
    # numpy / torch scalars and non-finite floats become plain JSON values.
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def atomic_write_json(path: Path, payload: Any) -> None:
    """Serialise ``payload`` as indented JSON and write it atomically."""
    atomic_write_text(path, json.dumps(_jsonable(payload), indent=2, sort_keys=False) + "\n")


def save_figure(fig: Any, out_dir: Path, name: str, *, dpi: int = 110) -> str:
    """Save a matplotlib figure as ``out_dir/name`` (PNG) atomically; returns ``name``."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(Path(out_dir) / name, buffer.getvalue())
    return name
