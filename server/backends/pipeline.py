"""What the diffusers backends (ltx.py, ltx2.py) share: health info, the profile, loading a pipeline
class from a folder or hub id with one error sentence, and the prompt embedding cache."""

from __future__ import annotations

import logging
import warnings
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
from blender_ltx.core.protocol import SPATIAL_MULTIPLE

from . import profiles, recipes
from .base import Backend, Cancelled, CancelCheck, GenerateRequest, ProgressCallback, WeightsNotFound

log = logging.getLogger("server")

_EMBED_CACHE_SIZE = 16
#: Share of the progress bar the denoising steps get; VAE decode and mp4 encoding take the rest.
STEPS_SHARE = 0.9

#: (model, reason) -> the sentence telling the user how to get or point to the weights.
HelpText = Callable[[str, str], str]


def load_reason(exc: BaseException) -> str:
    text = str(exc).strip()
    lowered = text.lower()
    if any(w in lowered for w in ("not fully cached", "offline", "connect", "cached snapshot")):
        return "it is not in the local Hugging Face cache and the hub cannot be reached"
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= 200 else first[:197] + "..."


def checkpoint_source(model: str, help_text: HelpText, components: str | None = None) -> str:
    """A local checkpoint folder (checked) or a hub id, as from_pretrained takes it; for a single-file
    ``model``, the ``components`` folder its other parts come from (single_file.check says what is wrong)."""
    from . import single_file

    if single_file.is_single_file(model):
        single_file.check(model, components)
        return str(Path(components).expanduser())
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise WeightsNotFound(help_text(model, f"{path} has no model_index.json"))
        return str(path)
    looks_like_path = model.startswith((".", "/", "~")) or model.count("/") > 1
    if looks_like_path:
        raise WeightsNotFound(help_text(model, f"no directory {path}"))
    return model


def vae_min_side(vae_config: Any) -> int:
    """The smallest width or height the model's VAE can decode: one latent pixel per side, or two where
    the decoder pads its 3x3 convolutions by reflection (LTX-2's ``decoder_spatial_padding_mode``): a
    reflection pad of 1 needs a side longer than 1 (tried on the tiny LTX-2: 64 runs, 32 fails in
    ``F.pad``; the tiny LTX-Video, zero-padded, runs at 32)."""
    ratio = int(vae_config.get("spatial_compression_ratio") or SPATIAL_MULTIPLE)
    padding = vae_config.get("decoder_spatial_padding_mode") or vae_config.get("spatial_padding_mode")
    return ratio * (2 if padding == "reflect" else 1)


