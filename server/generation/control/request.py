"""The request's ``control`` field: its check before queueing and the IC-LoRA references it becomes.

Shape (all frame counts are the clip's ``num_frames``, positions in the generated frame's pixels):

    "control": {
      "kind": "depth" | "canny" | "tracks",
      "strength": 1.0,                 # 0..1, the reference condition's strength
      "video": {"asset": "<sha256>"},  # depth: the normalized depth video (near bright, see
                                       #   blender_ltx.core.depth); canny: the previs beauty video, whose
                                       #   edges the server computes. An mp4; inline base64 also works;
                                       #   or PNG frames: {"frames": [{"asset": sha} | base64, ...]}
                                       #   (what bl/render/control_frames.py writes; unchanged frames dedupe).
      "tracks": [[[x, y] | null, ...], ...]   # tracks only: frames x points, null where a track has
    }                                         #   ended (blender_ltx.core.tracks.to_json_tracks)

The server must offer the kind: its backend lists ``control_<kind>`` in ``capabilities``.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from typing import Any

import numpy as np

from blender_ltx.core.control import CAPABILITY_PREFIX, KINDS, offered
from blender_ltx.core.protocol import ProtocolError

from ...backends.base import Reference

MAX_TRACKS = 256
#: How far the reference video's aspect may be from the clip's (relative), e.g. a grid rounded to 32.
ASPECT_TOLERANCE = 0.05
#: A layer name in ``applied.layers`` and a capability name: ``control_<kind>``.
LAYER_PREFIX = CAPABILITY_PREFIX


def ic_lora_name(capabilities: Any, kind: str) -> str | None:
    """The name of the IC-LoRA serving ``kind``, where the backend lists them (``ic_loras``: kind -> name
    in a capabilities dict); None when it does not say."""
    loras = capabilities.get("ic_loras") if isinstance(capabilities, dict) else None
    return loras.get(kind) if isinstance(loras, dict) else None


def check_frame_size(vw: int, vh: int, field: str, clip: tuple[int, int], max_pixels: int | None) -> None:
    """A reference picture's size against the clip's (an IC-LoRA reference is the clip's size or smaller,
    with its shape) and the server's picture limit; checked from the header, before anything decodes."""
    w, h = clip
    if vw <= 0 or vh <= 0:
        raise ProtocolError(
            field, f"has no picture size ({vw}x{vh}): send frames of the {w}x{h} clip's shape"
        )
    if max_pixels is not None and vw * vh > max_pixels:
        raise ProtocolError(
            field, f"is {vw}x{vh}, above the image limit of {max_pixels} pixels: send it at the clip's size"
        )
    if vw > w or vh > h:
        raise ProtocolError(
            field, f"is {vw}x{vh}, larger than the {w}x{h} clip: send it at the clip's size or smaller"
        )
    if abs((vw / vh) / (w / h) - 1.0) > ASPECT_TOLERANCE:
        raise ProtocolError(field, f"is {vw}x{vh}, not the shape of the {w}x{h} clip")


def decode_video(
    data: bytes, field: str, num_frames: int, clip: tuple[int, int], max_pixels: int | None = None
) -> np.ndarray:
    """Frames (n, h, w, 3) uint8 RGB of an mp4 (or any container PyAV reads). The frame count and size
    come from the header first, and no more than ``num_frames`` frames are converted, so a long or
    huge video is refused before it costs memory."""
    import av

    try:
        box = av.open(io.BytesIO(data))
    except Exception as exc:  # PyAV raises many types for broken files; all mean the same to a user
        raise ProtocolError(field, f"is not a video PyAV can read ({str(exc)[:100]}): send an mp4") from None
    with box:
        fmt = box.format.name
        if fmt.endswith("_pipe") or fmt.startswith("image2"):
            image = fmt.split("_")[0].upper()
            raise ProtocolError(
                field, f'is a {image} image, not a video: send an mp4, or PNG frames as {{"frames": [...]}}'
            )
        if not box.streams.video:
            raise ProtocolError(field, "has no video stream (audio only?): send an mp4 of the control frames")
        stream = box.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        check_frame_size(*size, field, clip, max_pixels)
        if stream.frames and stream.frames != num_frames:
            raise ProtocolError(field, f"has {stream.frames} frames but the clip has {num_frames}")
        frames: list[np.ndarray] = []
        try:
            for frame in box.decode(stream):
                if len(frames) == num_frames:
                    raise ProtocolError(
                        field, f"has more than {num_frames} frames but the clip has {num_frames}"
                    )
                if (frame.width, frame.height) != size:
                    raise ProtocolError(
                        field, f"changes size at frame {len(frames)}: send every frame at {size[0]}x{size[1]}"
                    )
                frames.append(frame.to_ndarray(format="rgb24"))
        except ProtocolError:
            raise
        except Exception as exc:  # a broken stream inside a readable container
            raise ProtocolError(
                field, f"does not decode as a video ({str(exc)[:100]}): send an mp4"
            ) from None
    if len(frames) != num_frames:
        raise ProtocolError(field, f"has {len(frames)} frames but the clip has {num_frames}")
    return np.stack(frames)


