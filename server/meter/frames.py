"""Decode a clip into small gray frames for tracking."""

from __future__ import annotations

import os

import numpy as np

#: Frames wider than this are halved (repeatedly) before tracking: features at generation size are
#: plenty, and the meter must cost a small fraction of generating the clip.
MAX_TRACK_WIDTH = 512


def read_gray(path: str | os.PathLike) -> tuple[list[np.ndarray], float, tuple[int, int], float]:
    """(gray uint8 frames, frame rate, (width, height) of the clip, scale applied to the frames)."""
    import av
    import cv2

    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate) if stream.average_rate else 0.0
        width, height = stream.codec_context.width, stream.codec_context.height
        scale = 1.0
        while width * scale > MAX_TRACK_WIDTH:
            scale *= 0.5
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        for frame in container.decode(stream):
            gray = frame.to_ndarray(format="gray")
            if scale != 1.0:
                gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
            frames.append(gray)
    return frames, rate, (width, height), scale
