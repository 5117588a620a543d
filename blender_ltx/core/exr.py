"""A reader for the one OpenEXR layout the control render writes (pure numpy, no OpenEXR library).

Blender's Python has no EXR reader that exposes a multilayer file's passes, so the background render
saves its Z pass as a multilayer EXR with no compression and 32-bit floats, which is simple enough to
read directly: header attributes, the scanline offset table, then one block per scanline holding each
channel's row in the header's channel order. Anything else (compression, tiles, several parts, half
floats) is refused with a sentence rather than misread.
"""

from __future__ import annotations

import struct

import numpy as np

_MAGIC = 20000630
_PIXEL_BYTES = {0: 4, 1: 2, 2: 4}  # UINT, HALF, FLOAT
_PIXEL_DTYPE = {0: "<u4", 1: "<f2", 2: "<f4"}


def _cstr(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\0", pos)
    return data[pos:end].decode("latin-1"), end + 1


def _attributes(data: bytes, pos: int) -> tuple[dict[str, tuple[str, bytes]], int]:
    attrs = {}
    while data[pos] != 0:
        name, pos = _cstr(data, pos)
        kind, pos = _cstr(data, pos)
        (size,) = struct.unpack_from("<i", data, pos)
        pos += 4
        attrs[name] = (kind, data[pos : pos + size])
        pos += size
    return attrs, pos + 1


def _headers(data: bytes) -> tuple[list[dict[str, tuple[str, bytes]]], bool, int]:
    """(one attribute dict per part, multi-part?, position of the offset tables)."""
    magic, version = struct.unpack_from("<ii", data, 0)
    if magic != _MAGIC:
        raise ValueError("not an OpenEXR file")
    if version & (0x200 | 0x800):  # tiled, deep (long names, 0x400, are fine)
        raise ValueError("tiled or deep EXR files are not supported; write a scanline EXR")
    multipart = bool(version & 0x1000)  # Blender 5 writes each pass as a part
    parts, pos = [], 8
    while True:
        attrs, pos = _attributes(data, pos)
        parts.append(attrs)
        if not multipart or data[pos] == 0:
            return parts, multipart, pos + (1 if multipart else 0)


def _channels(raw: bytes) -> list[tuple[str, int]]:
    out, pos = [], 0
    while raw[pos] != 0:
        name, pos = _cstr(raw, pos)
        (ptype,) = struct.unpack_from("<i", raw, pos)
        x_sampling, y_sampling = struct.unpack_from("<ii", raw, pos + 8)
        if (x_sampling, y_sampling) != (1, 1):
            raise ValueError(f"channel {name!r} is subsampled; only full-resolution channels are supported")
        out.append((name, ptype))
        pos += 16
    return out


def read_channels(data: bytes) -> dict[str, np.ndarray]:
    """Every channel of an uncompressed scanline EXR (single or multi-part) as (height, width) arrays,
    top row first."""
    parts, multipart, pos = _headers(data)
    layouts, tables = [], []
    for attrs in parts:
        if attrs["compression"][1][0] != 0:
            raise ValueError("the EXR is compressed; write it with codec NONE")
        xmin, ymin, xmax, ymax = struct.unpack("<iiii", attrs["dataWindow"][1])
        height = ymax - ymin + 1
        layouts.append((_channels(attrs["channels"][1]), xmax - xmin + 1, ymin))
        tables.append(np.frombuffer(data, dtype="<u8", count=height, offset=pos))
        pos += 8 * height
    out = {}
    for part, ((channels, width, ymin), offsets) in enumerate(zip(layouts, tables, strict=True)):
        for name, t in channels:
            out[name] = np.empty((len(offsets), width), dtype=_PIXEL_DTYPE[t])
        for offset in offsets:
            p = int(offset)
            if multipart:
                (number,) = struct.unpack_from("<i", data, p)
                if number != part:
                    raise ValueError(f"chunk of part {number} listed under part {part}")
                p += 4
            (y,) = struct.unpack_from("<i", data, p)
            p += 8  # y and the chunk's byte size
            for name, ptype in channels:
                out[name][y - ymin] = np.frombuffer(data, dtype=_PIXEL_DTYPE[ptype], count=width, offset=p)
                p += width * _PIXEL_BYTES[ptype]
    return out


def read_depth(path: str) -> np.ndarray:
    """The Z pass (height, width) float32 of a Blender multilayer EXR (channel ``*.Depth.Z`` or ``Z``)."""
    with open(path, "rb") as f:
        chans = read_channels(f.read())
    names = [n for n in chans if n.endswith("Depth.Z") or n == "Z"]
    if not names:
        raise ValueError(f"{path} has no depth channel (found {sorted(chans)[:6]}); enable the Z pass")
    return chans[names[0]].astype(np.float32)
