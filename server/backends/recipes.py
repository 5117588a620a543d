"""Draft, then final: the two-stage recipe a family's checkpoints ship, split so the draft can be kept.

LTX-2 (and 2.3) generate at half the final width and height, upsample the latents x2 with a latent
upsampler model and refine them with a few steps on the distilled tail of the sigma schedule. LTX-Video
0.9.7+ does the same with its own upsampler and a partial denoise. Here a *draft* is the first stage alone
(its clip decoded at the reduced size, its latents kept by the server) and a *finalize* is the rest, run
later on the kept latents with the draft's seed and conditions.

No torch at import: the server checks sizes and reads and writes kept latents with this module too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

#: The draft is this many times smaller than the final in width and in height (a x2 latent upsampler).
DRAFT_DIVISOR = 2
#: Where a checkpoint folder keeps its latent upsampler (diffusers' layout for Lightricks/LTX-2).
UPSAMPLER_FOLDER = "latent_upsampler"
#: Where an LTX-2.5 checkpoint folder keeps its temporal x2 latent upsampler and its diffusion decoder.
TEMPORAL_UPSAMPLER_FOLDER = "temporal_latent_upsampler"
DIFFUSION_DECODER_FOLDER = "diffusion_decoder"
#: LTX-2's refine schedule after the x2 upsample: the last three sigmas of the distilled schedule
#: (Lightricks' stage-2 values, also diffusers' ltx2 utils).
LTX2_REFINE_SIGMAS = (0.909375, 0.725, 0.421875)
#: LTX-Video 0.9.7's refine after the upsample: a partial denoise (the diffusers example's settings).
LTX_REFINE_STRENGTH = 0.4
LTX_REFINE_STEPS = 10
#: The format of a kept-latents file (the ``format`` entry of its metadata).
LATENTS_FORMAT = "blender-ltx-draft-latents-1"


def draft_size(width: int, height: int, size_multiple: int = 32) -> tuple[int, int]:
    """The draft's width and height for a final of ``width`` x ``height``: half of each, which must stay on
    the model's ``size_multiple`` grid. Raises ValueError with the sentence to show the user."""
    step = size_multiple * DRAFT_DIVISOR
    if width % step or height % step or width <= 0 or height <= 0:
        up_w = max(step, -(-width // step) * step)
        up_h = max(step, -(-height // step) * step)
        raise ValueError(
            f"A draft is made at half the final size on a {size_multiple}-pixel grid, so the final width "
            f"and height must be multiples of {step}; {width}x{height} is not (use {up_w}x{up_h})."
        )
    return width // DRAFT_DIVISOR, height // DRAFT_DIVISOR


def upsampler_source(model_source: str, flag: str | None) -> tuple[str | None, str | None, str]:
    """Where the latent upsampler comes from: (path or hub id, subfolder, reason when none).

    ``flag`` (``--latent-upsampler DIR|ID``) wins; else the checkpoint folder's ``latent_upsampler/``;
    else a hub id's ``latent_upsampler`` subfolder (loaded from the local cache only when tried)."""
    if flag:
        path = Path(flag).expanduser()
        if path.is_dir():
            nested = not (path / "config.json").is_file() and (path / UPSAMPLER_FOLDER).is_dir()
            return str(path), (UPSAMPLER_FOLDER if nested else None), ""
        # a hub id: the upsampler repos are pipelines (vae + latent_upsampler), as is Lightricks/LTX-2
        return flag, UPSAMPLER_FOLDER, ""
    folder = Path(model_source).expanduser()
    if folder.is_dir():
        if (folder / UPSAMPLER_FOLDER / "config.json").is_file():
            return str(folder), UPSAMPLER_FOLDER, ""
        return (
            None,
            None,
            f"the checkpoint folder {folder} has no {UPSAMPLER_FOLDER}/ and no --latent-upsampler was "
            "given, so a draft cannot be finalized",
        )
    return model_source, UPSAMPLER_FOLDER, ""


def dfr_draft_frames(num_frames: int) -> int:
    """The frames of an LTX-2.5 draft for a final of ``num_frames``: the DFR recipe makes its first stage at
    half the frame rate and doubles it in the temporal refine round (2(n-1)+1 frames), so the draft covers
    the same seconds with half the frames, on the 8k+1 grid (at least 9: DFR's shortest canvas)."""
    return max(9, -(-(num_frames - 1) // 16) * 8 + 1)


def stage(name: str, width: int, height: int, num_frames: int, **extra: Any) -> dict[str, Any]:
    """One entry of ``applied.stages``: what ran and at what size."""
    return {"stage": name, "width": width, "height": height, "num_frames": num_frames, **extra}


# -- kept latents ----------------------------------------------------------------------------------


def save_latents(
    path: str | os.PathLike,
    latents: dict[str, np.ndarray],
    meta: dict[str, Any],
    images: list[bytes] = (),
) -> int:
    """Write a draft's latents (``video`` and, where made, ``audio``; LTX-2.5 also its ``keyframes``
    slots), its keyframe images (PNG bytes, the
    finalize conditions on them again) and its metadata to ``path`` atomically (a crash never leaves half
    a file under the name); returns the file's size."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in latents.items() if v is not None}
    blobs = {f"image_{i}": np.frombuffer(raw, dtype=np.uint8) for i, raw in enumerate(images)}
    header = json.dumps({"format": LATENTS_FORMAT, "images": len(blobs), **meta})
    try:
        with open(tmp, "wb") as f:
            np.savez(f, __meta__=np.frombuffer(header.encode(), dtype=np.uint8), **arrays, **blobs)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.stat().st_size


def load_latents(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any], list[bytes]]:
    """(latents, metadata, keyframe PNGs) of a file save_latents wrote. Raises ValueError when it is
    not one."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            meta = json.loads(bytes(data["__meta__"]).decode())
            arrays = {k: np.array(data[k]) for k in ("video", "audio", "keyframes") if k in data.files}
            images = [bytes(data[f"image_{i}"]) for i in range(int(meta.get("images", 0)))]
    except (OSError, KeyError, ValueError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable draft latents file ({exc})") from None
    if meta.get("format") != LATENTS_FORMAT or "video" not in arrays:
        raise ValueError(f"{path} is not a draft latents file of this server")
    return arrays, meta, images
