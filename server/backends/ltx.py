"""LTX-Video 0.9.x through diffusers' ``LTXConditionPipeline`` (real checkpoints and the tiny model)."""

from __future__ import annotations

import logging
import time
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from . import profiles
from .base import Backend, Cancelled, CancelCheck, Clip, GenerateRequest, ProgressCallback, WeightsNotFound

log = logging.getLogger("server.ltx")

REFERENCE_MODEL = "Lightricks/LTX-Video-0.9.7-distilled"
TINY = "tiny"
#: Share of the progress bar the denoising steps get; VAE decode and mp4 encoding take the rest.
STEPS_SHARE = 0.9
_EMBED_CACHE_SIZE = 16


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise WeightsNotFound(
            "--device cuda was asked for but torch sees no CUDA GPU; use --device cpu or auto."
        )
    return device


def resolve_dtype(dtype: str | None, device: str):
    import torch

    if dtype is None:
        dtype = "bfloat16" if device == "cuda" else "float32"
    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[dtype]


def weights_help(model: str, reason: str) -> str:
    return (
        f"Could not load the model {model!r} ({reason}). Either download the weights where there is "
        f"internet, e.g. `huggingface-cli download {REFERENCE_MODEL} --local-dir DIR`, and start the "
        "server with --model DIR, or run with the hub reachable (HF_HUB_OFFLINE unset) to fetch "
        "a model id, or use --model tiny for the built-in test model."
    )


def _pil_frames(frames: np.ndarray) -> list:
    from PIL import Image

    return [Image.fromarray(np.ascontiguousarray(f)) for f in frames]


def _load_reason(exc: BaseException) -> str:
    text = str(exc).strip()
    lowered = text.lower()
    if any(w in lowered for w in ("not fully cached", "offline", "connect", "cached snapshot")):
        return "it is not in the local Hugging Face cache and the hub cannot be reached"
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= 200 else first[:197] + "..."