class PipelineBackend(Backend):
    """Subclasses set model_path, device, dtype, load_s, pipe and _profile in load(), and implement
    _encode (the pipeline's encode_prompt for one prompt pair)."""

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
        latent_upsampler: str | None = None,
        memory_mode: str | None = None,
        vram: str = "auto",
        components: str | None = None,
        text_encoder: str | None = None,
        vae_file: str | None = None,
    ):
        """What every family's backend is asked for (the server's settings); nothing loaded yet.
        ``latent_upsampler``: the x2 latent upsampler (folder or hub id) that finalizes drafts; None: the
        checkpoint folder's own ``latent_upsampler/``."""
        if profile not in profiles.KINDS:
            raise ValueError(f"unknown profile {profile!r}; use one of {', '.join(profiles.KINDS)}")
        self.model = model
        self.requested_device = device
        self.requested_dtype = dtype
        self.data_dir = Path(data_dir)
        self.vae_tiling = vae_tiling
        self.cpu_offload = cpu_offload
        self.requested_profile = profile
        self.requested_memory_mode = memory_mode
        self.vram = vram
        self.memory = None  # server.fit.modes.MemoryDecision once loaded
        # A single-file --model: the diffusers-format folder for its other parts, and replacements
        self.components = components
        self.text_encoder_dir = text_encoder
        self.vae_file = vae_file
        self.pipe = None
        #: The smallest width/height the loaded model makes (health ``features.min_size``; a smaller side
        #: is refused at submit). Known once the VAE's config is read.
        self.min_size = SPATIAL_MULTIPLE
        self.device = ""
        self.dtype = None
        self.load_s = 0.0
        self.model_path = ""
        self._profile: profiles.Profile | None = None
        self._embeds: OrderedDict[tuple, Any] = OrderedDict()  # (prompt, negative, cfg) -> embeddings
        self.latent_upsampler_arg = latent_upsampler
        self.upsampler = None  # the family's latent upsample pipeline sharing the VAE, once loaded
        self.upsampler_source = ""
        self.upsampler_why_not: str | None = "the model is not loaded yet"

    def info(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_path": self.model_path,
            "device": self.device,
            "dtype": str(self.dtype).replace("torch.", ""),
            "load_s": round(self.load_s, 3),
        }

    def memory_report(self) -> dict[str, Any]:
        if self.memory is None:
            return {"mode": None, "why": "the model is not loaded yet"}
        return self.memory.to_dict()

    def _legacy_offload(self) -> list[str]:
        """The older offload flags this backend was given (they place the pipeline themselves)."""
        return ["--cpu-offload"] if self.cpu_offload else []

    def _place_by_memory_mode(self, pipe, source: str) -> bool:
        """Place ``pipe`` in the memory mode (forced, or fit's choice on CUDA); False when the older offload
        flags were given without --memory-mode, so the caller places it as before."""
        from server.fit import modes

        legacy = self._legacy_offload()
        if legacy and self.requested_memory_mode is None:
            self.memory = modes.MemoryDecision(
                " + ".join(f.removeprefix("--") for f in legacy),
                f"{', '.join(legacy)} asked for it",
                forced=True,
            )
            return False
        if legacy:
            warnings.warn(
                f"--memory-mode {self.requested_memory_mode} replaces {', '.join(legacy)}", stacklevel=2
            )
        if self.components and modes.files.is_single_file(self.model):  # plan the file itself
            self.memory = modes.decide(
                self.requested_memory_mode, self.vram, self.device, self.model, self.components
            )
        else:
            self.memory = modes.decide(self.requested_memory_mode, self.vram, self.device, source)
        modes.apply(pipe, self.memory, self.device, self.dtype)
        return True

    def _text_encoder_on_cpu(self) -> bool:
        return self.memory is not None and self.memory.text_encoder_on_cpu

    def profile(self) -> profiles.Profile:
        if self._profile is None:
            raise RuntimeError("the model is not loaded yet")
        return self._profile

    def _from_pretrained(self, pipeline_class, source: str, help_text: HelpText, **components):
        try:
            with warnings.catch_warnings():
                # diffusers 0.42 renamed torch_dtype to dtype; the old name works on every supported version
                warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
                pipe = self._load_pipeline(pipeline_class, source, **components)
        except (OSError, ValueError) as exc:
            raise WeightsNotFound(help_text(self.model, load_reason(exc))) from None
        pipe.set_progress_bar_config(disable=True)
        self.min_size = vae_min_side(pipe.vae.config)
        return pipe

    def _load_pipeline(self, pipeline_class, source: str, **components):
        from . import single_file

        if single_file.is_single_file(self.model):
            return single_file.load_pipeline(
                pipeline_class, self.model, source, self.dtype, self.text_encoder_dir, self.vae_file
            )
        return pipeline_class.from_pretrained(source, torch_dtype=self.dtype, **components)

    # -- the draft-then-final recipe (ltx.py, ltx2.py) ---------------------------------------------
    def _draft_request(self, request: GenerateRequest) -> GenerateRequest:
        """The draft's single pass: ``request`` at the draft size. ValueError (one sentence) when this
        server has no latent upsampler to finalize the draft with."""
        if self.upsampler is None:
            raise ValueError(f"This server cannot make drafts to finalize: {self.upsampler_why_not}.")
        dw, dh = self.draft_size(request.width, request.height)
        return replace(request, width=dw, height=dh, stage="single")

    def _draft_stage(self, small: GenerateRequest) -> dict[str, Any]:
        """The ``applied["stages"]`` entry of the draft pass ``small`` (from ``_draft_request``)."""
        return recipes.stage(
            "draft", small.width, small.height, small.num_frames, steps=small.num_inference_steps
        )

    def _draft_video_latents(
        self, request: GenerateRequest, latents: dict[str, Any], cancel_check: CancelCheck
    ) -> np.ndarray:
        """The kept draft's video latents for finalizing ``request`` (the final size), checked against
        the draft size; ValueError (one sentence) without an upsampler or for latents of another shape,
        Cancelled when the job was cancelled meanwhile."""
        if self.upsampler is None:
            raise ValueError(f"This server cannot finalize drafts: {self.upsampler_why_not}.")
        dw, dh = self.draft_size(request.width, request.height)
        video = np.asarray(latents["video"], dtype=np.float32)
        expected = ((request.num_frames - 1) // 8 + 1, dh // 32, dw // 32)
        if video.ndim != 5 or tuple(video.shape[2:]) != expected:
            raise ValueError(
                f"The kept draft latents have shape {tuple(video.shape)}, not the {expected} (frames, rows, "
                f"columns) of a {dw}x{dh} draft of {request.num_frames} frames; make the draft again."
            )
        if cancel_check():
            raise Cancelled()
        return video

    def _finalize_stages(self, request: GenerateRequest, **refine: Any) -> list[dict[str, Any]]:
        """The ``applied["stages"]`` of a finalize to ``request``'s size: the latent upsample, then the
        refine (described by ``refine``)."""
        w, h, n = request.width, request.height, request.num_frames
        return [
            recipes.stage("latent_upsample_x2", w, h, n, source=self.upsampler_source),
            recipes.stage("refine", w, h, n, **refine),
        ]

    def _load_latent_upsampler(
        self, source: str, model_class, pipeline_class, *, example: str, missing_hint: str = ""
    ) -> None:
        """The family's x2 latent upsampler (``model_class`` in ``pipeline_class``): --latent-upsampler,
        else the checkpoint's ``latent_upsampler/``. An explicit one that does not load stops the server
        (its sentence names ``example``); a missing or broken implicit one only turns drafts off, and
        ``recipe()`` says why (``missing_hint`` says where the family's upsampler comes from)."""
        where, subfolder, why = recipes.upsampler_source(source, self.latent_upsampler_arg)
        if where is None:
            self.upsampler_why_not = why.replace("was given", f"was given{missing_hint}")
            return
        kwargs = {"subfolder": subfolder} if subfolder else {}
        try:
            model = model_class.from_pretrained(where, torch_dtype=self.dtype, **kwargs)
        except (OSError, ValueError) as exc:
            reason = load_reason(exc)
            if self.latent_upsampler_arg:
                raise WeightsNotFound(
                    f"Could not load the latent upsampler {self.latent_upsampler_arg!r} ({reason}); point "
                    f"--latent-upsampler at a folder with the upsampler's config.json (e.g. {example})."
                ) from None
            self.upsampler_why_not = (
                f"the checkpoint's {recipes.UPSAMPLER_FOLDER} could not be loaded ({reason}); pass "
                "--latent-upsampler DIR to finalize drafts"
            )
            log.warning("drafts are off: %s", self.upsampler_why_not)
            return
        model.to(self.device)
        pipe = pipeline_class(vae=self.pipe.vae, latent_upsampler=model)
        pipe.set_progress_bar_config(disable=True)
        self.upsampler = pipe
        self.upsampler_source = f"{where}/{subfolder}" if subfolder else where
        self.upsampler_why_not = None

    def _sampling_kwargs(self, request: GenerateRequest) -> dict[str, Any]:
        """The profile's extra pipeline arguments recorded with the job (or the profile's now). Only the
        arguments a profile may set: a job record never reaches the pipeline unfiltered."""
        sampling = request.sampling
        if sampling is None:
            sampling = self.profile().pipeline_kwargs(request.num_inference_steps)
        return {k: v for k, v in sampling.items() if k in profiles.PIPELINE_KEYS}

    def _call_pipeline(
        self,
        request: GenerateRequest,
        progress_cb: ProgressCallback,
        cancel_check: CancelCheck,
        output_type: str = "np",
        **kwargs,
    ):
        """The pipeline on the request's grid, seed, steps and guidance plus ``kwargs``, with progress and
        cancel through the step callback; ``output_type`` "latent" skips the decode."""
        import torch

        return self._run_steps(
            request.num_inference_steps,
            progress_cb,
            cancel_check,
            prompt=None,
            width=request.width,
            height=request.height,
            num_frames=request.num_frames,
            frame_rate=request.frame_rate,
            guidance_scale=request.guidance_scale,
            generator=torch.Generator("cpu").manual_seed(request.seed),
            output_type=output_type,
            **kwargs,
        )

    def _run_steps(
        self,
        steps: int,
        progress_cb: ProgressCallback,
        cancel_check: CancelCheck,
        share: float = STEPS_SHARE,
        **kwargs,
    ):
        """``self.pipe(num_inference_steps=steps, **kwargs)`` with progress (``share`` of the bar over the
        steps) and cancel through the step callback."""
        kwargs["num_inference_steps"] = steps
        return self._call_with_steps(self.pipe, steps, progress_cb, cancel_check, share, **kwargs)

    @staticmethod
    def _call_with_steps(
        pipe, steps: int, progress_cb: ProgressCallback, cancel_check: CancelCheck, share: float, **kwargs
    ):
        """``pipe(**kwargs)`` (a call of ``steps`` denoising steps) with progress (``share`` of the bar over
        the steps) and cancel through the step callback."""

        def on_step_end(p, i, t, kw):
            progress_cb(share * (i + 1) / steps)
            if cancel_check():
                # Raising stops at once (no VAE decode of a clip nobody wants); _interrupt alone would
                # still skip the remaining steps and decode.
                p._interrupt = True
                raise Cancelled()
            return {}

        if cancel_check():
            raise Cancelled()
        try:
            return pipe(callback_on_step_end=on_step_end, **kwargs)
        except Cancelled:
            pipe.maybe_free_model_hooks()
            raise

    def _prompt_embeds(self, prompt: str, negative: str, cfg: bool) -> dict[str, Any]:
        """encode_prompt once per (prompt, negative): re-takes of a shot reuse the text encoder's output."""
        cache = self._embeds
        key = (prompt, negative, cfg)
        hit = cache.get(key)
        if hit is None:
            import torch

            with torch.no_grad():
                hit = self._encode(prompt, negative, cfg)
            cache[key] = hit
            while len(cache) > _EMBED_CACHE_SIZE:
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
        pe, pm, ne, nm = hit
        return {
            "prompt_embeds": pe,
            "prompt_attention_mask": pm,
            "negative_prompt_embeds": ne,
            "negative_prompt_attention_mask": nm,
        }

    def _encode(self, prompt: str, negative: str, cfg: bool) -> tuple:
        raise NotImplementedError
