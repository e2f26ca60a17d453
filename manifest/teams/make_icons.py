"""Draws the two Teams app icons, color.png (192x192) and outline.png (32x32, transparent).

Pure standard library (zlib, struct), deterministic: running it again writes the same bytes, and
a test checks that the committed icons are what it draws. Run from anywhere:

    python manifest/teams/make_icons.py
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
BLUE = (0, 94, 184)  # the NHS blue of the organisation's identity
WHITE = (255, 255, 255)
Pixel = tuple[int, int, int, int]


def png(width: int, height: int, pixel: Callable[[float, float], Pixel]) -> bytes:
    """An RGBA PNG whose pixel at (x, y) is ``pixel`` of its centre, in 0..1 coordinates."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type 0: the row as it is
        for x in range(width):
            rows.extend(pixel((x + 0.5) / width, (y + 0.5) / height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def _near_segment(x: float, y: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
    px, py = ax + t * dx, ay + t * dy
    return float(((x - px) ** 2 + (y - py) ** 2) ** 0.5)


def mark(x: float, y: float, width: float) -> bool:
    """A "V" for values, with a tick's lilt: two strokes meeting at the bottom."""
    left = _near_segment(x, y, (0.24, 0.26), (0.47, 0.76))
    right = _near_segment(x, y, (0.47, 0.76), (0.78, 0.22))
    return min(left, right) <= width


def color(x: float, y: float) -> Pixel:
    """White mark on a full-bleed blue square (Teams rounds the corners itself)."""
    return (*WHITE, 255) if mark(x, y, 0.07) else (*BLUE, 255)


def outline(x: float, y: float) -> Pixel:
    """White mark on transparency (Teams tints it)."""
    return (*WHITE, 255) if mark(x, y, 0.09) else (0, 0, 0, 0)


def main() -> None:
    (HERE / "color.png").write_bytes(png(192, 192, color))
    (HERE / "outline.png").write_bytes(png(32, 32, outline))


if __name__ == "__main__":
    main()
