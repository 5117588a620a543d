"""Look jobs in the job queue: queued, run, cancelled, persisted and restarted like video jobs (store.py
owns the rows, runner.py the thread; this module plans a look job and runs its generation).

A look job's inputs (its layout, then its references, as PNG) are kept with the job like a video job's
keyframes. Its stills go into the content-addressed asset store: ``applied.stills`` lists each one's
seed and ``{"asset": sha256}``, so a client downloads it from ``GET /v1/assets/{sha256}`` and a video job
that starts from it (look ``frame``) names the same asset and uploads nothing.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from typing import Any, Callable

from blender_ltx.core import looks as vocab
from blender_ltx.core.protocol import API_PREFIX

from ..backends.base import Cancelled
from ..backends.look import LookImage, LookRequest, compose_prompt
from .asset_store import AssetStore


def _image_records(request: dict[str, Any], shas: list[str]) -> list[dict[str, Any]]:
    """Layout first, then the references: the order the model sees them in (its "image N")."""
    out, i = [], 0
    if request.get("layout") is not None:
        out.append({"index": 1, "role": "layout", "kind": request["layout"]["kind"], "sha256": shas[0]})
        i = 1
    for ref in request.get("references") or []:
        out.append(
            {"index": i + 1, "role": "reference", "kind": ref["kind"], "name": ref["name"], "sha256": shas[i]}
        )
        i += 1
    return out


def plan_look(request: dict[str, Any], images: list[bytes], look) -> dict[str, Any]:
    """The look job's ``applied`` when queued: its seeds, sampling and which image is what."""
    if request.get("seed") is None:
        request["seed"] = secrets.randbelow(2**31)
    defaults = look.defaults()
    for key in ("num_inference_steps", "guidance_scale"):
        if request.get(key) is None:
            request[key] = defaults[key]
    shas = [hashlib.sha256(raw).hexdigest() for raw in images]
    records = _image_records(request, shas)
    layout = request.get("layout")
    named = _look_request(request, None)
    return {
        "kind": vocab.JOB_KIND_LOOK,
        "prompt_used": compose_prompt(named),
        "motion_script": "",
        "negative_prompt": "",
        "conditions": [],  # a look job has no keyframes: its pictures are in "images"
        "layers": ["look"]
        + (["layout"] if layout else [])
        + (["references"] if records[1 if layout else 0 :] else []),
        "model": look.model,
        "pipeline": look.pipeline_class,
        "seeds": [request["seed"] + i for i in range(request["count"])],
        "count": request["count"],
        "width": request["width"],
        "height": request["height"],
        "num_inference_steps": request["num_inference_steps"],
        "guidance_scale": request["guidance_scale"],
        "images": records,
        "layout": next((r for r in records if r["role"] == "layout"), None),
        "references": [r for r in records if r["role"] == "reference"],
    }


def _look_request(request: dict[str, Any], inputs: list[Any] | None) -> LookRequest:
    """The look model's request for a look job's ``request``; ``inputs``: the job's stored PIL images,
    layout first, or None for a request that only names them (no pictures)."""
    layout = request.get("layout")
    refs = request.get("references") or []
    images = list(inputs) if inputs is not None else [None] * (bool(layout) + len(refs))
    return LookRequest(
        prompt=request["prompt"],
        width=request["width"],
        height=request["height"],
        seed=request["seed"],
        count=request["count"],
        num_inference_steps=request["num_inference_steps"],
        guidance_scale=request["guidance_scale"],
        layout=LookImage(images.pop(0), layout["kind"]) if layout else None,
        references=[LookImage(img, r["kind"], r["name"]) for img, r in zip(images, refs, strict=True)],
    )


def run_look(
    share,
    look,
    assets: AssetStore,
    inputs: list[Any],
    request: dict[str, Any],
    applied: dict[str, Any],
    progress: Callable[[float], None],
    stopping: Callable[[], bool],
    cancelled: Callable[[], bool],
) -> dict[str, Any]:
    """Make the stills (the look model on the device first), store each as an asset; the finished
    ``applied``. ``inputs``: the job's stored PIL images, layout first."""
    device = share.use("look") if share is not None else None
    gen = _look_request(request, inputs)
    made = look.generate(gen, progress, stopping)
    stills = []
    for i, (pixels, seed) in enumerate(zip(made.stills, made.seeds, strict=True)):
        if cancelled():  # asked after the last step: the answer said cancelled, so no stills
            raise Cancelled()
        sha = assets.keep(_png(pixels))
        stills.append(
            {
                "index": i,
                "seed": seed,
                "asset": sha,
                "url": f"{API_PREFIX}/assets/{sha}",
                "width": int(pixels.shape[1]),
                "height": int(pixels.shape[0]),
            }
        )
    return {
        **applied,
        "prompt_used": made.applied["prompt_used"],
        "stills": stills,
        "device": device,
        "generate_s": made.applied["generate_s"],
    }


def _png(pixels) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def look_record(request: dict[str, Any], keyframe_shas: list[str], guides: int) -> dict[str, Any]:
    """A video job's ``applied.look``, from what reached the model at run time: the picture conditions
    (the keyframe images, each by the SHA-256 of its PNG) and the control/guide count. Refuses to run a
    job whose pictures break its look (checked when queued too; a stored job is checked again)."""
    look = request.get("look") or "previs"
    pictures = [
        {"frame_index": c["frame_index"], "sha256": sha}
        for c, sha in zip(request["conditions"], keyframe_shas, strict=True)
    ]
    if look == "prompt" and pictures:
        raise ValueError(f"look 'prompt' but {len(pictures)} picture(s) would reach the video model")
    if look == "frame" and [p["frame_index"] for p in pictures] != [0]:
        raise ValueError("look 'frame' needs exactly one picture, at frame 0")
    return {
        "mode": look,
        "pictures_to_model": len(pictures),
        "pictures": pictures,
        "frame": pictures[0]["sha256"] if look == "frame" else None,
        "control_references": guides,
    }


def submit_look(
    store, runners, request: dict[str, Any], images: list[bytes], look, idempotency_key: str | None = None
) -> tuple[dict[str, Any], bool]:
    """Queue a checked look request (seed and sampling filled in, the plan recorded): (its status, True),
    or (the job holding ``idempotency_key``, False) with nothing stored."""
    applied = plan_look(request, images, look)
    status, created = store.create(request, images, applied, idempotency_key)
    if created:
        runners.notify()
    return status, created


def device_share(video, look, settings):
    """The DeviceShare of this server's video and look models (None without a look model)."""
    if look is None:
        return None
    from ..backends.device_share import DeviceShare

    return DeviceShare(video, look, device=video.info()["device"], cpu_offload=settings.cpu_offload)
