"""LTX-Video 0.9.x through diffusers' ``LTXConditionPipeline`` (real checkpoints and the tiny model)."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from . import profiles
from .base import CancelCheck, Clip, GenerateRequest, ProgressCallback, WeightsNotFound
from .pipeline import PipelineBackend, checkpoint_source

log = logging.getLogger("server.ltx")

REFERENCE_MODEL = "Lightricks/LTX-Video-0.9.7-distilled"
TINY = "tiny"


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


class LTXBackend(PipelineBackend):
    """LTX-Video 0.9 (``LTXConditionPipeline``); constructed with ``PipelineBackend``'s settings."""

    name = "ltx"

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
            "min_size": self.min_size,  # the smallest width/height its VAE decodes (vae_min_side)
            "vae_tiling": self.vae_tiling,
            "cpu_offload": self.cpu_offload,
            "text_embedding_cache": True,
        }

    def load(self) -> None:
        t0 = time.perf_counter()
        source = self._resolve_source()
        import torch  # noqa: F401  (heavy imports only once the arguments are known to be good)
        from diffusers import LTXConditionPipeline

        self.device = resolve_device(self.requested_device)
        self.dtype = resolve_dtype(self.requested_dtype, self.device)
        pipe = self._from_pretrained(LTXConditionPipeline, source, weights_help)
        if self.vae_tiling:
            pipe.vae.enable_tiling()
        if self._place_by_memory_mode(pipe, source):
            pass
        elif self.cpu_offload and self.device == "cuda":
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
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        embeds = self._prompt_embeds(request.prompt, request.negative_prompt, request.guidance_scale > 1.0)
        conditions = [
            LTXVideoCondition(image=k.image, frame_index=k.frame_index, strength=k.strength)
            for k in request.keyframes
        ] + [
            LTXVideoCondition(video=_pil_frames(v.frames), frame_index=v.frame_index, strength=v.strength)
            for v in request.video_conditions
        ]
        out = self._call_pipeline(
            request,
            progress_cb,
            cancel_check,
            conditions=conditions or None,
            **embeds,
            **self._sampling_kwargs(request),
        )
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
        return checkpoint_source(self.model, weights_help, self.components)

    def _encode(self, prompt: str, negative: str, cfg: bool) -> tuple:
        on_cpu = self._text_encoder_on_cpu()
        out = self.pipe.encode_prompt(
            prompt=prompt,
            negative_prompt=negative,
            do_classifier_free_guidance=cfg,
            num_videos_per_prompt=1,
            max_sequence_length=256,
            device="cpu" if on_cpu else self.pipe._execution_device,
        )
        return tuple(t.to(self.device) if t is not None else None for t in out) if on_cpu else out
