"""LTX-2 (19B, 2.3, 2.5) through diffusers' ``LTX2InContextPipeline``: one loaded pipeline serves text-only
jobs, keyframes and multi-frame video conditions (``conditions``) and IC-LoRA reference videos
(``reference_conditions``); it also makes the audio. Camera LoRAs and IC-LoRAs are loaded once as named
adapters and switched per job.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from blender_ltx.core.protocol import ProtocolError

from . import loras, profiles, recipes
from .base import CancelCheck, Clip, GenerateRequest, ProgressCallback, WeightsNotFound
from .ltx import resolve_device, resolve_dtype
from .pipeline import PipelineBackend, checkpoint_source, load_reason

log = logging.getLogger("server.ltx2")

REFERENCE_MODEL = "diffusers/LTX-2.3-Distilled-Diffusers"
TINY = "tiny-ltx2"


def weights_help(model: str, reason: str) -> str:
    return (
        f"Could not load the LTX-2 model {model!r} ({reason}). Download the weights where there is internet, "
        f"e.g. `huggingface-cli download {REFERENCE_MODEL} --local-dir DIR`, and start the server with "
        "--model DIR, or use --model tiny-ltx2 for the built-in test model."
    )


def checkpoint_family(name_hint: str, tiny: bool) -> str | None:
    """The family LoRAs are matched against: the tiny model's own, else what the name says."""
    if tiny:
        from .tiny_ltx2 import FAMILY

        return FAMILY
    return loras.family_from_name(name_hint)


def latent_index(frame: int) -> int:
    """The latent index diffusers' LTX-2 pipelines take for a condition whose first frame is pixel ``frame``
    (0, or 8k+1: pixel 8(k-1)+1 is latent k's first frame, see condition_frames)."""
    return 0 if frame <= 0 else (frame - 1) // 8 + 1


def condition_frames(num_frames: int) -> list[int]:
    """The pixel frames an LTX-2 condition can start at: 0, then the first frame of each later latent
    (1, 9, 17, ...): diffusers reads ``LTX2VideoCondition.index`` as a latent index and skips the
    ones past the last latent."""
    latents = (num_frames - 1) // 8 + 1
    return [0] + [(k - 1) * 8 + 1 for k in range(1, latents)]


