"""SANA-WM through diffusers' ``SanaWMPipeline``: a camera-controlled image-to-video model that takes the
shot's exact camera (per-frame poses and intrinsics, as Plücker rays), not words about it. Stage 2, the
LTX-2 refiner (``SanaWMLTX2Refiner``), runs on the stage-1 latents when the checkpoint has it under
``refiner/`` and the server was not started with --no-refiner.

How a shot becomes one generation (the decisions, each for a reason):

- **Frame rate.** The public model was trained at 16 fps (the pipeline's default ``fps``; its action
  keys move 0.05 m a frame, a walk at 16 fps). Its stage 1 has no frame-rate input at all, so a clip
  generated one frame per scene frame of a 24 fps shot would play the world's own motion 1.5x too
  fast. So the shot is generated at the model's rate over the shot's exact duration: the poses are
  resampled at ``model_frames`` evenly spread times from the first to the last clip frame (about
  16 fps; 8k+1 frames, as the VAE needs), and the clip is retimed back to the scene's frames by taking
  the nearest generated frame (no blending: every frame stays a frame the model made; timing error at
  most half a model frame). The returned clip has exactly the asked ``num_frames`` at the shot's rate.
- **Size.** The public model works at 704 x 1280 only. A request of another shape is fitted into that
  canvas: within 5 % of its aspect it is stretched (the intrinsics carry fx and fy apart, so the rays
  stay exact), otherwise it is scaled to fit and padded (mirrored picture; portrait and 2.39:1 shots),
  with the principal point moved by the pad. The pad is generated and cut away: the returned clip is
  the shot's own frame. The picture is given at the canvas size, so the pipeline's own resize and crop
  are the identity and the intrinsics reach the model as computed here.
- **Segments.** The model makes minute-long clips in one pass, so this family proposes
  ``segment_frames`` 961 (a minute at 16 fps); longer jobs chain (generation/chain.py) from the last
  frame of the previous segment, the one picture the model is conditioned on (``max_overlap`` 1), with
  the segment's poses relative to its own first frame.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from blender_ltx.core.protocol import ProtocolError

from . import profiles, recipes
from .base import CameraPoses, CancelCheck, Cancelled, Clip, GenerateRequest, ProgressCallback
from .ltx import resolve_device, resolve_dtype
from .pipeline import STEPS_SHARE, PipelineBackend, checkpoint_source

log = logging.getLogger("server.sana_wm")

REFERENCE_MODEL = "Efficient-Large-Model/SANA-WM_bidirectional-diffusers"
TINY = "tiny-sana-wm"
#: The rate the model was trained at (frames per second).
MODEL_FPS = 16.0
#: (width, height) the model generates at: the public release's, and the tiny model's (CPU-sized).
PUBLIC_SIZE = (1280, 704)
TINY_SIZE = (448, 256)
#: A request whose aspect is within this of the canvas's is stretched to it rather than padded.
STRETCH_TOLERANCE = 0.05
#: One pass: a minute at the model's rate (the release is trained for minute-long clips).
SEGMENT_FRAMES = 961
#: The tiny model's instruction prefix (the release's default is over a thousand tokens to a tiny tokenizer).
TINY_CHI_PROMPT = ["Describe the scene: "]
#: The tiny refiner's schedule: a light touch (the release's starts at 0.909 of noise, which a random refiner
#: would turn into its own noise, hiding what stage 1 made of the camera).
TINY_REFINER_SIGMAS = (0.1, 0.0)
#: The assumed lens of a job without a trajectory (a still camera): 50 mm on a 36 mm wide sensor.
STATIC_LENS = (50.0, 36.0)


def weights_help(model: str, reason: str) -> str:
    return (
        f"Could not load the SANA-WM model {model!r} ({reason}). Download the weights where there is "
        f"internet, e.g. `huggingface-cli download {REFERENCE_MODEL} --local-dir DIR`, and start the server "
        "with --model DIR, or use --model tiny-sana-wm for the built-in test model."
    )


# -- frame rate -------------------------------------------------------------------------------------
def model_frames(num_frames: int, frame_rate: float, model_fps: float = MODEL_FPS) -> int:
    """Frames generated for a clip of ``num_frames`` at ``frame_rate``: the clip's duration at the
    model's rate, rounded up to 8k+1 (at least 9: two latent frames)."""
    from blender_ltx.core.protocol import num_frames_for

    duration_frames = round((num_frames - 1) * model_fps / frame_rate) + 1
    return max(9, num_frames_for(duration_frames))


