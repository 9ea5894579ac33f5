"""Embed only real PNG images: the signature, every chunk's CRC and the pixel data are checked.

A results folder may come from anywhere (a colleague's archive, a download). The HTML report
embeds figures as base64 data, so a file named ``order.png`` that is really a key file, an
HTML page or a truncated image must not reach it. :func:`png_problem` decodes the file far
enough to know it is the image it claims to be: the 8-byte signature, the chunk structure
with CRC-32 of each chunk, a valid ``IHDR``, and ``IDAT`` data that inflates to exactly the
size ``IHDR`` announces.
"""

from __future__ import annotations

import struct
import zlib

__all__ = ["MAX_FIGURE_BYTES", "png_problem"]

MAX_FIGURE_BYTES = 20 * 2**20
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Samples per pixel for each PNG colour type (grey, RGB, palette, grey+alpha, RGBA).
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_MAX_PIXELS = 64 * 2**20  # a 8192 x 8192 figure; larger is not a plot


def _chunks(data: bytes) -> list[tuple[bytes, bytes]] | str:
    chunks, at = [], len(_SIGNATURE)
    while at < len(data):
        if at + 12 > len(data):
            return "truncated chunk header"
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        body = data[at + 8 : at + 8 + length]
        if len(body) != length or at + 12 + length > len(data):
            return f"truncated {kind!r} chunk"
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        if zlib.crc32(kind + body) != crc:
            return f"bad CRC in the {kind.decode('latin-1')!r} chunk"
        chunks.append((kind, body))
        at += 12 + length
        if kind == b"IEND":
            return chunks if at == len(data) else "data after IEND"
    return "no IEND chunk"


def _expected_size(header: bytes) -> int | str:
    if len(header) != 13:
        return "IHDR of the wrong length"
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if colour not in _CHANNELS or depth not in (1, 2, 4, 8, 16):
        return f"colour type {colour} with bit depth {depth} is not valid PNG"
    if not 0 < width * height <= _MAX_PIXELS:
        return f"implausible size {width}x{height}"
    if interlace != 0:
        return "interlaced PNG (the report embeds only plain PNG as written by matplotlib)"
    row = (width * _CHANNELS[colour] * depth + 7) // 8
    return height * (1 + row)  # one filter byte per row


def png_problem(data: bytes) -> str | None:
    """Return why ``data`` is not a complete, decodable PNG image, or ``None`` if it is.

    Example:
        >>> png_problem(b"<html>not an image</html>")
        'not a PNG file (wrong signature)'
    """
    if not data.startswith(_SIGNATURE):
        return "not a PNG file (wrong signature)"
    chunks = _chunks(data)
    if isinstance(chunks, str):
        return chunks
    if not chunks or chunks[0][0] != b"IHDR":
        return "the first chunk is not IHDR"
    expected = _expected_size(chunks[0][1])
    if isinstance(expected, str):
        return expected
    inflater = zlib.decompressobj()
    try:
        pixels = inflater.decompress(
            b"".join(body for kind, body in chunks if kind == b"IDAT"), expected + 1
        )
    except zlib.error as error:
        return f"pixel data does not decompress ({error})"
    if len(pixels) != expected or not inflater.eof:
        return f"pixel data has the wrong size (expected {expected} bytes)"
    return None
