"""LTX-Video 0.9.x through diffusers' ``LTXConditionPipeline`` (real checkpoints and the tiny model)."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import numpy as np

from . import profiles, recipes
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


def _uint8(frames) -> np.ndarray:
    return (np.asarray(frames) * 255.0).round().clip(0, 255).astype(np.uint8)


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
            "latent_upsampler": self.upsampler_source or None,
        }

    def capability_list(self) -> list[str]:
        out = super().capability_list()
        if self.upsampler is not None:
            out += ["draft", "finalize"]
        return out

    def recipe(self) -> dict[str, Any]:
        """LTX-Video 0.9.7's: half size, the latents upsampled x2, a partial denoise at the final size;
        only where the checkpoint folder (or --latent-upsampler) has the upsampler."""
        if self.upsampler is None:
            return {"draft": None, "finalize": None, "why_not": self.upsampler_why_not}
        multiple = 32 * recipes.DRAFT_DIVISOR
        return {
            "draft": {
                "divisor": recipes.DRAFT_DIVISOR,
                "size_multiple": multiple,
                "rule": f"half the final width and height; the final must be a multiple of {multiple}",
            },
            "finalize": {
                "stages": ["latent_upsample_x2", "refine"],
                "latent_upsampler": self.upsampler_source,
                "refine_steps": recipes.LTX_REFINE_STEPS,
                "refine_denoise_strength": recipes.LTX_REFINE_STRENGTH,
            },
            "why_not": None,
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
        self._load_upsampler(source)
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
        if request.stage == "draft":
            return self._draft(request, progress_cb, cancel_check)
        out = self._pass(request, progress_cb, cancel_check)
        return Clip(frames=_uint8(out.frames[0]))

    def finalize(
        self,
        request: GenerateRequest,
        latents: dict[str, Any],
        progress_cb: ProgressCallback,
        cancel_check: CancelCheck,
    ) -> Clip:
        """The draft's latents upsampled x2 (AdaIN towards the draft's statistics), then denoised from
        part-way (strength 0.4 of 10 steps) at the final size with the draft's seed and conditions."""
        import torch

        video = self._draft_video_latents(request, latents, cancel_check)
        with torch.no_grad():
            upsampled = self.upsampler(
                latents=torch.from_numpy(video).to(self.device),
                width=request.width,
                height=request.height,
                adain_factor=1.0,
                output_type="latent",
                return_dict=False,
            )[0]
        steps = recipes.LTX_REFINE_STEPS
        refine = replace(request, stage="single", num_inference_steps=steps)
        progress_cb(0.05)
        out = self._pass(
            refine,
            lambda p: progress_cb(0.05 + 0.95 * p),
            cancel_check,
            latents=upsampled,
            denoise_strength=recipes.LTX_REFINE_STRENGTH,
        )
        clip = Clip(frames=_uint8(out.frames[0]))
        clip.applied["stages"] = self._finalize_stages(
            request, steps=steps, denoise_strength=recipes.LTX_REFINE_STRENGTH
        )
        return clip

    # -- the passes ------------------------------------------------------------------------------
    def _pass(
        self,
        request: GenerateRequest,
        progress_cb: ProgressCallback,
        cancel_check: CancelCheck,
        output_type: str = "np",
        **extra: Any,
    ):
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        embeds = self._prompt_embeds(request.prompt, request.negative_prompt, request.guidance_scale > 1.0)
        conditions = [
            LTXVideoCondition(image=k.image, frame_index=k.frame_index, strength=k.strength)
            for k in request.keyframes
        ] + [
            LTXVideoCondition(video=_pil_frames(v.frames), frame_index=v.frame_index, strength=v.strength)
            for v in request.video_conditions
        ]
        return self._call_pipeline(
            request,
            progress_cb,
            cancel_check,
            output_type=output_type,
            conditions=conditions or None,
            **embeds,
            **self._sampling_kwargs(request),
            **extra,
        )

    def _draft(self, request: GenerateRequest, progress_cb: ProgressCallback, cancel_check: CancelCheck):
        """The first stage at the draft size; its (normalized) latents kept and decoded here."""
        import torch

        small = self._draft_request(request)
        out = self._pass(small, lambda p: progress_cb(0.95 * p), cancel_check, output_type="latent")
        latents = out.frames
        with torch.no_grad():
            frames = self._decode(latents, small)
        clip = Clip(frames=_uint8(frames[0]), latents={"video": latents.float().cpu().numpy()})
        clip.applied["stages"] = [self._draft_stage(small)]
        return clip

    def _decode(self, latents, request: GenerateRequest):
        """The pipeline's decode: denormalize, and for a timestep-aware VAE the decode timestep and noise
        (the noise from a generator of the request's seed)."""
        import torch
        from diffusers.utils.torch_utils import randn_tensor

        pipe = self.pipe
        vae = pipe.vae
        latents = pipe._denormalize_latents(
            latents, vae.latents_mean, vae.latents_std, vae.config.scaling_factor
        )
        timestep = None
        if vae.config.timestep_conditioning:
            sampling = self._sampling_kwargs(request)
            t = float(sampling.get("decode_timestep", 0.0))
            scale = float(sampling.get("decode_noise_scale", t))
            generator = torch.Generator("cpu").manual_seed(request.seed)
            noise = randn_tensor(
                latents.shape, generator=generator, device=latents.device, dtype=latents.dtype
            )
            latents = (1 - scale) * latents + scale * noise
            timestep = torch.tensor([t], device=latents.device, dtype=latents.dtype)
        video = vae.decode(latents.to(vae.dtype), timestep, return_dict=False)[0]
        return pipe.video_processor.postprocess_video(video, output_type="np")

    # -- helpers ---------------------------------------------------------------------------------
    def _resolve_source(self) -> str:
        if self.model == TINY:
            from .tiny import make_tiny_model

            target = self.data_dir / "tiny-model"
            if not (target / "model_index.json").is_file():
                log.info("building the tiny model into %s", target)
            return str(make_tiny_model(target))
        return checkpoint_source(self.model, weights_help, self.components)

    def _load_upsampler(self, source: str) -> None:
        """LTX-Video's x2 latent upsampler (0.9.7+; ``PipelineBackend._load_latent_upsampler``)."""
        from diffusers import LTXLatentUpsamplePipeline
        from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel

        self._load_latent_upsampler(
            source,
            LTXLatentUpsamplerModel,
            LTXLatentUpsamplePipeline,
            example="Lightricks/ltxv-spatial-upscaler-0.9.7",
            missing_hint=" (LTX-Video 0.9.7+ ships one: Lightricks/ltxv-spatial-upscaler-0.9.7)",
        )

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
