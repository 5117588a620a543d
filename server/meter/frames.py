"""Decode a clip into small gray frames for tracking."""

from __future__ import annotations

import os

import numpy as np

#: Frames wider than this are halved (repeatedly) before tracking: features at generation size are
#: plenty, and the meter must cost a small fraction of generating the clip.
MAX_TRACK_WIDTH = 512

#: 8-bit pixel formats whose first plane is the luma picture.
_LUMA_FIRST = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}


def read_gray(path: str | os.PathLike) -> tuple[list[np.ndarray], float, tuple[int, int], float]:
    """(gray uint8 frames, frame rate, (width, height) of the clip, scale applied to the frames).
    A file that is not a video, has no video stream or breaks off raises ValueError (one sentence)."""
    import av

    try:
        container = av.open(str(path))
    except Exception as exc:  # PyAV raises many types for broken files; all mean the same to a user
        raise ValueError(
            f"{path} is not a video PyAV can read ({str(exc)[:80]}); pass the mp4 of the take"
        ) from None
    with container:
        if not container.streams.video:
            raise ValueError(f"{path} has no video stream (audio only?); pass the mp4 of the take")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate) if stream.average_rate else 0.0
        width, height = stream.codec_context.width, stream.codec_context.height
        scale = 1.0
        while width * scale > MAX_TRACK_WIDTH:
            scale *= 0.5
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        frames: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                frames.append(_gray(frame, scale, size))
        except Exception as exc:  # a broken stream inside a readable container
            raise ValueError(
                f"{path} breaks off after {len(frames)} frames ({str(exc)[:80]}); pass a whole mp4"
            ) from None
    return frames, rate, (width, height), scale


def _gray(frame, scale: float, size: tuple[int, int]) -> np.ndarray:
    import cv2

    # The luma plane as it is (a copy out of the decoder's buffer): a quarter of the time of
    # to_ndarray("gray"), whose swscale pass only stretches studio range to full, which the
    # tracker does not need (its corner threshold has a margin of 4 either side).
    if frame.format.name in _LUMA_FIRST:
        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
    else:
        luma = frame.to_ndarray(format="gray")
    if scale != 1.0:
        return cv2.resize(luma, size, interpolation=cv2.INTER_AREA)
    return luma.copy()