class LTXBackend(Backend):
    name = "ltx"

    def __init__(
        self,
        model: str,
        *,
        device: str = "auto",
        dtype: str | None = None,
        data_dir: str | Path = ".",
        vae_tiling: bool = False,
        cpu_offload: bool = False,
        profile: str = "auto",
    ):
        if profile not in profiles.KINDS:
            raise ValueError(f"unknown profile {profile!r}; use one of {', '.join(profiles.KINDS)}")
        self.model = model
        self.requested_device = device
        self.requested_dtype = dtype
        self.data_dir = Path(data_dir)
        self.vae_tiling = vae_tiling
        self.cpu_offload = cpu_offload
        self.pipe = None
        self.device = ""
        self.dtype = None
        self.load_s = 0.0
        self.model_path = ""
        self.requested_profile = profile
        self._profile: profiles.Profile | None = None
        self._embeds: OrderedDict[tuple, tuple] = OrderedDict()

    # -- interface -------------------------------------------------------------------------------
    def capabilities(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "pipeline": "LTXConditionPipeline",
            "keyframes": True,
            "motion_prompt": True,
            # Multi-frame conditions (8k+1 frames): the chain of a long shot runs on this family.
            "video_conditions": True,
            # LTXConditionPipeline places an image condition at exactly its pixel frame index.
            "condition_index": "exact",
            "frame_multiple": 8,
            "size_multiple": 32,
            "vae_tiling": self.vae_tiling,
            "cpu_offload": self.cpu_offload,
            "text_embedding_cache": True,
        }

    def info(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_path": self.model_path,
            "device": self.device,
            "dtype": str(self.dtype).replace("torch.", ""),
            "load_s": round(self.load_s, 3),
        }

    def profile(self) -> profiles.Profile:
        if self._profile is None:
            raise RuntimeError("the model is not loaded yet")
        return self._profile

    def load(self) -> None:
        t0 = time.perf_counter()
        source = self._resolve_source()
        import torch  # noqa: F401  (heavy imports only once the arguments are known to be good)
        from diffusers import LTXConditionPipeline

        self.device = resolve_device(self.requested_device)
        self.dtype = resolve_dtype(self.requested_dtype, self.device)
        try:
            with warnings.catch_warnings():
                # diffusers 0.42 renamed torch_dtype to dtype; the old name works on every supported version
                warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
                pipe = LTXConditionPipeline.from_pretrained(source, torch_dtype=self.dtype)
        except (OSError, ValueError) as exc:
            raise WeightsNotFound(weights_help(self.model, _load_reason(exc))) from None
        pipe.set_progress_bar_config(disable=True)
        if self.vae_tiling:
            pipe.vae.enable_tiling()
        if self.cpu_offload and self.device == "cuda":
            pipe.enable_model_cpu_offload()
        else:
            if self.cpu_offload:
                log.warning("--cpu-offload only applies to --device cuda; ignored on %s", self.device)
            pipe.to(self.device)
        self.pipe = pipe
        self.model_path = str(source)
        from .tiny import is_tiny_model

        self._profile = profiles.ltx_profile(
            f"{self.model} {source}",
            pipe.vae.config,
            tiny=self.model == TINY or is_tiny_model(source),
            kind=self.requested_profile,
        )
        self.load_s = time.perf_counter() - t0

    def generate(
        self, request: GenerateRequest, progress_cb: ProgressCallback, cancel_check: CancelCheck
    ) -> Clip:
        import torch
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        pipe = self.pipe
        steps = request.num_inference_steps
        sampling = request.sampling
        if sampling is None:
            sampling = self.profile().pipeline_kwargs(steps)
        # Only the arguments a profile may set: a job record never reaches the pipeline unfiltered.
        extra = {k: v for k, v in sampling.items() if k in profiles.PIPELINE_KEYS}
        embeds = self._prompt_embeds(request.prompt, request.negative_prompt, request.guidance_scale > 1.0)

        def on_step_end(p, i, t, kwargs):
            progress_cb(STEPS_SHARE * (i + 1) / steps)
            if cancel_check():
                # Raising stops at once (no VAE decode of a clip nobody wants); _interrupt alone would
                # still skip the remaining steps and decode.
                p._interrupt = True
                raise Cancelled()
            return {}

        if cancel_check():
            raise Cancelled()
        conditions = [
            LTXVideoCondition(image=k.image, frame_index=k.frame_index, strength=k.strength)
            for k in request.keyframes
        ] + [
            LTXVideoCondition(video=_pil_frames(v.frames), frame_index=v.frame_index, strength=v.strength)
            for v in request.video_conditions
        ]
        try:
            out = pipe(
                conditions=conditions or None,
                prompt=None,
                **embeds,
                width=request.width,
                height=request.height,
                num_frames=request.num_frames,
                frame_rate=request.frame_rate,
                num_inference_steps=steps,
                guidance_scale=request.guidance_scale,
                **extra,
                generator=torch.Generator("cpu").manual_seed(request.seed),
                output_type="np",
                callback_on_step_end=on_step_end,
            )
        except Cancelled:
            pipe.maybe_free_model_hooks()
            raise
        frames = np.asarray(out.frames[0])
        return Clip(frames=(frames * 255.0).round().clip(0, 255).astype(np.uint8))

    # -- helpers ---------------------------------------------------------------------------------
    def _resolve_source(self) -> str:
        if self.model == TINY:
            from .tiny import make_tiny_model

            target = self.data_dir / "tiny-model"
            if not (target / "model_index.json").is_file():
                log.info("building the tiny model into %s", target)
            return str(make_tiny_model(target))
        path = Path(self.model).expanduser()
        if path.is_dir():
            if not (path / "model_index.json").is_file():
                raise WeightsNotFound(weights_help(self.model, f"{path} has no model_index.json"))
            return str(path)
        looks_like_path = self.model.startswith((".", "/", "~")) or self.model.count("/") > 1
        if looks_like_path:
            raise WeightsNotFound(weights_help(self.model, f"no directory {path}"))
        return self.model

    def _prompt_embeds(self, prompt: str, negative: str, cfg: bool) -> dict[str, Any]:
        """encode_prompt once per (prompt, negative): re-takes of a shot reuse the T5 output."""
        key = (prompt, negative, cfg)
        hit = self._embeds.get(key)
        if hit is None:
            import torch

            with torch.no_grad():
                hit = self._encode(prompt, negative, cfg)
            self._embeds[key] = hit
            while len(self._embeds) > _EMBED_CACHE_SIZE:
                self._embeds.popitem(last=False)
        else:
            self._embeds.move_to_end(key)
        pe, pm, ne, nm = hit
        return {
            "prompt_embeds": pe,
            "prompt_attention_mask": pm,
            "negative_prompt_embeds": ne,
            "negative_prompt_attention_mask": nm,
        }

    def _encode(self, prompt: str, negative: str, cfg: bool) -> tuple:
        return self.pipe.encode_prompt(
            prompt=prompt,
            negative_prompt=negative,
            do_classifier_free_guidance=cfg,
            num_videos_per_prompt=1,
            max_sequence_length=256,
            device=self.pipe._execution_device,
        )