def model_times(num_frames: int, count: int) -> np.ndarray:
    """Fractional clip-frame times of the ``count`` generated frames: first to last clip frame, even."""
    return np.linspace(0.0, num_frames - 1.0, count)


def retime_indices(num_frames: int, count: int) -> np.ndarray:
    """For each of ``num_frames`` clip frames, the generated frame (of ``count``) nearest in time."""
    if num_frames == 1:
        return np.zeros(1, dtype=int)
    return np.rint(np.arange(num_frames) * (count - 1) / (num_frames - 1)).astype(int)


# -- size -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fit:
    """Where the request's width x height frame sits in the model's canvas."""

    canvas: tuple[int, int]  # model (width, height)
    content: tuple[int, int, int, int]  # left, top, width, height of the shot's frame in the canvas
    mode: str  # "exact" | "stretch" | "pad"

    def intrinsics(self, intr: np.ndarray, width: int, height: int) -> np.ndarray:
        """[fx, fy, cx, cy] of the request's frame moved into the canvas (pixel centres at integers)."""
        left, top, cw, ch = self.content
        sx, sy = cw / width, ch / height
        out = np.array(intr, dtype=float)
        out[..., 0] *= sx
        out[..., 1] *= sy
        out[..., 2] = (out[..., 2] + 0.5) * sx - 0.5 + left
        out[..., 3] = (out[..., 3] + 0.5) * sy - 0.5 + top
        return out

    def place(self, image):
        """The picture (PIL) resized into the content box of a canvas-size picture, mirrored into the pad."""
        from PIL import Image

        left, top, cw, ch = self.content
        inner = np.asarray(image.convert("RGB").resize((cw, ch), Image.LANCZOS))
        w, h = self.canvas
        pad = ((top, h - ch - top), (left, w - cw - left), (0, 0))
        return Image.fromarray(np.pad(inner, pad, mode="symmetric"))

    def cut(self, frames: np.ndarray, width: int, height: int) -> np.ndarray:
        """The shot's frame out of generated canvas frames (n, H, W, 3), at width x height."""
        from PIL import Image

        left, top, cw, ch = self.content
        inner = frames[:, top : top + ch, left : left + cw]
        if (cw, ch) == (width, height):
            return np.ascontiguousarray(inner)
        return np.stack(
            [np.asarray(Image.fromarray(f).resize((width, height), Image.LANCZOS)) for f in inner]
        )

    def to_dict(self) -> dict[str, Any]:
        left, top, cw, ch = self.content
        return {
            "mode": self.mode,
            "model_width": self.canvas[0],
            "model_height": self.canvas[1],
            "left": left,
            "top": top,
            "width": cw,
            "height": ch,
        }