def _png_frames(
    frames: Any, field: str, assets: Any, num_frames: int, clip: tuple[int, int], max_pixels: int | None
) -> tuple[np.ndarray, list[dict[str, str]]]:
    """Decoded PNG frames (n, h, w, 3) and their asset references (inline ones are stored). Every
    frame's count and size is checked from its header before any decodes; a repeated frame decodes once."""
    from PIL import Image

    if not isinstance(frames, list) or not frames:
        raise ProtocolError(field, 'must be a list of PNG frames ({"asset": sha} or base64)')
    if len(frames) != num_frames:
        raise ProtocolError(field, f"has {len(frames)} frames but the clip has {num_frames}")
    raws: dict[str, bytes] = {}
    refs = []
    size = None
    for i, item in enumerate(frames):
        raw, sha = _video_bytes(item, f"{field}[{i}]", assets)
        if sha not in raws:
            try:
                with Image.open(io.BytesIO(raw)) as img:  # reads the header only
                    frame_size = img.size
            except Exception as exc:  # PIL raises many types for broken files; all mean the same to a user
                raise ProtocolError(
                    f"{field}[{i}]", f"does not decode as an image ({str(exc)[:80]})"
                ) from None
            if size is None:
                check_frame_size(*frame_size, f"{field}[{i}]", clip, max_pixels)
                size = frame_size
            elif frame_size != size:
                raise ProtocolError(f"{field}[{i}]", f"is {frame_size[0]}x{frame_size[1]}, unlike frame 0")
            raws[sha] = raw
        refs.append({"asset": sha})
    decoded: dict[str, np.ndarray] = {}
    for i, ref in enumerate(refs):
        sha = ref["asset"]
        if sha in decoded:
            continue
        try:
            with Image.open(io.BytesIO(raws.pop(sha))) as img:
                decoded[sha] = np.asarray(img.convert("RGB"))
        except Exception as exc:  # PIL raises many types for broken files; all mean the same to a user
            raise ProtocolError(f"{field}[{i}]", f"does not decode as an image ({str(exc)[:80]})") from None
    return np.stack([decoded[r["asset"]] for r in refs]), refs


def _video_bytes(video: Any, field: str, assets: Any) -> tuple[bytes, str]:
    """(bytes, sha256) of the control video; inline base64 is stored as an asset so that the queued job
    refers to it like an uploaded one."""
    if isinstance(video, dict) and set(video) == {"asset"}:
        if assets is None:
            raise ProtocolError(field, "refers to an asset but this server keeps none")
        return assets.read(video["asset"], f"{field}.asset"), video["asset"]
    if isinstance(video, str):
        try:
            raw = base64.b64decode(video, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError(field, "is not valid base64 (standard alphabet, padded)") from None
        import hashlib

        sha = hashlib.sha256(raw).hexdigest()
        if assets is not None:
            assets.put(sha, raw)
        return raw, sha
    raise ProtocolError(field, 'must be {"asset": "<sha256>"} of an uploaded mp4, or the mp4 as base64')


def _check_tracks(tracks: Any, num_frames: int, width: int, height: int) -> None:
    field = "control.tracks"
    if not isinstance(tracks, list) or not tracks:
        raise ProtocolError(field, "is required for kind 'tracks': frames x points of [x, y] or null")
    if len(tracks) != num_frames:
        raise ProtocolError(field, f"has {len(tracks)} frames but the clip has {num_frames}")
    count = None
    for t, frame in enumerate(tracks):
        if not isinstance(frame, list):
            raise ProtocolError(f"{field}[{t}]", "must be a list of [x, y] or null, one per track")
        if count is None:
            count = len(frame)
            if not 0 < count <= MAX_TRACKS:
                raise ProtocolError(f"{field}[0]", f"has {count} tracks; send 1 to {MAX_TRACKS}")
        elif len(frame) != count:
            raise ProtocolError(f"{field}[{t}]", f"has {len(frame)} tracks but frame 0 has {count}")
        for i, p in enumerate(frame):
            if p is None:
                continue
            ok = isinstance(p, list) and len(p) == 2
            ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)
            if not ok or not all(math.isfinite(v) for v in p):
                raise ProtocolError(f"{field}[{t}][{i}]", f"must be [x, y] in pixels or null, got {p!r:.60}")
    _ = (width, height)  # positions may lie outside the frame: a dot half in view is still drawn


