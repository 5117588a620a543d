"""PNG files for tests, written with the standard library and numpy alone: a Blender-like Python (the
bpy 4.2 and 5.3 venvs) has no PIL."""

from __future__ import annotations

import struct
import zlib

import numpy as np


def write_png(path, rgb: np.ndarray) -> str:
    """``rgb`` (H, W, 3) uint8 as an 8-bit RGB PNG at ``path``; returns the path as a string."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))  # filter type 0 on every row

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)
    return str(path)


def noise_png(path, seed: int, size: int = 64) -> str:
    """A square PNG of seeded noise (a reference image that differs from seed to seed)."""
    return write_png(path, np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))
