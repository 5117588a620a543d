"""The look model: candidate stills of a shot's first frame from its previs layout, its reference images
and the prompt, through diffusers' ``Flux2KleinPipeline`` (FLUX.2 klein; real checkpoints and tiny-look).

Why FLUX.2 klein and not Qwen-Image-Edit-Plus with the Qwen-Image ControlNet:

- One pipeline takes everything a look needs. ``Flux2KleinPipeline`` conditions one generation on a list
  of images, each its own block of tokens at its own position index, so the previs layout (depth or
  beauty through the shot's camera) and the character, prop and set references go in side by side and
  the prompt says which is which. In diffusers 0.42 the Qwen-Image ControlNet only exists for the
  text-to-image ``QwenImageControlNetPipeline`` (no reference images) and ``QwenImageEditPlusPipeline``
  has no control input: a look from Qwen would need two models and two passes, layout and references
  never seen together.
- It fits beside the video model. klein 4B (Apache-2.0, step-distilled: 4 steps, no guidance) is about
  8 GB of transformer plus a Qwen3-4B text encoder; Qwen-Image is a 20B transformer plus a 7B
  vision-language encoder (some 55 GB in bf16), more than a shared 24-48 GB card can swap in and out.
- Its text encoder is a plain causal LM with a chat template, so the tiny model builds a hub-free
  tokenizer in code (tiny_look.py); Qwen's edit encoder needs a vision processor as well.

The layout is always the first image and the references follow in the request's order; ``applied``
records that order, so a reader knows which image index meant what. Each candidate still has its own
seed (the job's seed + its index), so a still does not change when more candidates are asked for.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .base import Cancelled, CancelCheck, ProgressCallback, WeightsNotFound
from .pipeline import checkpoint_source, load_reason

log = logging.getLogger("server.look")

TINY_LOOK = "tiny-look"
REFERENCE_LOOK_MODEL = "black-forest-labs/FLUX.2-klein-4B"
LAYOUT_KINDS = ("depth", "beauty")
REFERENCE_KINDS = ("character", "prop", "set")
#: Steps and guidance per kind of checkpoint: klein's distilled models take 4 steps without guidance,
#: its base models 50 with guidance 4.0 (the pipeline's defaults); the tiny one runs like a distilled one.
DEFAULTS = {"distilled": (4, 1.0), "base": (50, 4.0), "tiny": (4, 1.0)}


def look_weights_help(model: str, reason: str) -> str:
    return (
        f"Could not load the look model {model!r} ({reason}). Download FLUX.2 klein where there is "
        f"internet, e.g. `huggingface-cli download {REFERENCE_LOOK_MODEL} --local-dir DIR`, and start the "
        "server with --look-model DIR, or use --look-model tiny-look for the built-in test model, or "
        "--look-model none to serve no looks."
    )


@dataclass
class LookImage:
    """A picture given to the look model: the layout (kind depth | beauty) or a reference (kind
    character | prop | set, with its name)."""

    image: Any  # PIL.Image.Image, RGB, already checked
    kind: str
    name: str = ""
    sha256: str = ""


@dataclass
class LookRequest:
    prompt: str
    width: int
    height: int
    seed: int
    count: int
    num_inference_steps: int
    guidance_scale: float
    layout: LookImage | None = None
    references: list[LookImage] = field(default_factory=list)


@dataclass
class Looks:
    """What the look model returns: ``count`` stills, uint8 (height, width, 3) each, and the record."""

    stills: list[np.ndarray]
    seeds: list[int]
    applied: dict[str, Any]


def compose_prompt(request: LookRequest) -> str:
    """The prompt the model reads: which input image is what, then the shot's words. klein follows
    references named by their index in the prompt ("image 1"), so the roles are spelled out."""
    lines, index = [], 1
    if request.layout is not None:
        what = "depth map" if request.layout.kind == "depth" else "untextured previs render"
        lines.append(
            f"Image {index} is the shot's layout ({what}): keep its camera, composition and the placement "
            "of every object, but not its surfaces."
        )
        index += 1
    for ref in request.references:
        label = f"{ref.name} ({ref.kind})" if ref.name else ref.kind
        lines.append(f"Image {index} shows {label}: keep its identity and look.")
        index += 1
    return " ".join([*lines, request.prompt]).strip()


class LookBackend:
    """Loads one FLUX.2 klein checkpoint and makes candidate stills, one job at a time."""

    name = "flux2-klein"
    pipeline_class = "Flux2KleinPipeline"

    def __init__(
        self, model: str, *, device: str = "auto", dtype: str | None = None, data_dir: str | Path = "."
    ):
        self.model = model
        self.requested_device = device
        self.requested_dtype = dtype
        self.data_dir = Path(data_dir)
        self.pipe = None
        self.device = ""
        self.dtype = None
        self.model_path = ""
        self.load_s = 0.0
        self.kind = "base"

    # -- loading ---------------------------------------------------------------------------------
    def probe(self) -> None:
        """Check the checkpoint is there and read its kind, without loading weights (the server starts
        with this; the weights load on the first look job). WeightsNotFound with the sentence if not."""
        if self.model == TINY_LOOK:
            self.kind = "tiny"
            return
        source = checkpoint_source(self.model, look_weights_help)
        index = Path(source) / "model_index.json"
        if not index.is_file():
            try:
                from huggingface_hub import try_to_load_from_cache

                cached = try_to_load_from_cache(source, "model_index.json")
                index = Path(cached) if isinstance(cached, str) else index
            except Exception:  # not a repo id either: load() will say what is wrong
                pass
        config = json.loads(index.read_text()) if index.is_file() else {}
        if config and config.get("_class_name") != self.pipeline_class:
            raise WeightsNotFound(
                look_weights_help(
                    self.model, f"it is a {config.get('_class_name')}, not a {self.pipeline_class}"
                )
            )
        self.kind = self._kind_of(Path(source), config)

    def _resolve_source(self) -> str:
        if self.model == TINY_LOOK:
            from .tiny_look import make_tiny_look_model

            return str(make_tiny_look_model(self.data_dir / "tiny-look-model"))
        return checkpoint_source(self.model, look_weights_help)

    def load(self) -> None:
        """Read the checkpoint onto the device (WeightsNotFound with one sentence when it cannot)."""
        t0 = time.perf_counter()
        source = self._resolve_source()
        from .ltx import resolve_device, resolve_dtype

        self.device = resolve_device(self.requested_device)
        self.dtype = resolve_dtype(self.requested_dtype, self.device)
        from diffusers import Flux2KleinPipeline

        try:
            with warnings.catch_warnings():  # diffusers 0.42 renamed torch_dtype; older ones lack dtype
                warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
                pipe = Flux2KleinPipeline.from_pretrained(source, torch_dtype=self.dtype)
        except (OSError, ValueError, TypeError) as exc:
            raise WeightsNotFound(look_weights_help(self.model, load_reason(exc))) from None
        pipe.set_progress_bar_config(disable=True)
        pipe.to(self.device)
        self.pipe = pipe
        self.model_path = source
        self.kind = self._kind_of(Path(source), dict(pipe.config))
        self.load_s = time.perf_counter() - t0

    def _kind_of(self, source: Path, config: dict[str, Any]) -> str:
        from .tiny import MARKER

        marker = source / MARKER
        if self.model == TINY_LOOK or (
            marker.is_file() and json.loads(marker.read_text()).get("family") == "look"
        ):
            return "tiny"
        if "is_distilled" in config:
            return "distilled" if config["is_distilled"] else "base"
        return "base" if "base" in self.model.lower() else "distilled"

    # -- facts -----------------------------------------------------------------------------------
    @property
    def size_multiple(self) -> int:
        """Stills are made on the packed latent grid: the VAE's factor times the 2x2 patch."""
        return int(self.pipe.vae_scale_factor * 2) if self.pipe is not None else 16

    def defaults(self) -> dict[str, Any]:
        steps, guidance = DEFAULTS[self.kind]
        return {"num_inference_steps": steps, "guidance_scale": guidance}

    def info(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_path": self.model_path,
            "backend": self.name,
            "pipeline": self.pipeline_class,
            "kind": self.kind,
            "device": self.device,
            "dtype": str(self.dtype).replace("torch.", ""),
            "load_s": round(self.load_s, 3),
            "loaded": self.pipe is not None,
            "size_multiple": self.size_multiple,
            "layout_kinds": list(LAYOUT_KINDS),
            "reference_kinds": list(REFERENCE_KINDS),
            "defaults": self.defaults(),
        }

    # -- generation ------------------------------------------------------------------------------
    def check(self, request: LookRequest) -> None:
        """The request's size against the model's grid (ValueError with the sentence)."""
        m = self.size_multiple
        if request.width % m or request.height % m:
            raise ValueError(
                f"width and height have to be multiples of {m} but are {request.width} and {request.height}"
            )

    def generate(
        self, request: LookRequest, progress_cb: ProgressCallback, cancel_check: CancelCheck
    ) -> Looks:
        """``request.count`` stills; seed ``request.seed + i`` makes still i. Raises Cancelled when
        cancel_check() says so (checked at every step)."""
        import torch

        self.check(request)
        images = ([request.layout] if request.layout is not None else []) + list(request.references)
        prompt = compose_prompt(request)
        steps = request.num_inference_steps
        seeds = [request.seed + i for i in range(request.count)]
        stills = []
        t0 = time.perf_counter()
        with torch.no_grad():
            embeds, _ = self.pipe.encode_prompt(prompt=prompt, device=self.pipe._execution_device)
        for k, seed in enumerate(seeds):

            def on_step_end(p, i, t, kw, k=k):
                progress_cb((k + (i + 1) / steps) / request.count)
                if cancel_check():
                    raise Cancelled()
                return {}

            if cancel_check():
                raise Cancelled()
            try:
                out = self.pipe(
                    image=[im.image for im in images] or None,
                    prompt_embeds=embeds,
                    width=request.width,
                    height=request.height,
                    num_inference_steps=steps,
                    guidance_scale=request.guidance_scale,
                    generator=torch.Generator("cpu").manual_seed(seed),
                    output_type="np",
                    callback_on_step_end=on_step_end,
                )
            except Cancelled:
                self.pipe.maybe_free_model_hooks()
                raise
            stills.append((np.asarray(out.images[0]) * 255.0).round().clip(0, 255).astype(np.uint8))
        applied = {
            "model": self.model,
            "pipeline": self.pipeline_class,
            "prompt_used": prompt,
            "seeds": seeds,
            "num_inference_steps": steps,
            "guidance_scale": request.guidance_scale,
            "width": request.width,
            "height": request.height,
            "images": [
                {"index": i + 1, "role": "layout" if im is request.layout else "reference", "kind": im.kind}
                | ({"name": im.name} if im.name else {})
                | ({"asset": im.sha256} if im.sha256 else {})
                for i, im in enumerate(images)
            ],
            "generate_s": round(time.perf_counter() - t0, 3),
        }
        return Looks(stills=stills, seeds=seeds, applied=applied)

    # -- sharing the device (device_share.py) ----------------------------------------------------
    def move(self, device: str) -> None:
        self.pipe.to(device)
