"""mp4 writing: H.264, exactly the frames given, at the exact (possibly fractional) frame rate; AAC audio
of the video's duration where the model made some."""

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


def fit_audio(audio: np.ndarray, rate: int, num_frames: int, frame_rate: float) -> np.ndarray:
    """float32 (channels, samples) trimmed or padded with silence to the video's duration, so the
    sound strip ends with the movie strip (the vocoder's length is a few ms off the video's)."""
    want = round(num_frames / float(rate_fraction(frame_rate)) * rate)
    audio = np.asarray(audio, dtype=np.float32)[:, :want]
    if audio.shape[1] < want:
        audio = np.pad(audio, ((0, 0), (0, want - audio.shape[1])))
    return np.clip(audio, -1.0, 1.0)


def _audio_stream(container, audio: np.ndarray, rate: int):
    """The AAC stream (added before anything is muxed: the header lists every stream)."""
    layout = {1: "mono", 2: "stereo"}.get(audio.shape[0])
    if layout is None:
        raise ValueError(f"audio must have 1 or 2 channels, got {audio.shape[0]}")
    return container.add_stream("aac", rate=rate, layout=layout)


def _encode_audio(container, stream, audio: np.ndarray, rate: int) -> None:
    import av

    layout = stream.codec_context.layout.name
    # Planar float chunks of the encoder's frame size: no resampler in the path.
    chunk = stream.codec_context.frame_size or 1024
    pts = 0
    for start in range(0, audio.shape[1], chunk):
        block = np.ascontiguousarray(audio[:, start : start + chunk])
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.time_base = Fraction(1, rate)
        frame.pts = pts
        pts += block.shape[1]
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def write_mp4(
    frames: np.ndarray,
    path: str | os.PathLike,
    frame_rate: float,
    crf: int = 18,
    *,
    audio: np.ndarray | None = None,
    audio_rate: int | None = None,
) -> Path:
    """Encode uint8 frames (n, h, w, 3) to ``path``, with ``audio`` (float32 (channels, samples) at
    ``audio_rate``) as an AAC stream of the video's duration where given; written to a temp file and
    renamed into place so a reader (or a crash) never sees half a video."""
    import av

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (n, h, w, 3), got {frames.dtype} {frames.shape}")
    if audio is not None:
        if not audio_rate:
            raise ValueError("audio needs its audio_rate")
        audio = fit_audio(audio, audio_rate, len(frames), frame_rate)
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
            sound = _audio_stream(container, audio, audio_rate) if audio is not None else None
            for i, rgb in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts = i
                frame.time_base = stream.codec_context.time_base
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
            if sound is not None:
                _encode_audio(container, sound, audio, audio_rate)
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
        out = {
            "frames": n,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "rate": stream.average_rate,
            "codec": stream.codec_context.name,
            "audio": None,
        }
    with av.open(str(path)) as container:
        if container.streams.audio:
            a = container.streams.audio[0]
            # The stream's duration (the edit list's): decoding also yields the encoder's priming and
            # the padding of its last frame, which players skip.
            if a.duration is not None:
                seconds = float(a.duration * a.time_base)
            else:
                seconds = sum(f.samples for f in container.decode(a)) / a.codec_context.sample_rate
            out["audio"] = {
                "codec": a.codec_context.name,
                "rate": a.codec_context.sample_rate,
                "channels": a.codec_context.channels,
                "duration_s": seconds,
            }
    return out