def check_control(
    control: Any, request: dict[str, Any], capabilities: Any, assets: Any, max_pixels: int | None = None
) -> tuple[dict[str, Any], np.ndarray | None]:
    """The checked ``control`` for the queued record (a video as ``{"asset": sha}``) and the decoded
    video frames (None for tracks). Raises ProtocolError naming the field. ``max_pixels``: the server's
    picture limit (``max_image_pixels``), which control frames are held to like keyframes."""
    if not isinstance(control, dict):
        raise ProtocolError("control", 'must be an object like {"kind": "depth", "video": {"asset": ...}}')
    unknown = set(control) - {"kind", "strength", "video", "tracks"}
    if unknown:
        raise ProtocolError(
            f"control.{sorted(unknown)[0]}", "is not a known field (kind, strength, video, tracks)"
        )
    kind = control.get("kind")
    if kind not in KINDS:
        raise ProtocolError("control.kind", f"must be one of {', '.join(KINDS)}, got {kind!r:.40}")
    have = offered(capabilities)
    if kind not in have:
        what = f"offers {', '.join(have)}" if have else "offers no control kinds"
        raise ProtocolError(
            "control.kind", f"is {kind!r} but this server {what}: start it with an IC-LoRA for {kind}"
        )
    strength = control.get("strength", 1.0)
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0.0 <= strength <= 1.0:
        raise ProtocolError("control.strength", f"must be a number from 0 to 1, got {strength!r:.40}")
    lora = ic_lora_name(capabilities, kind)
    out: dict[str, Any] = {"kind": kind, "strength": float(strength), "lora": lora}
    n, w, h = request["num_frames"], request["width"], request["height"]
    if kind == "tracks":
        if "video" in control:
            raise ProtocolError("control.video", "is not used by kind 'tracks' (send control.tracks)")
        _check_tracks(control.get("tracks"), n, w, h)
        out.update(width=w, height=h, tracks=control["tracks"])
        return out, None
    if "tracks" in control:
        raise ProtocolError("control.tracks", f"is only used by kind 'tracks', not {kind!r}")
    if "video" not in control:
        raise ProtocolError("control.video", f"is required for kind {kind!r}")
    video = control["video"]
    clip = (w, h)
    if isinstance(video, dict) and set(video) == {"frames"}:
        frames, refs = _png_frames(video["frames"], "control.video.frames", assets, n, clip, max_pixels)
        record: dict[str, Any] = {"frames": refs}
    else:
        raw, sha = _video_bytes(video, "control.video", assets)
        frames, record = decode_video(raw, "control.video", n, clip, max_pixels), {"asset": sha}
    vh, vw = frames.shape[1:3]
    out.update(width=vw, height=vh, video=record)
    return out, frames


def reference_frames(control: dict[str, Any], request: dict[str, Any], assets: Any) -> np.ndarray:
    """The IC-LoRA's reference video (n, h, w, 3) uint8 for a checked control."""
    kind = control["kind"]
    if kind == "tracks":
        from .tracks_draw import draw_tracks

        tracks = np.array(
            [[p if p is not None else (np.nan, np.nan) for p in frame] for frame in control["tracks"]],
            dtype=float,
        )
        return draw_tracks(tracks, request["width"], request["height"])
    video = control["video"]
    n, clip = request["num_frames"], (request["width"], request["height"])
    if "frames" in video:
        frames, _ = _png_frames(video["frames"], "control.video.frames", assets, n, clip, None)
    else:
        frames = decode_video(assets.read(video["asset"], "control.video.asset"), "control.video", n, clip)
    if kind == "canny":
        from .edges import canny_video

        return canny_video(frames)
    return frames  # depth: normalized by the add-on (blender_ltx.core.depth)


def references_for(request: dict[str, Any], assets: Any) -> list[Reference]:
    """What the backend gets for a queued request's control (empty without one)."""
    control = request.get("control")
    if not control:
        return []
    frames = reference_frames(control, request, assets)
    return [Reference(kind=control["kind"], frames=frames, strength=control["strength"])]


def applied_control(control: dict[str, Any] | None, request: dict[str, Any]) -> dict[str, Any] | None:
    """The ``applied.control`` record: kind, frame count, size of the reference frames handed to the
    backend (it scales them by its IC-LoRA's downscale factor), strength, and the IC-LoRA's name."""
    if not control:
        return None
    return {
        "kind": control["kind"],
        "frames": request["num_frames"],
        "width": control["width"],
        "height": control["height"],
        "strength": control["strength"],
        "lora": control.get("lora"),
    }
