"""LTX-2.5 through diffusers' DFR pipelines: its own recipe by default, one pass only when asked.

The recipe (Lightricks' DFR order, diffusers ``pipelines/ltx2``): a distilled ``LTX2DFRPipeline`` pass at half
the width, height and frame rate that also generates keyframe *slots*; the video latents and slots upsampled
x2 in space; a short DFR refine at the final size seeded from them; one ``LTX2DFRTemporalRefinePipeline``
round that doubles the frame rate; the diffusion decoder (``LTX2VideoDiffusionDecodePipeline``) to pixels.
A *draft* is the first pass alone (decoded with the VAE, its latents and slots kept); *finalize* is the rest,
later, on the kept latents with the draft's seed, prompt and conditions. A job that is neither runs both
halves back to back; ``single_pass`` runs one DFR pass at the final size instead.

Its prompt enhancer (a Gemma-4 model) is loaded only with --prompt-enhancement and used only when a job asks
(``enhance_prompt``); the camera sentence compiled from the shot survives it verbatim. Its duration head is
loaded only with --duration-head, and then only advises: each job's ``applied.duration`` says how long the
head thinks the prompt's action runs next to the shot's length, which still comes from its markers.

Shared with LTX-2 (subclassed, ltx2.py): loading, placement, the spatial upsampler, the VAE decode, the
prompt-embedding cache, clips. Not here: camera LoRAs and IC-LoRAs (none are made for 2.5 yet).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from blender_ltx.core.protocol import ProtocolError

from . import profiles, recipes
from .base import Cancelled, CancelCheck, Clip, GenerateRequest, ProgressCallback, WeightsNotFound
from .ltx import resolve_device, resolve_dtype
from .ltx2 import LTX2Backend, latent_index
from .pipeline import load_reason

log = logging.getLogger("server.ltx25")

REFERENCE_MODEL = "Lightricks/LTX-2.5-Diffusers"
TINY = "tiny-ltx25"
#: The temporal refine round doubles the frame rate: the draft runs at the final's rate over this.
FRAME_RATE_DIVISOR = 2
#: The shortest final the recipe makes: its draft needs DFR's shortest canvas (9 frames).
MIN_RECIPE_FRAMES = 17
#: The tiny enhancer writes this many tokens (a real one: the pipeline's own default).
TINY_ENHANCER_TOKENS = 24
DURATION_HEAD_NOTE = "off (--duration-head loads it, to advise only): a shot's length comes from its markers"
DURATION_HEAD_ON = "advice only: each job's applied.duration; a shot's length comes from its markers"


def weights_help(model: str, reason: str) -> str:
    return (
        f"Could not load the LTX-2.5 model {model!r} ({reason}). Download the weights where there is "
        f"internet (accept the licence of {REFERENCE_MODEL} on its model page first), e.g. "
        f"`huggingface-cli download {REFERENCE_MODEL} --local-dir DIR`, and start the server with --model "
        "DIR, or use --model tiny-ltx25 for the built-in test model."
    )


def sigmas_for(schedule: list[float], steps: int) -> list[float]:
    """``steps`` sigmas of a distilled ``schedule`` (all of it when steps reach its length): evenly
    spaced picks that keep its first and last, so fewer steps still start from noise and end clean."""
    if steps >= len(schedule):
        return list(schedule)
    picks = np.linspace(0, len(schedule) - 1, max(steps, 2)).round().astype(int)
    return [schedule[i] for i in sorted(set(picks.tolist()))]


def keep_motion(enhanced: str, sentence: str) -> tuple[str, bool]:
    """The enhanced prompt with the camera ``sentence`` in it verbatim: appended when the enhancer
    dropped or reworded it. (prompt, whether it was appended)."""
    enhanced = enhanced.strip()
    if not sentence or sentence in enhanced:
        return enhanced, False
    return f"{enhanced} {sentence}".strip(), True


class LTX25Backend(LTX2Backend):
    name = "ltx2.5"
    family = "ltx2.5"
    tiny_model = TINY
    weights_help = staticmethod(weights_help)

    def __init__(
        self, model: str, *, prompt_enhancement: bool = False, duration_head: bool = False, **common: Any
    ):
        """``prompt_enhancement``: load the checkpoint's prompt enhancer (--prompt-enhancement);
        ``duration_head``: load its duration head, for advice (--duration-head)."""
        super().__init__(model, **common)
        self.prompt_enhancement = prompt_enhancement
        self.duration_head = duration_head
        self.temporal = None  # LTX2DFRTemporalRefinePipeline sharing the pipeline's parts
        self.temporal_why_not: str | None = "the model is not loaded yet"
        self.decoder = None  # LTX2VideoDiffusionDecodePipeline; None: the VAE decodes the final
        self.decoder_source = ""
        self.tiny = False
        self._enhanced: dict[tuple, str] = {}

    # -- interface -------------------------------------------------------------------------------
    def capabilities(self) -> dict[str, Any]:
        facts = super().capabilities()
        facts.update(
            pipeline="LTX2DFRPipeline",
            video_conditions=True,
            prompt_enhancement=self.pipe is not None and self.pipe.prompt_enhancer is not None,
            duration_head=DURATION_HEAD_ON if self._has_duration_head() else DURATION_HEAD_NOTE,
            single_pass="on request (single_pass: true); otherwise the recipe",
            temporal_latent_upsampler=self.temporal is not None,
            diffusion_decoder=self.decoder_source or None,
        )
        return facts

    def capability_list(self) -> list[str]:
        out = ["motion_prompt", "keyframes", "audio"]
        if self.recipe()["why_not"] is None:
            out += ["draft", "finalize"]
        if self.pipe is not None and self.pipe.prompt_enhancer is not None:
            out.append("prompt_enhancement")
        return out

    def check_request(self, request: dict[str, Any]) -> None:
        if request.get("control"):
            raise ProtocolError(
                "control", "LTX-2.5 has no IC-LoRA control on this server yet; leave control out"
            )
        if request.get("single_pass") and request.get("draft"):
            raise ProtocolError(
                "single_pass",
                "is true with draft: a draft is the first stage of the recipe, a single pass has none; "
                "send one of them",
            )
        if not request.get("single_pass") and request["num_frames"] < MIN_RECIPE_FRAMES:
            raise ProtocolError(
                "num_frames",
                f"is {request['num_frames']}, but LTX-2.5's recipe makes its draft at half the frame rate "
                f"and needs at least {MIN_RECIPE_FRAMES} frames; make the shot longer or send "
                '"single_pass": true',
            )

    def recipe(self) -> dict[str, Any]:
        """Half the width, height and frame rate; then upsample x2, refine, a temporal round, decode."""
        why = self.upsampler_why_not or self.temporal_why_not
        if why:
            return {"draft": None, "finalize": None, "why_not": why}
        multiple = 32 * recipes.DRAFT_DIVISOR
        draft = {
            "divisor": recipes.DRAFT_DIVISOR,
            "size_multiple": multiple,
            "frame_rate_divisor": FRAME_RATE_DIVISOR,
            "min_frames": MIN_RECIPE_FRAMES,
            "rule": f"half the final width, height and frame rate (the same seconds in about half the "
            f"frames); the final must be a multiple of {multiple} and at least {MIN_RECIPE_FRAMES} frames",
        }
        finalize = {
            "stages": ["latent_upsample_x2", "dfr_refine", "temporal_refine_x2", self._decode_stage()],
            "latent_upsampler": self.upsampler_source,
            "refine_sigmas": list(self._refine_sigmas()),
            "temporal_sigmas": list(self._temporal_sigmas()),
            "diffusion_decoder": self.decoder_source or None,
            "reference_ic_lora": "not applied (the Pixel-Spatial-Upscaler IC-LoRA is not loaded)",
        }
        return {"draft": draft, "finalize": finalize, "why_not": None}

    def load(self) -> None:
        t0 = time.perf_counter()
        source, self.tiny = self._resolve_source()
        import torch  # noqa: F401
        from diffusers import LTX2DFRPipeline

        self.device = resolve_device(self.requested_device)
        self.dtype = resolve_dtype(self.requested_dtype, self.device)
        skipped: dict[str, Any] = {} if self.duration_head else {"duration_head": None}
        if not self.prompt_enhancement:
            skipped.update(prompt_enhancer=None, processor=None)
        pipe = self._from_pretrained(LTX2DFRPipeline, source, self.weights_help, **skipped)
        if self.prompt_enhancement and (pipe.prompt_enhancer is None or pipe.processor is None):
            raise WeightsNotFound(
                f"--prompt-enhancement was given but {source} has no prompt_enhancer/ and processor/ "
                "(LTX-2.5's Gemma-4 enhancer); start without --prompt-enhancement or use a checkpoint "
                "that ships them."
            )
        if self.duration_head and pipe.duration_head is None:
            raise WeightsNotFound(
                f"--duration-head was given but {source} has no duration_head/ (LTX-2.5's); start without "
                "--duration-head or use a checkpoint that ships it."
            )
        self.pipe = pipe
        self.model_path = str(source)
        if self.vae_tiling:
            pipe.vae.enable_tiling()
        if not self._place_by_memory_mode(pipe, str(source)):
            self._place(pipe)
        self._load_upsampler(source)
        self._load_temporal(source)
        self._load_decoder(source)
        kind = self.requested_profile
        if kind == "auto":
            kind = "tiny" if self.tiny else "distilled"  # DFR is a distilled pass
        self._profile = profiles.ltx2_profile(f"{self.model} {source}", tiny=self.tiny, kind=kind)
        self.load_s = time.perf_counter() - t0

    def generate(
        self, request: GenerateRequest, progress_cb: ProgressCallback, cancel_check: CancelCheck
    ) -> Clip:
        if request.stage == "draft":
            return self._draft(request, progress_cb, cancel_check)
        if request.single_pass:
            return self._single(request, progress_cb, cancel_check)
        return self._whole_recipe(request, progress_cb, cancel_check)

    def finalize(
        self,
        request: GenerateRequest,
        latents: dict[str, Any],
        progress_cb: ProgressCallback,
        cancel_check: CancelCheck,
    ) -> Clip:
        """The rest of the recipe on a draft's kept latents and slots, with its seed, prompt and
        conditions, into ``request``'s size and frames."""
        import torch

        self._require_recipe("finalize drafts")
        dw, dh = self.draft_size(request.width, request.height)
        frames = recipes.dfr_draft_frames(request.num_frames)
        video = np.asarray(latents["video"], dtype=np.float32)
        expected = (self._canvas_latents(frames), dh // 32, dw // 32)
        if video.ndim != 5 or tuple(video.shape[2:]) != expected or latents.get("keyframes") is None:
            raise ValueError(
                f"The kept draft latents have shape {tuple(video.shape)}, not the {expected} (frames, rows, "
                f"columns) and keyframe slots of a {dw}x{dh} LTX-2.5 draft of {frames} frames; make the "
                "draft again."
            )
        if cancel_check():
            raise Cancelled()
        audio = latents.get("audio")
        prompt, record = self._prompt(request)
        first = {
            "video": torch.from_numpy(video),
            "keyframes": torch.from_numpy(np.asarray(latents["keyframes"], dtype=np.float32)),
            "audio": torch.from_numpy(np.asarray(audio, dtype=np.float32)) if audio is not None else None,
        }
        clip, stages = self._rest(request, prompt, first, progress_cb, cancel_check)
        clip.applied["stages"] = stages
        self._annotate(clip, request, prompt, record)
        return clip

    # -- the stages ------------------------------------------------------------------------------
    def _draft(self, request: GenerateRequest, progress_cb: ProgressCallback, cancel_check: CancelCheck):
        """The first pass at the draft size and rate, decoded with the VAE; its latents and slots kept."""
        import torch

        self._require_recipe("make drafts to finalize")
        prompt, record = self._prompt(request)
        out, small = self._first_pass(request, prompt, lambda p: progress_cb(0.9 * p), cancel_check)
        from diffusers.pipelines.ltx2.utils import trim_canvas

        with torch.no_grad():
            video, audio = self._decode(trim_canvas(out.frames, small.num_frames, 8), out.audio)
        clip = self._clip(video, self._trim_audio(audio, small), [], small)
        clip.frame_rate = small.frame_rate
        clip.latents = {
            "video": out.frames.float().cpu().numpy(),
            "keyframes": out.keyframes.float().cpu().numpy(),
            "audio": out.audio.float().cpu().numpy(),
        }
        clip.applied["stages"] = [self._first_stage(small)]
        self._annotate(clip, request, prompt, record)
        return clip

    def _whole_recipe(
        self, request: GenerateRequest, progress_cb: ProgressCallback, cancel_check: CancelCheck
    ):
        """Draft and finalize in one job (nothing kept in between)."""
        self._require_recipe("run its recipe (send single_pass: true for one pass)")
        prompt, record = self._prompt(request)
        out, small = self._first_pass(request, prompt, lambda p: progress_cb(0.3 * p), cancel_check)
        first = {"video": out.frames, "keyframes": out.keyframes, "audio": out.audio}
        clip, stages = self._rest(request, prompt, first, lambda p: progress_cb(0.3 + 0.7 * p), cancel_check)
        clip.applied["stages"] = [self._first_stage(small), *stages]
        self._annotate(clip, request, prompt, record)
        return clip

    def _single(self, request: GenerateRequest, progress_cb: ProgressCallback, cancel_check: CancelCheck):
        """One DFR pass at the final size and rate, decoded with the VAE."""
        import torch
        from diffusers.pipelines.ltx2.utils import trim_canvas

        prompt, record = self._prompt(request)
        sigmas = self._first_sigmas(request.num_inference_steps)
        out = self._dfr(
            request, prompt, request, sigmas, progress_cb, cancel_check, self._conditions(request, 1)
        )
        with torch.no_grad():
            video, audio = self._decode(trim_canvas(out.frames, request.num_frames, 8), out.audio)
        clip = self._clip(video, self._trim_audio(audio, request), [], request)
        w, h, n = request.width, request.height, request.num_frames
        clip.applied["stages"] = [
            recipes.stage("single", w, h, n, steps=len(sigmas), frame_rate=request.frame_rate),
            recipes.stage("vae_decode", w, h, n),
        ]
        self._annotate(clip, request, prompt, record)
        return clip

    def _first_pass(self, request, prompt, progress_cb, cancel_check):
        """The DFR pass at the draft size and rate: (its latent output, the draft's request)."""
        dw, dh = self.draft_size(request.width, request.height)
        small = replace(
            request,
            width=dw,
            height=dh,
            num_frames=recipes.dfr_draft_frames(request.num_frames),
            frame_rate=request.frame_rate / FRAME_RATE_DIVISOR,
            stage="single",
        )
        sigmas = self._first_sigmas(request.num_inference_steps)
        conditions = self._conditions(request, FRAME_RATE_DIVISOR)
        out = self._dfr(small, prompt, small, sigmas, progress_cb, cancel_check, conditions)
        return out, small

    def _rest(self, request, prompt, first, progress_cb, cancel_check) -> tuple[Clip, list[dict[str, Any]]]:
        """Upsample x2, refine at the final size, one temporal round, decode: (the clip, its stages)."""
        import torch
        from diffusers.pipelines.ltx2.dfr_layout import resolve_canvas
        from diffusers.pipelines.ltx2.utils import trim_canvas

        dw, dh = self.draft_size(request.width, request.height)
        frames = recipes.dfr_draft_frames(request.num_frames)
        canvas, _, positions = resolve_canvas(frames, 8)
        half = replace(request, num_frames=frames, frame_rate=request.frame_rate / FRAME_RATE_DIVISOR)
        conditions = self._conditions(request, FRAME_RATE_DIVISOR)
        device = self.device
        with torch.no_grad():
            video = self._upsample(first["video"].to(device), dw, dh)
            slots = self._upsample(first["keyframes"].to(device), dw, dh)
        audio = first["audio"].to(device) if first["audio"] is not None else None
        progress_cb(0.05)
        refine_sigmas = self._refine_sigmas()
        refined = self._dfr(
            half,
            prompt,
            request,
            refine_sigmas,
            lambda p: progress_cb(0.05 + 0.3 * p),
            cancel_check,
            conditions,
            latents=video,
            keyframes_latents=slots,
            keyframe_positions=list(positions),
            audio_latents=audio,
            freeze_audio=True,
        )
        temporal_sigmas = self._temporal_sigmas()
        embeds = self._prompt_embeds(prompt, "", False)
        doubled = self._call_with_steps(
            self.temporal,
            len(temporal_sigmas),
            lambda p: progress_cb(0.35 + 0.45 * min(p, 1.0)),  # the round counts steps over its tiles
            cancel_check,
            1.0,
            prompt_embeds=embeds["prompt_embeds"],
            prompt_attention_mask=embeds["prompt_attention_mask"],
            latents=refined.frames,
            keyframes_latents=refined.keyframes,
            keyframe_positions=refined.keyframe_positions,
            audio_latents=audio if audio is not None else refined.audio,
            conditions=conditions or None,
            height=request.height,
            width=request.width,
            num_frames=canvas,
            frame_rate=half.frame_rate,
            condition_num_frames=frames,
            round_index=1,
            sigmas=temporal_sigmas,
            generator=torch.Generator("cpu").manual_seed(request.seed),
            output_type="latent",
            max_sequence_length=self._max_sequence_length(),
        )
        final = trim_canvas(doubled.frames, request.num_frames, 8)
        if cancel_check():
            raise Cancelled()
        with torch.no_grad():
            video_np, audio_wave = self._final_decode(final, doubled.audio, request.seed)
        progress_cb(1.0)
        clip = self._clip(video_np, self._trim_audio(audio_wave, request), [], request)
        w, h, n = request.width, request.height, request.num_frames
        stages = [
            recipes.stage("latent_upsample_x2", w, h, frames, source=self.upsampler_source),
            recipes.stage("dfr_refine", w, h, frames, steps=len(refine_sigmas), sigmas=refine_sigmas),
            recipes.stage(
                "temporal_refine_x2", w, h, n, steps=len(temporal_sigmas), frame_rate=request.frame_rate
            ),
            recipes.stage(self._decode_stage(), w, h, n),
        ]
        return clip, stages

    # -- pipeline calls --------------------------------------------------------------------------
    def _dfr(self, grid, prompt, seeded, sigmas, progress_cb, cancel_check, conditions, **latents):
        """One LTX2DFRPipeline pass on ``grid``'s size, frames and rate with ``seeded``'s seed; latent
        output (the padded canvas, its slots and the raw audio latents)."""
        import torch

        embeds = self._prompt_embeds(prompt, "", False)
        return self._call_with_steps(
            self.pipe,
            len(sigmas),
            progress_cb,
            cancel_check,
            1.0,
            prompt_embeds=embeds["prompt_embeds"],
            prompt_attention_mask=embeds["prompt_attention_mask"],
            conditions=conditions or None,
            width=grid.width,
            height=grid.height,
            num_frames=grid.num_frames,
            frame_rate=grid.frame_rate,
            sigmas=sigmas,
            generator=torch.Generator("cpu").manual_seed(seeded.seed),
            output_type="latent",
            max_sequence_length=self._max_sequence_length(),
            **latents,
        )

    def _upsample(self, latents, width: int, height: int):
        """Raw latents (video or slots) x2 in space with the spatial latent upsampler."""
        frames = (latents.shape[2] - 1) * 8 + 1
        return self.upsampler(
            latents=latents,
            width=width,
            height=height,
            num_frames=frames,
            output_type="latent",
            return_dict=False,
        )[0]

    def _final_decode(self, latents, audio_latents, seed: int):
        """The final's pixels (the diffusion decoder, else the VAE) and the audio waveform."""
        import torch

        if self.decoder is None:
            return self._decode(latents, audio_latents)
        video = self.decoder(
            latents, generator=torch.Generator("cpu").manual_seed(seed), output_type="np", denormalize=False
        ).frames
        return video, self._waveform(audio_latents)

    def _waveform(self, audio_latents):
        """Raw audio latents -> the vocoder's waveform (None without audio)."""
        if audio_latents is None:
            return None
        pipe = self.pipe
        return pipe.vocoder(
            pipe.audio_vae.decode(audio_latents.to(pipe.audio_vae.dtype), return_dict=False)[0]
        )

    # -- the prompt ------------------------------------------------------------------------------
    def _prompt(self, request: GenerateRequest) -> tuple[str, dict[str, Any] | None]:
        """The prompt the passes encode and, when enhanced, the record of it for ``applied``."""
        if not request.enhance_prompt:
            return request.prompt, None
        if self.pipe.prompt_enhancer is None:
            raise ValueError(
                "enhance_prompt is true but this server has no prompt enhancer; start it with "
                "--prompt-enhancement or leave enhance_prompt out."
            )
        # The first keyframe guides an enhancer that can see (the real Gemma-4 has a vision tower).
        sees = getattr(self.pipe.prompt_enhancer.config, "vision_config", None) is not None
        image = request.keyframes[0].image if request.keyframes and sees else None
        key = (request.prompt, request.seed, hashlib.sha256(image.tobytes()).hexdigest() if image else None)
        enhanced = self._enhanced.get(key)
        if enhanced is None:
            enhanced = self._enhance(request.prompt, request.seed, image)
            self._enhanced = {key: enhanced}  # the finalize of the job just made asks again
        final, appended = keep_motion(enhanced, request.motion_sentence)
        record = {
            "enhancer_output": enhanced,
            "prompt": final,
            "motion_sentence_appended": appended,
            "image": image is not None,
        }
        return final, record

    def _annotate(self, clip: Clip, request: GenerateRequest, prompt: str, record: dict | None) -> None:
        """``applied``'s prompt records: the enhancer's (when it ran) and the duration head's advice (when
        loaded)."""
        if record:
            clip.applied["prompt_enhancement"] = record
        if self._has_duration_head():
            clip.applied["duration"] = self._duration_advice(prompt, request)

    def _has_duration_head(self) -> bool:
        return self.pipe is not None and getattr(self.pipe, "duration_head", None) is not None

    def _duration_advice(self, prompt: str, request: GenerateRequest) -> dict[str, Any]:
        """How long the duration head thinks ``prompt``'s action runs, next to the shot's own length (which
        it never changes): seconds each, and the shot's share of the predicted length."""
        import torch

        pipe = self.pipe
        embeds = self._prompt_embeds(prompt, "", False)  # the passes' own (cached) encoding
        pe, pm = embeds["prompt_embeds"], embeds["prompt_attention_mask"]
        with torch.no_grad():
            video, audio, _ = pipe.connectors(pe, pm, padding_side=pipe.tokenizer_padding_side)
            head = pipe.duration_head
            predicted = float(head(video[:1].to(head.device), audio[:1].to(head.device))[0])
        shot = request.num_frames / request.frame_rate
        return {
            "predicted_s": round(predicted, 2),
            "shot_s": round(shot, 2),
            "shot_share": round(shot / predicted, 2) if predicted > 0 else None,
            "used": False,
        }

    def _enhance(self, prompt: str, seed: int, image) -> str:
        import torch
        from diffusers.pipelines.ltx2.utils import (
            LTX2_5_I2V_DEFAULT_SYSTEM_PROMPT,
            LTX2_5_T2V_DEFAULT_SYSTEM_PROMPT,
        )

        system = LTX2_5_I2V_DEFAULT_SYSTEM_PROMPT if image is not None else LTX2_5_T2V_DEFAULT_SYSTEM_PROMPT
        with torch.no_grad():
            out = self.pipe.enhance_prompt(
                prompt=prompt,
                system_prompt=system,
                max_new_tokens=TINY_ENHANCER_TOKENS if self.tiny else None,
                seed=seed,
                device=self.pipe._execution_device,
                image=image,
            )
        return out[0]

    def _encode(self, prompt: str, negative: str, cfg: bool) -> tuple:
        """DFR is distilled: no negative prompt, no guidance."""
        offloaded = self._text_encoder_on_cpu()
        device = "cpu" if offloaded else self.pipe._execution_device
        pe, pm = self.pipe.encode_prompt(
            prompt=prompt,
            num_videos_per_prompt=1,
            max_sequence_length=self._max_sequence_length(),
            device=device,
        )
        if offloaded:
            pe, pm = pe.to(self.device), pm.to(self.device)
        return pe, pm, None, None

    # -- helpers ---------------------------------------------------------------------------------
    def _conditions(self, request: GenerateRequest, divisor: int) -> list[Any]:
        """The keyframes and video conditions on a pass at 1/``divisor`` of the request's frame rate
        (``index`` is a latent index on that pass's frames)."""
        from diffusers.pipelines.ltx2 import LTX2VideoCondition
        from PIL import Image

        out = [
            LTX2VideoCondition(
                frames=k.image, index=latent_index(k.frame_index // divisor), strength=k.strength
            )
            for k in request.keyframes
        ]
        out += [
            LTX2VideoCondition(
                frames=[Image.fromarray(f) for f in vc.frames[::divisor]],
                index=latent_index(vc.frame_index // divisor),
                strength=vc.strength,
            )
            for vc in request.video_conditions
        ]
        return out

    def _first_stage(self, small: GenerateRequest) -> dict[str, Any]:
        steps = len(self._first_sigmas(small.num_inference_steps))
        return recipes.stage(
            "draft", small.width, small.height, small.num_frames, steps=steps, frame_rate=small.frame_rate
        )

    def _first_sigmas(self, steps: int) -> list[float]:
        from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES

        return sigmas_for(DISTILLED_SIGMA_VALUES, steps)

    def _refine_sigmas(self) -> list[float]:
        from diffusers.pipelines.ltx2.utils import STAGE_2_DISTILLED_SIGMA_VALUES

        return list(STAGE_2_DISTILLED_SIGMA_VALUES)

    def _temporal_sigmas(self) -> list[float]:
        from diffusers.pipelines.ltx2.utils import TEMPORAL_ROUND_DISTILLED_SIGMA_VALUES

        return list(TEMPORAL_ROUND_DISTILLED_SIGMA_VALUES)

    def _decode_stage(self) -> str:
        return "diffusion_decode" if self.decoder is not None else "vae_decode"

    @staticmethod
    def _canvas_latents(frames: int) -> int:
        from diffusers.pipelines.ltx2.dfr_layout import resolve_canvas

        return (resolve_canvas(frames, 8)[0] - 1) // 8 + 1

    def _trim_audio(self, audio, request: GenerateRequest):
        """The waveform cut to the clip's seconds (the canvas is padded past them)."""
        if audio is None:
            return None
        rate = self.pipe.vocoder.config.output_sampling_rate
        return audio[..., : round(request.num_frames / request.frame_rate * rate)]

    def _require_recipe(self, what: str) -> None:
        why = self.recipe()["why_not"]
        if why:
            raise ValueError(f"This server cannot {what}: {why}.")

    def _make_tiny(self, target: Path) -> Path:
        from .tiny_ltx25 import make_tiny_ltx25_model

        return make_tiny_ltx25_model(target)

    def _complete_tiny(self, folder: Path) -> None:
        """Nothing to add: the tiny LTX-2.5 was always written with its recipe's models."""

    def _load_part(self, source: str, folder: str, model_class):
        """A recipe model from the checkpoint's ``folder``: (model, None) or (None, why not)."""
        where = Path(source)
        if where.is_dir() and not (where / folder / "config.json").is_file():
            return None, f"the checkpoint folder {source} has no {folder}/"
        try:
            model = model_class.from_pretrained(source, subfolder=folder, torch_dtype=self.dtype)
        except (OSError, ValueError) as exc:
            return None, f"the checkpoint's {folder}/ could not be loaded ({load_reason(exc)})"
        return model.to(self.device), None

    def _load_temporal(self, source: str) -> None:
        from diffusers import LTX2DFRTemporalRefinePipeline, LTXEulerAncestralRFScheduler
        from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

        model, why = self._load_part(source, recipes.TEMPORAL_UPSAMPLER_FOLDER, LTX2LatentUpsamplerModel)
        if model is None:
            self.temporal_why_not = f"{why}, so the temporal refine round cannot run"
            log.warning("LTX-2.5 drafts are off: %s", self.temporal_why_not)
            return
        p = self.pipe
        self.temporal = LTX2DFRTemporalRefinePipeline(
            # The round needs the stochastic (ancestral) step; eta 0.5 is diffusers' DFR value.
            scheduler=LTXEulerAncestralRFScheduler(eta=0.5),
            vae=p.vae,
            audio_vae=p.audio_vae,
            text_encoder=p.text_encoder,
            tokenizer=p.tokenizer,
            connectors=p.connectors,
            transformer=p.transformer,
            vocoder=p.vocoder,
            temporal_latent_upsampler=model,
        )
        self.temporal.set_progress_bar_config(disable=True)
        self.temporal_why_not = None

    def _load_decoder(self, source: str) -> None:
        from diffusers import FlowMatchEulerDiscreteScheduler, LTX2VideoDiffusionDecodePipeline
        from diffusers.models.autoencoders.ltx2_diffusion_decoder import LTX2VideoDiffusionDecoderModel

        model, why = self._load_part(source, recipes.DIFFUSION_DECODER_FOLDER, LTX2VideoDiffusionDecoderModel)
        if model is None:
            log.warning("%s: the final is decoded with the VAE", why)
            return
        self.decoder = LTX2VideoDiffusionDecodePipeline(
            diffusion_decoder=model, scheduler=FlowMatchEulerDiscreteScheduler(), vae=self.pipe.vae
        )
        self.decoder.set_progress_bar_config(disable=True)
        self.decoder_source = f"{source}/{recipes.DIFFUSION_DECODER_FOLDER}"