def fit_frame(width: int, height: int, canvas: tuple[int, int]) -> Fit:
    """Stretch a frame of nearly the canvas's aspect to it; scale any other to fit inside and pad."""
    mw, mh = canvas
    if (width, height) == (mw, mh):
        return Fit(canvas, (0, 0, mw, mh), "exact")
    s = min(mw / width, mh / height)
    cw, ch = min(mw, round(width * s)), min(mh, round(height * s))
    if cw >= (1 - STRETCH_TOLERANCE) * mw and ch >= (1 - STRETCH_TOLERANCE) * mh:
        return Fit(canvas, (0, 0, mw, mh), "stretch")
    return Fit(canvas, ((mw - cw) // 2, (mh - ch) // 2, cw, ch), "pad")


def static_poses(num_frames: int, width: int, height: int) -> CameraPoses:
    """A still camera: identity poses and the assumed lens (STATIC_LENS) through the frame's centre, for a
    job without a trajectory."""
    lens, sensor = STATIC_LENS
    focal = lens / sensor * width
    c2w = np.tile(np.eye(4), (num_frames, 1, 1))
    intr = np.tile([focal, focal, (width - 1) / 2, (height - 1) / 2], (num_frames, 1))
    return CameraPoses(c2w, intr, static=True)


class SanaWMBackend(PipelineBackend):
    name = "sana-wm"
    family = "sana-wm"
    max_overlap = 1
    segment_frames = SEGMENT_FRAMES

    def __init__(self, model: str, *, refiner: bool = True, **common: Any):
        """``refiner``: run stage 2 when the checkpoint has it (--no-refiner turns it off for speed)."""
        super().__init__(model, **common)
        self.use_refiner = refiner
        self.refiner = None
        self.refiner_path = ""
        self.tiny = False
        self.canvas = PUBLIC_SIZE

    # -- interface -------------------------------------------------------------------------------
    def capabilities(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "pipeline": "SanaWMPipeline",
            "camera_poses": True,
            "keyframes": False,
            "motion_prompt": False,
            "audio": False,
            "first_frame": "required",  # an image-to-video model: conditions[0] at frame 0 is its picture
            "model_fps": MODEL_FPS,
            "model_width": self.canvas[0],
            "model_height": self.canvas[1],
            "refiner": self.refiner is not None,
            "refiner_path": self.refiner_path or None,
            "chi_prompt": "short (tiny model)" if self.tiny else "the release's default",
            "frame_multiple": 8,
            "size_multiple": 32,
            "vae_tiling": self.vae_tiling,
            "cpu_offload": self.cpu_offload,
            "text_embedding_cache": True,
        }

    def capability_list(self) -> list[str]:
        # draft and finalize: stage 1 alone, then the refiner on its kept latents (see recipe)
        return ["camera_poses"] + (["draft", "finalize"] if self.refiner is not None else [])

    def check_request(self, request: dict[str, Any]) -> None:
        conditions = request.get("conditions") or []
        if not any(c["frame_index"] == 0 for c in conditions):
            raise ProtocolError(
                "conditions",
                "SANA-WM starts from a picture: send the shot's first frame as a condition at frame_index 0",
            )
        for i, cond in enumerate(conditions):
            if cond["frame_index"] != 0:
                raise ProtocolError(
                    f"conditions[{i}].frame_index",
                    f"is {cond['frame_index']} but SANA-WM only takes the first frame's picture (frame 0); "
                    "leave out the later keyframes",
                )
        if request.get("camera_lora", "auto") not in ("auto", "none"):
            raise ProtocolError(
                "camera_lora",
                f"{request['camera_lora']!r}: SANA-WM has no camera LoRAs, it follows the shot's exact "
                "camera path; send auto or none",
            )

    def camera_pose_plan(self, request: dict[str, Any]) -> dict[str, Any]:
        fit = fit_frame(request["width"], request["height"], self.canvas)
        return {
            "model_frames": model_frames(request["num_frames"], request["frame_rate"]),
            "model_fps": MODEL_FPS,
            "retime": "nearest generated frame to each scene frame",
            "crop": fit.to_dict(),
            "refiner": self.refiner is not None,
        }

    def load(self) -> None:
        t0 = time.perf_counter()
        source, tiny = self._resolve_source()
        import torch  # noqa: F401
        from diffusers import SanaWMPipeline

        self.device = resolve_device(self.requested_device)
        self.dtype = resolve_dtype(self.requested_dtype, self.device)
        pipe = self._from_pretrained(SanaWMPipeline, source, weights_help)
        self.pipe = pipe
        self.model_path = str(source)
        self.tiny = tiny
        self.canvas = TINY_SIZE if tiny else PUBLIC_SIZE
        if self.vae_tiling:
            pipe.vae.enable_tiling()
        self._place(pipe)
        self.refiner = self._load_refiner(source) if self.use_refiner else None
        self._profile = profiles.sana_wm_profile(tiny=tiny, kind=self.requested_profile)
        self.load_s = time.perf_counter() - t0

    def generate(
        self, request: GenerateRequest, progress_cb: ProgressCallback, cancel_check: CancelCheck
    ) -> Clip:
        import torch

        if request.stage == "draft":
            return self._draft(request, progress_cb, cancel_check)
        cuda = self.device == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        refine = self.refiner is not None
        share = STEPS_SHARE * (0.8 if refine else 1.0)
        out, fit = self._stage1(request, progress_cb, cancel_check, share, "latent" if refine else "np")
        stages = [self._stage("stage1", request, steps=request.num_inference_steps)]
        if refine:
            if cancel_check():
                raise Cancelled()
            video = self._refine(out, request)
            stages.append(self._stage("refiner", request, refiner=self.refiner_path))
            progress_cb(STEPS_SHARE)
        else:
            video = out
        clip = Clip(frames=self._shot_frames(video, fit, request), applied={"stages": stages})
        if cuda:
            clip.peak_gpu_mb = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        return clip

    # -- draft, then final -----------------------------------------------------------------------
    def recipe(self) -> dict[str, Any]:
        """Stage 1 alone is the draft (at the model's canvas: the release generates at that one size and
        its refiner works on stage 1's latents as they are, with no upsampler, so there is no smaller
        draft); the finalize is stage 2, the LTX-2 refiner, on the kept latents."""
        if self.refiner is None:
            why = (
                "the server was started with --no-refiner, so there is no stage 2 to finalize a draft with"
                if not self.use_refiner
                else f"the checkpoint {self.model_path or self.model} has no refiner/ (SANA-WM's stage 2), "
                "so a draft cannot be finalized"
            )
            return {"draft": None, "finalize": None, "why_not": why}
        w, h = self.canvas
        sigmas = list(TINY_REFINER_SIGMAS) if self.tiny else None
        draft = {
            "divisor": 1,
            "model_width": w,
            "model_height": h,
            "rule": (
                f"stage 1 alone at the model's {w}x{h} canvas and {MODEL_FPS:g} fps, the shot's frame cut "
                "from it at the final size and retimed to the shot's frames; the same size as the final "
                "(the model makes no other size and its refiner does not upsample)"
            ),
        }
        finalize = {
            "stages": ["refiner"],
            "refiner": self.refiner_path,
            "what": (
                "SANA-WM's LTX-2 refiner on the draft's stage-1 latents with the draft's seed and prompt at "
                f"{MODEL_FPS:g} fps (its first latent frame, the picture's, kept as the sink), decoded, cut "
                "and retimed as a one-pass job is"
            ),
            "refine_sigmas": sigmas or "the release's distilled stage-2 schedule",
        }
        return {"draft": draft, "finalize": finalize, "why_not": None}

    def _stage(self, name: str, request: GenerateRequest, **extra: Any) -> dict[str, Any]:
        """One ``applied.stages`` entry: the shot's size and frames, and the canvas and rate it ran at."""
        w, h = self.canvas
        count = model_frames(request.num_frames, request.frame_rate)
        return recipes.stage(
            name,
            request.width,
            request.height,
            request.num_frames,
            model_width=w,
            model_height=h,
            model_frames=count,
            model_fps=MODEL_FPS,
            **extra,
        )

    def draft_size(self, width: int, height: int) -> tuple[int, int]:
        """A SANA-WM draft comes back at the final size: stage 1 runs at the model's canvas either way."""
        return width, height

    def finalize(
        self,
        request: GenerateRequest,
        latents: dict[str, Any],
        progress_cb: ProgressCallback,
        cancel_check: CancelCheck,
    ) -> Clip:
        """The refiner on a draft's kept stage-1 latents (the draft's seed, prompt and the model's rate),
        then the one-pass job's cut and retime: the clip of the draft's frames at the shot's rate."""
        import torch

        if self.refiner is None:
            raise ValueError(f"This server cannot finalize drafts: {self.recipe()['why_not']}.")
        video = np.asarray(latents["video"], dtype=np.float32)
        count = model_frames(request.num_frames, request.frame_rate)
        w, h = self.canvas
        expected = ((count - 1) // 8 + 1, h // 32, w // 32)
        if video.ndim != 5 or tuple(video.shape[2:]) != expected:
            raise ValueError(
                f"The kept draft latents have shape {tuple(video.shape)}, not the {expected} (frames, rows, "
                f"columns) of a SANA-WM draft of {request.num_frames} frames at {request.frame_rate:g} fps "
                f"on the {w}x{h} canvas; make the draft again."
            )
        if cancel_check():
            raise Cancelled()
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        progress_cb(0.05)
        refined = self._refine(torch.from_numpy(video).to(self.device, self.dtype), request)
        progress_cb(STEPS_SHARE)
        fit = fit_frame(request.width, request.height, self.canvas)
        clip = Clip(frames=self._shot_frames(refined, fit, request))
        clip.applied["stages"] = [self._stage("refiner", request, refiner=self.refiner_path)]
        if self.device == "cuda":
            clip.peak_gpu_mb = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        return clip

    def _draft(self, request: GenerateRequest, progress_cb: ProgressCallback, cancel_check: CancelCheck):
        """Stage 1 alone: its latents kept for the refiner, decoded here as the pipeline decodes them."""
        import torch

        if self.refiner is None:
            raise ValueError(f"This server cannot make drafts to finalize: {self.recipe()['why_not']}.")
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        latents, fit = self._stage1(request, progress_cb, cancel_check, 0.95 * STEPS_SHARE, "latent")
        with torch.no_grad():
            decoded = self.pipe._decode_latents(latents)
        video = self.pipe.video_processor.postprocess_video(decoded, output_type="np")[0]
        clip = Clip(frames=self._shot_frames(video, fit, request))
        clip.latents = {"video": latents.float().cpu().numpy()}
        clip.applied["stages"] = [self._stage("draft", request, steps=request.num_inference_steps)]
        if self.device == "cuda":
            clip.peak_gpu_mb = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        return clip

    def _stage1(
        self,
        request: GenerateRequest,
        progress_cb: ProgressCallback,
        cancel_check: CancelCheck,
        share: float,
        output_type: str,
    ):
        """Stage 1 over the shot's duration at the model's rate and canvas: (latents or frames, the fit)."""
        import torch

        from blender_ltx.core.poses import relative_poses, resample

        n, width, height = request.num_frames, request.width, request.height
        poses = request.camera_poses or static_poses(n, width, height)
        if len(poses.c2w) != n:
            raise ValueError(f"the camera has {len(poses.c2w)} poses for a clip of {n} frames")
        count = model_frames(n, request.frame_rate)
        c2w, intr = resample(relative_poses(poses.c2w), poses.intrinsics, model_times(n, count))
        fit = fit_frame(width, height, self.canvas)
        intr = fit.intrinsics(intr, width, height)
        picture = fit.place(self._first_picture(request))
        out = self._run_steps(
            request.num_inference_steps,
            progress_cb,
            cancel_check,
            share=share,
            image=picture,
            prompt=request.prompt,
            c2w=c2w.astype(np.float32),
            intrinsics=intr.astype(np.float32),
            width=self.canvas[0],
            height=self.canvas[1],
            num_frames=count,
            fps=int(round(MODEL_FPS)),
            guidance_scale=request.guidance_scale,
            generator=torch.Generator("cpu").manual_seed(request.seed),
            output_type=output_type,
            return_dict=False,
            **self._prompt_embeds(request.prompt, request.negative_prompt, request.guidance_scale > 1.0),
        )
        return out[0], fit

    def _shot_frames(self, video, fit: Fit, request: GenerateRequest) -> np.ndarray:
        """Decoded canvas frames (float, [0, 1]) -> the shot's frame at its size, one per scene frame."""
        n = request.num_frames
        frames = (np.asarray(video) * 255.0).round().clip(0, 255).astype(np.uint8)
        return fit.cut(frames, request.width, request.height)[retime_indices(n, len(frames))]

    # -- helpers ---------------------------------------------------------------------------------
    def _resolve_source(self) -> tuple[str, bool]:
        from .tiny import is_tiny_model

        if self.model == TINY:
            from .tiny_sana_wm import make_tiny_sana_wm_model

            target = self.data_dir / "tiny-sana-wm-model"
            if not (target / "model_index.json").is_file():
                log.info("building the tiny SANA-WM model into %s", target)
            return str(make_tiny_sana_wm_model(target)), True
        source = checkpoint_source(self.model, weights_help)
        return source, Path(source).is_dir() and is_tiny_model(source)

    def _load_refiner(self, source: str):
        """Stage 2 from the checkpoint's refiner/ folder (local, or the hub id's cached snapshot), sharing
        stage 1's VAE; None when the checkpoint has none."""
        from diffusers import SanaWMLTX2Refiner

        folder = refiner_folder(source)
        if folder is None:
            log.info("%s has no refiner/ (stage 2): stage 1 only", source)
            return None
        refiner = self._from_pretrained(SanaWMLTX2Refiner, str(folder), weights_help, vae=self.pipe.vae)
        self._place(refiner)
        self.refiner_path = str(folder)
        return refiner

    def _place(self, pipe) -> None:
        if self.cpu_offload and self.device == "cuda":
            pipe.enable_model_cpu_offload()
        else:
            if self.cpu_offload:
                log.warning("--cpu-offload only applies to --device cuda; ignored")
            pipe.to(self.device)

    def _first_picture(self, request: GenerateRequest):
        """The picture the clip starts from: a chained segment's is the previous segment's last frame."""
        from PIL import Image

        if request.video_conditions:
            return Image.fromarray(request.video_conditions[0].frames[-1])
        for keyframe in request.keyframes:
            if keyframe.frame_index == 0:
                return keyframe.image
        raise ValueError("SANA-WM needs the shot's first frame as a picture (a keyframe at frame 0)")

    def _refine(self, latents, request: GenerateRequest):
        import torch

        refined = self.refiner(
            latents,
            request.prompt,
            fps=MODEL_FPS,
            generator=torch.Generator("cpu").manual_seed(request.seed),
            output_type="latent",
            **({"sigmas": TINY_REFINER_SIGMAS} if self.tiny else {}),
        )
        # Decoded here with the sink frame kept: the refiner's own decode drops the first frame.
        with torch.no_grad():
            decoded = self.pipe._decode_latents(refined)
        return self.pipe.video_processor.postprocess_video(decoded, output_type="np")[0]

    def _max_sequence_length(self) -> int:
        """The pipeline's 300 tokens, or a small test model's tokenizer limit."""
        return min(300, int(getattr(self.pipe.tokenizer, "model_max_length", 300) or 300))

    def _encode(self, prompt: str, negative: str, cfg: bool) -> tuple:
        from diffusers.pipelines.sana_wm.pipeline_sana_wm import DEFAULT_CHI_PROMPT

        return self.pipe.encode_prompt(
            prompt,
            negative,
            device=self.pipe._execution_device,
            max_sequence_length=self._max_sequence_length(),
            chi_prompt=TINY_CHI_PROMPT if self.tiny else DEFAULT_CHI_PROMPT,
        )


def refiner_folder(source: str) -> Path | None:
    """``source``/refiner when it holds a pipeline (model_index.json); for a hub id, its cached snapshot's."""
    path = Path(source).expanduser()
    if not path.is_dir():
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(source, "refiner/model_index.json")
        except Exception:  # not a repo id: nothing cached for it
            return None
        return Path(cached).parent if isinstance(cached, str) else None
    folder = path / "refiner"
    return folder if (folder / "model_index.json").is_file() else None
