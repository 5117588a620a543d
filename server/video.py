"""mp4 writing: H.264, exactly the frames given, at the exact (possibly fractional) frame rate."""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np


def rate_fraction(frame_rate: float) -> Fraction:
    """23.976... -> 24000/1001, 29.97 -> 30000/1001, 24.0 -> 24 (containers want a rational rate)."""
    for base in (24, 30, 48, 60, 120):
        ntsc = Fraction(base * 1000, 1001)
        if abs(float(ntsc) - frame_rate) < 5e-3:
            return ntsc
    return Fraction(frame_rate).limit_denominator(1001)


def write_mp4(frames: np.ndarray, path: str | os.PathLike, frame_rate: float, crf: int = 18) -> Path:
    """Encode uint8 frames (n, h, w, 3) to ``path``; written to a temp file and renamed into place so
    a reader (or a crash) never sees half a video."""
    import av

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (n, h, w, 3), got {frames.dtype} {frames.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = rate_fraction(frame_rate)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".mp4", dir=path.parent)
    os.close(fd)
    try:
        with av.open(tmp, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width = int(frames.shape[2])
            stream.height = int(frames.shape[1])
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = 1 / rate
            stream.options = {"crf": str(crf), "preset": "veryfast"}
            for i, rgb in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts = i
                frame.time_base = stream.codec_context.time_base
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def probe_mp4(path: str | os.PathLike) -> dict:
    """Decoded facts about an mp4 (frame count by decoding, size, rate, codec); used by tests and bench."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        n = sum(1 for _ in container.decode(stream))
        return {
            "frames": n,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "rate": stream.average_rate,
            "codec": stream.codec_context.name,
        }