def guidance_kwargs(guidance_scale: float, extra: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's guidance arguments: the profile's ``extra``, every kind of guidance off when
    ``guidance_scale`` is 1.0 or less (one pass a step), the rest the dev checkpoint's
    (``profiles.LTX2_DEV``, the one place those numbers live)."""
    out = dict(extra)
    if guidance_scale <= 1.0:
        out.update(profiles.LTX2_NO_GUIDANCE)
    for key, value in profiles.LTX2_DEV.items():
        out.setdefault(key, value)
    if out["stg_scale"] == 0.0:
        # The default block (28) does not exist in small models; with STG off no block is used.
        out["spatio_temporal_guidance_blocks"] = [0]
    return out


class LTX2Backend(PipelineBackend):
    name = "ltx2"
    family = "ltx2"
    #: The built-in tiny model's --model name, and the sentence for weights that do not load.
    tiny_model = TINY
    weights_help = staticmethod(weights_help)

    def __init__(
        self,
        model: str,
        *,
        sequential_offload: bool = False,
        text_encoder_offload: bool = False,
        camera_loras: str | None = None,
        ic_loras: list[str] | None = None,
        **common: Any,
    ):
        """LTX-2's own settings; ``common`` are every family's (``PipelineBackend.__init__``)."""
        super().__init__(model, **common)
        self.sequential_offload = sequential_offload
        self.text_encoder_offload = text_encoder_offload
        self.camera_loras_arg = camera_loras
        self.ic_loras_arg = list(ic_loras or [])
        self.checkpoint_family: str | None = None
        self.camera: dict[str, loras.LoraSpec] = {}
        self.ic: dict[str, loras.LoraSpec] = {}  # control kind -> its IC-LoRA

    # -- interface -------------------------------------------------------------------------------
    def capabilities(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "pipeline": "LTX2InContextPipeline",
            "keyframes": True,
            "motion_prompt": True,
            "audio": True,
            # A keyframe starts a latent: frame 0 or 8k+1 (applied.conditions says where each went).
            "condition_index": "latent_start",
            "frame_multiple": 8,
            "size_multiple": 32,
            "min_size": self.min_size,  # the smallest width/height its VAE decodes (vae_min_side)
            "vae_tiling": self.vae_tiling,
            "cpu_offload": self.cpu_offload,
            "sequential_offload": self.sequential_offload,
            "text_encoder_offload": self.text_encoder_offload,
            "text_embedding_cache": True,
            "video_conditions": True,
            "latent_upsampler": self.upsampler_source or None,
        }

    def capability_list(self) -> list[str]:
        out = ["motion_prompt", "keyframes", "audio"]
        if self.upsampler is not None:
            out += ["draft", "finalize"]
        if any(s.usable for s in self.camera.values()):
            out.append("camera_lora")
        out += [f"control_{kind}" for kind in loras.IC_KINDS if kind in self.ic and self.ic[kind].usable]
        return out

    def condition_index(self, index: int, num_frames: int) -> int:
        """The nearest frame an LTX-2 keyframe can be placed at (condition_frames); ties go earlier."""
        return min(condition_frames(num_frames), key=lambda f: (abs(f - index), f))

    def loras(self) -> list[dict[str, Any]]:
        specs = list(self.camera.values()) + list({id(s): s for s in self.ic.values()}.values())
        return [s.to_dict() for s in specs]

    def load(self) -> None:
        t0 = time.perf_counter()
        source, tiny = self._resolve_source()
        camera, ic = self._lora_specs(source, tiny)  # bad flags fail before the weights load
        import torch  # noqa: F401
        from diffusers import LTX2InContextPipeline

        self.device = resolve_device(self.requested_device)
        self.dtype = resolve_dtype(self.requested_dtype, self.device)
        pipe = self._from_pretrained(LTX2InContextPipeline, source, weights_help)
        self.pipe = pipe
        self.model_path = str(source)
        self.checkpoint_family = checkpoint_family(f"{self.model} {source}", tiny)
        self._load_loras(camera, ic)  # before offload hooks wrap the transformer
        if self.vae_tiling:
            pipe.vae.enable_tiling()
        if not self._place_by_memory_mode(pipe, str(source)):
            self._place(pipe)
        self._load_upsampler(source)
        self._profile = profiles.ltx2_profile(
            f"{self.model} {source}", tiny=tiny, kind=self.requested_profile
        )
        self.load_s = time.perf_counter() - t0

    def choose_camera_lora(self, requested: str, scale: float, move: str | None) -> dict[str, Any] | None:
        """The camera LoRA of a job: ``requested`` is "auto", "none" or a loaded name; ``move`` the shot's
        dominant motion kind. The record (name None when none applies) says why; raises ProtocolError for
        a name this server cannot apply."""
        if requested == "none":
            return None
        if requested != "auto":
            spec = self.camera.get(requested)
            if spec is None:
                loaded = ", ".join(self.camera) or "none are loaded (start the server with --camera-loras)"
                raise ProtocolError(
                    "camera_lora",
                    f"{requested!r} is not a loaded camera LoRA; use auto, none or one of: {loaded}",
                )
            if not spec.usable:
                raise ProtocolError("camera_lora", spec.reason)
            return {"name": requested, "scale": scale, "reason": "asked for by the request"}
        if not self.camera:
            return None
        name = loras.MOVE_TO_CAMERA_LORA.get(move or "")
        if name is None:
            why = (
                f"the shot's dominant move ({move}) has no camera LoRA"
                if move
                else "the shot has no trajectory"
            )
            return {"name": None, "scale": 0.0, "reason": why}
        spec = self.camera.get(name)
        if spec is None:
            return {
                "name": None,
                "scale": 0.0,
                "reason": f"{name} matches the shot's {move} but is not loaded",
            }
        if not spec.usable:
            return {"name": None, "scale": 0.0, "reason": spec.reason}
        return {"name": name, "scale": scale, "reason": f"the shot's dominant move is {move}"}

    def generate(
        self, request: GenerateRequest, progress_cb: ProgressCallback, cancel_check: CancelCheck
    ) -> Clip:
        if request.stage == "draft":
            return self._draft(request, progress_cb, cancel_check)
        return self._clip(*self._pass(request, progress_cb, cancel_check), request)

    def recipe(self) -> dict[str, Any]:
        """Half size, then the latents upsampled x2 and refined on the distilled schedule's tail."""
        multiple = 32 * recipes.DRAFT_DIVISOR
        draft = {
            "divisor": recipes.DRAFT_DIVISOR,
            "size_multiple": multiple,
            "rule": f"half the final width and height; the final must be a multiple of {multiple}",
        }
        if self.upsampler is None:
            return {"draft": None, "finalize": None, "why_not": self.upsampler_why_not}
        finalize = {
            "stages": ["latent_upsample_x2", "refine"],
            "latent_upsampler": self.upsampler_source,
            "refine_steps": len(recipes.LTX2_REFINE_SIGMAS),
            "refine_sigmas": list(recipes.LTX2_REFINE_SIGMAS),
            "refine_guidance": "off (distilled tail of the schedule)",
        }
        return {"draft": draft, "finalize": finalize, "why_not": None}

    def finalize(
        self,
        request: GenerateRequest,
        latents: dict[str, Any],
        progress_cb: ProgressCallback,
        cancel_check: CancelCheck,
    ) -> Clip:
        """The draft's latents upsampled x2, then refined at the final size with the draft's seed and
        conditions (audio latents refined alongside)."""
        import torch

        video = self._draft_video_latents(request, latents, cancel_check)
        dw, dh = self.draft_size(request.width, request.height)
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        with torch.no_grad():
            upsampled = self.upsampler(
                latents=torch.from_numpy(video).to(self.device),
                width=dw,
                height=dh,
                num_frames=request.num_frames,
                output_type="latent",
                return_dict=False,
            )[0]
        audio = latents.get("audio")
        audio_latents = torch.from_numpy(np.asarray(audio, dtype=np.float32)) if audio is not None else None
        sigmas = list(recipes.LTX2_REFINE_SIGMAS)
        refine = replace(
            request,
            stage="single",
            num_inference_steps=len(sigmas),
            guidance_scale=1.0,
            sampling={"sigmas": sigmas, **profiles.LTX2_NO_GUIDANCE},
        )
        progress_cb(0.05)
        result = self._pass(
            refine,
            lambda p: progress_cb(0.05 + 0.95 * p),
            cancel_check,
            latents=upsampled.to(self.device),
            audio_latents=audio_latents.to(self.device) if audio_latents is not None else None,
        )
        clip = self._clip(*result, request)
        clip.applied["stages"] = self._finalize_stages(request, steps=len(sigmas), sigmas=sigmas)
        return clip

    # -- the passes ------------------------------------------------------------------------------
    def _pass(
        self,
        request: GenerateRequest,
        progress_cb: ProgressCallback,
        cancel_check: CancelCheck,
        output_type: str = "np",
        **latents: Any,
    ) -> tuple[Any, Any, list[dict[str, Any]]]:
        """One pipeline call on the request: (video, audio, applied references); ``latents``: the
        ``latents``/``audio_latents`` a refine starts from."""
        import torch
        from diffusers.pipelines.ltx2 import LTX2ReferenceCondition, LTX2VideoCondition
        from PIL import Image

        extra = guidance_kwargs(request.guidance_scale, self._sampling_kwargs(request))
        cfg = request.guidance_scale > 1.0 or extra["audio_guidance_scale"] > 1.0
        embeds = self._prompt_embeds(request.prompt, request.negative_prompt, cfg)

        conditions = [
            LTX2VideoCondition(frames=k.image, index=latent_index(k.frame_index), strength=k.strength)
            for k in request.keyframes
        ]
        conditions += [
            LTX2VideoCondition(
                frames=[Image.fromarray(f) for f in vc.frames],
                index=latent_index(vc.frame_index),
                strength=vc.strength,
            )
            for vc in request.video_conditions
        ]
        references, downscale, applied_refs = self._references(request)
        refs = [LTX2ReferenceCondition(frames=frames, strength=1.0) for frames in references]
        self._activate_adapters(request, applied_refs)

        if self.device == "cuda" and not latents:
            torch.cuda.reset_peak_memory_stats()
        video, audio = self._call_pipeline(
            request,
            progress_cb,
            cancel_check,
            output_type=output_type,
            **embeds,
            conditions=conditions or None,
            reference_conditions=refs or None,
            reference_downscale_factor=downscale,
            **extra,
            **{k: v for k, v in latents.items() if v is not None},
            return_dict=False,
        )
        return video, audio, applied_refs

    def _clip(self, video, audio, applied_refs: list[dict[str, Any]], request: GenerateRequest) -> Clip:
        """The Clip of a decoded pass: video float (1, F, H, W, 3) in [0, 1], audio (1, channels, samples)."""
        import torch

        frames = (np.asarray(video[0]) * 255.0).round().clip(0, 255).astype(np.uint8)
        clip = Clip(frames=frames, applied={"references": applied_refs} if applied_refs else {})
        if self.device == "cuda":
            clip.peak_gpu_mb = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        if request.audio and audio is not None:
            clip.audio = audio[0].float().cpu().numpy().astype(np.float32)
            clip.audio_rate = int(self.pipe.vocoder.config.output_sampling_rate)
        return clip

    def _draft(self, request: GenerateRequest, progress_cb: ProgressCallback, cancel_check: CancelCheck):
        """The first stage at the draft size: its latents kept, decoded here (the pipeline's own decode
        would not hand them back)."""
        import torch

        small = self._draft_request(request)
        video_latents, audio_latents, refs = self._pass(
            small, lambda p: progress_cb(0.95 * p), cancel_check, output_type="latent"
        )
        with torch.no_grad():
            video, audio = self._decode(video_latents, audio_latents)
        clip = self._clip(video, audio, refs, small)
        clip.latents = {"video": video_latents.float().cpu().numpy()}
        if audio_latents is not None:
            clip.latents["audio"] = audio_latents.float().cpu().numpy()
        clip.applied["stages"] = [self._draft_stage(small)]
        return clip

    def _decode(self, video_latents, audio_latents):
        """What the pipeline's decode does with its default decode settings (decode timestep 0, no decode
        noise): raw latents -> video frames in [0, 1] and the vocoder's waveform."""
        import torch

        pipe = self.pipe
        vae = pipe.vae
        timestep = None
        if vae.config.timestep_conditioning:
            timestep = torch.zeros(video_latents.shape[0], device=video_latents.device, dtype=vae.dtype)
        video = vae.decode(video_latents.to(vae.dtype), timestep, return_dict=False)[0]
        video = pipe.video_processor.postprocess_video(video, output_type="np")
        audio = None
        if audio_latents is not None:
            mel = pipe.audio_vae.decode(audio_latents.to(pipe.audio_vae.dtype), return_dict=False)[0]
            audio = pipe.vocoder(mel)
        return video, audio

    # -- helpers ---------------------------------------------------------------------------------
    def _resolve_source(self) -> tuple[str, bool]:
        """(the checkpoint folder or id, whether it is a tiny model); the built-in tiny model is written
        into the data folder on first use."""
        from .tiny import is_tiny_model

        if self.model == self.tiny_model:
            target = self.data_dir / f"{self.tiny_model}-model"
            if not (target / "model_index.json").is_file():
                log.info("building the tiny %s model into %s", self.family, target)
            return str(self._make_tiny(target)), True
        source = checkpoint_source(self.model, self.weights_help, self.components)
        tiny = Path(source).is_dir() and is_tiny_model(source)
        if tiny:
            self._complete_tiny(Path(source))
        return source, tiny

    def _make_tiny(self, target: Path) -> Path:
        from .tiny_ltx2 import make_tiny_ltx2_model

        return make_tiny_ltx2_model(target)

    def _complete_tiny(self, folder: Path) -> None:
        """Tiny folders written before the recipe lacked the upsampler."""
        from .tiny_ltx2 import ensure_tiny_latent_upsampler

        ensure_tiny_latent_upsampler(folder)

    def _load_upsampler(self, source: str) -> None:
        """LTX-2's x2 latent upsampler (``PipelineBackend._load_latent_upsampler``)."""
        from diffusers import LTX2LatentUpsamplePipeline
        from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

        self._load_latent_upsampler(
            source,
            LTX2LatentUpsamplerModel,
            LTX2LatentUpsamplePipeline,
            example="the latent_upsampler/ of Lightricks/LTX-2",
        )

    def _lora_specs(self, source: str, tiny: bool) -> tuple[list[loras.LoraSpec], list[loras.LoraSpec]]:
        try:
            camera = loras.camera_specs(self.camera_loras_arg) if self.camera_loras_arg else []
            ic = loras.ic_specs(self.ic_loras_arg)
        except ValueError as exc:
            raise WeightsNotFound(str(exc)) from None
        if tiny:  # the tiny model's own random LoRAs, unless the flags name others
            tiny_camera, tiny_ic = loras.tiny_specs(Path(source))
            camera = camera or tiny_camera
            ic = ic or tiny_ic
        return camera, ic

    def _load_loras(self, camera: list[loras.LoraSpec], ic: list[loras.LoraSpec]) -> None:
        for spec in camera + ic:
            if spec.family and self.checkpoint_family and spec.family != self.checkpoint_family:
                spec.usable = False
                spec.reason = (
                    f"the {spec.role} LoRA {spec.kinds[0] if spec.role == 'camera' else spec.source} was "
                    f"trained for {spec.family} and this server runs {self.checkpoint_family}, so it is not "
                    "applied"
                )
                log.warning("%s", spec.reason)
            else:
                try:
                    self.pipe.load_lora_weights(spec.source, adapter_name=spec.adapter)
                except (OSError, ValueError, RuntimeError) as exc:
                    raise WeightsNotFound(
                        f"Could not load the LoRA {spec.source!r} ({load_reason(exc)}); check the path or "
                        "id and that it was made for this checkpoint."
                    ) from None
            if spec.role == "camera":
                self.camera[spec.adapter] = spec
            else:
                for kind in spec.kinds:
                    self.ic[kind] = spec
        if any(s.usable for s in camera + ic):
            self.pipe.disable_lora()  # nothing applies until a job asks for it

    def _legacy_offload(self) -> list[str]:
        flags = (
            ("--sequential-offload", self.sequential_offload),
            ("--text-encoder-offload", self.text_encoder_offload),
        )
        return super()._legacy_offload() + [f for f, on in flags if on]

    def _text_encoder_on_cpu(self) -> bool:
        legacy = self.text_encoder_offload and not (self.cpu_offload or self.sequential_offload)
        return super()._text_encoder_on_cpu() or (legacy and self.requested_memory_mode is None)

    def _place(self, pipe) -> None:
        cuda = self.device == "cuda"
        if (self.cpu_offload or self.sequential_offload) and not cuda:
            log.warning("--cpu-offload/--sequential-offload only apply to --device cuda; ignored")
        if cuda and self.sequential_offload:
            pipe.enable_sequential_cpu_offload()
        elif cuda and self.cpu_offload:
            pipe.enable_model_cpu_offload()
        elif self.text_encoder_offload:
            # The text encoder (Gemma 3, the largest part after the transformer) stays on the CPU;
            # only its embeddings move to the device (see _encode).
            for name, component in pipe.components.items():
                if name != "text_encoder" and hasattr(component, "to"):
                    component.to(self.device)
        else:
            pipe.to(self.device)

    def _references(self, request: GenerateRequest) -> tuple[list[list[Any]], int, list[dict[str, Any]]]:
        """Each reference video as PIL frames at its IC-LoRA's reference size, the downscale factor, and
        the record of it for ``applied``."""
        from PIL import Image

        frames_out, records, factors = [], [], set()
        for i, ref in enumerate(request.references):
            spec = self.ic.get(ref.kind)
            if spec is None or not spec.usable:
                why = spec.reason if spec else f"no IC-LoRA for {ref.kind} is loaded (start with --ic-lora)"
                raise ValueError(f"references[{i}] ({ref.kind}) cannot be applied: {why}.")
            factors.add(spec.downscale)
            w, h = request.width // spec.downscale, request.height // spec.downscale
            n = min(len(ref.frames), request.num_frames)
            frames_out.append([Image.fromarray(f).resize((w, h), Image.BICUBIC) for f in ref.frames[:n]])
            records.append(
                {
                    "kind": ref.kind,
                    "frames": n,
                    "width": w,
                    "height": h,
                    "strength": ref.strength,
                    "lora": spec.source,
                    "downscale": spec.downscale,
                }
            )
        if len(factors) > 1:
            raise ValueError(
                "references use IC-LoRAs with different reference sizes; send one kind at a time."
            )
        return frames_out, (factors.pop() if factors else 1), records

    def _activate_adapters(self, request: GenerateRequest, refs: list[dict[str, Any]]) -> None:
        """Exactly the adapters this job asks for; every other adapter is off (no leak between jobs)."""
        if not any(s.usable for s in [*self.camera.values(), *self.ic.values()]):
            return
        names, weights = [], []
        if request.camera_lora:
            names.append(request.camera_lora)
            weights.append(request.camera_lora_scale)
        for ref in refs:
            adapter = self.ic[ref["kind"]].adapter
            if adapter not in names:
                names.append(adapter)
                weights.append(ref["strength"])
        if names:
            self.pipe.enable_lora()
            self.pipe.set_adapters(names, weights)
        else:
            self.pipe.disable_lora()

    def _encode(self, prompt: str, negative: str, cfg: bool) -> tuple:
        offloaded = self._text_encoder_on_cpu()
        device = "cpu" if offloaded else self.pipe._execution_device
        out = self.pipe.encode_prompt(
            prompt=prompt,
            negative_prompt=negative,
            do_classifier_free_guidance=cfg,
            num_videos_per_prompt=1,
            max_sequence_length=self._max_sequence_length(),
            device=device,
        )
        if offloaded:
            out = tuple(t.to(self.device) if t is not None else None for t in out)
        return out

    def _max_sequence_length(self) -> int:
        """The pipeline's 1024, or for small test models the tokenizer's limit, as a multiple of the
        connectors' register count (the connectors require it)."""
        limit = min(1024, int(getattr(self.pipe.tokenizer, "model_max_length", 1024) or 1024))
        registers = self.pipe.connectors.config.video_connector_num_learnable_registers or 1
        return max(registers, limit // registers * registers)
