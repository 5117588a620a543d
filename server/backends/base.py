"""The small interface the job runner calls. One module per model family implements it (ltx.py for
LTX-Video 0.9.x; LTX-2 with audio, camera LoRAs and IC-LoRA reference videos in its own module)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .profiles import Profile


class Cancelled(Exception):
    """Raised inside generate() when cancel_check() turned true; the job ends ``cancelled``."""


class ReplicaLost(Exception):
    """The process running the job died under it (a Ray replica killed, out of memory, node lost): the job
    goes back to the queue, the attempt counted (queue/runner.py); a chain passes it on unwrapped."""


class WeightsNotFound(Exception):
    """The model could not be found or loaded; the message says how to get or point to the weights."""


@dataclass
class Keyframe:
    image: Any  # PIL.Image.Image, already decoded and checked
    frame_index: int  # the index the pipeline is given (see conditioning.map_conditions)
    strength: float = 1.0


@dataclass
class Reference:
    """An IC-LoRA reference (control) video: the frames the LoRA of ``kind`` is conditioned on."""

    kind: str  # "depth" | "canny" | "tracks"
    #: uint8 (n, h, w, 3) RGB; the backend scales them to the reference resolution of the kind's
    #: IC-LoRA (its downscale factor, e.g. 0.5 for ``ref0.5`` files) and says so in what it applied.
    frames: np.ndarray
    strength: float = 1.0


@dataclass
class VideoCondition:
    """Several frames pinned at a frame index (the chain's overlap with the previous segment)."""

    frames: np.ndarray  # uint8 (n, h, w, 3) RGB at the generation size
    frame_index: int = 0
    strength: float = 1.0


@dataclass
class CameraPoses:
    """The shot's exact camera, one entry per clip frame (from core.poses; the generation module builds it):
    OpenCV camera-to-world poses relative to the clip's first frame, translation already scaled."""

    c2w: np.ndarray  # float (num_frames, 4, 4)
    intrinsics: np.ndarray  # float (num_frames, 4) [fx, fy, cx, cy] in pixels of the request's frame
    #: The request's trajectory was absent: a still camera with an assumed lens.
    static: bool = False


@dataclass
class Clip:
    """What a backend returns: the video frames and, for families that make it, the audio."""

    frames: np.ndarray  # uint8 (num_frames, height, width, 3)
    audio: np.ndarray | None = None  # float32 (channels, samples) in [-1, 1]
    audio_rate: int | None = None  # samples per second of ``audio``
    #: torch.cuda.max_memory_allocated during the call, in MiB; None off CUDA.
    peak_gpu_mb: float | None = None
    #: What the backend applied beyond the request's record (e.g. "references"), for the job's ``applied``.
    applied: dict[str, Any] = field(default_factory=dict)
    #: A draft's latents to keep for its finalize: float32 ``video`` (1, C, F, h, w) and, where the model
    #: makes audio, ``audio``; the raw (not normalized) VAE latents. None for other stages.
    latents: dict[str, np.ndarray] | None = None
    #: The clip's playback rate when it is not the request's (an LTX-2.5 draft runs at half the rate).
    frame_rate: float | None = None


@dataclass
class GenerateRequest:
    prompt: str
    negative_prompt: str
    seed: int
    num_frames: int
    width: int
    height: int
    frame_rate: float
    num_inference_steps: int
    guidance_scale: float
    keyframes: list[Keyframe] = field(default_factory=list)
    #: Extra pipeline arguments (profiles.PIPELINE_KEYS) recorded when the job was queued;
    #: None: the backend's profile decides (for callers without a job record, e.g. the bench).
    sampling: dict[str, Any] | None = None
    #: Make audio where the model can (LTX-2); ignored by video-only families.
    audio: bool = True
    #: A loaded camera LoRA adapter's name and scale (LTX-2); None: no camera LoRA.
    camera_lora: str | None = None
    camera_lora_scale: float = 1.0
    #: IC-LoRA reference videos (LTX-2 control).
    references: list[Reference] = field(default_factory=list)
    #: Multi-frame conditions (long shots: the end of the previous segment at index 0).
    video_conditions: list[VideoCondition] = field(default_factory=list)
    #: "single": one pass at width x height; "draft": the recipe's first stage only, at its reduced size
    #: (recipes.draft_size of width x height, the final size), the clip's ``latents`` kept.
    stage: str = "single"
    #: The exact camera per clip frame, for families that take it (SANA-WM); None elsewhere.
    camera_poses: CameraPoses | None = None
    #: The compiled camera sentence inside ``prompt`` (empty without one): a prompt enhancer must keep it.
    motion_sentence: str = ""
    #: Rewrite the prompt with the model's prompt enhancer first (LTX-2.5 with --prompt-enhancement).
    enhance_prompt: bool = False
    #: One pass at the final size instead of the family's recipe (LTX-2.5; other families always do one).
    single_pass: bool = False


ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]


class Backend:
    """Loads one model once and generates clips, one at a time (its job runner guarantees that)."""

    name = "base"
    #: /v1/health ``family``: "ltx-video", "ltx2" or "sana-wm".
    family = "ltx-video"
    #: The most frames of the previous segment a chained segment can be conditioned on (None: any).
    max_overlap: int | None = None
    #: One generation's maximum this family proposes when --segment-frames is not given (None: the server's).
    segment_frames: int | None = None

    def capabilities(self) -> dict[str, Any]:
        """The facts of the loaded model (health ``features``)."""
        raise NotImplementedError

    def capability_list(self) -> list[str]:
        """What the loaded model can do (health ``capabilities``), drawn from motion_prompt, keyframes,
        audio, camera_lora, long_shots, control_depth, control_canny, control_tracks."""
        facts = self.capabilities()
        return [k for k in ("motion_prompt", "keyframes", "audio") if facts.get(k)]

    def check_request(self, request: dict[str, Any]) -> None:
        """Refuse (ProtocolError naming the field) what this family cannot do with a checked request."""

    def camera_pose_plan(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """Families that take exact poses: the submit-time record of how they will run (frames, rate,
        crop); None for the others."""
        return None

    def condition_index(self, index: int, num_frames: int) -> int:
        """The frame a keyframe asked for at ``index`` really conditions (protocol.snap_condition_index)."""
        from blender_ltx.core.protocol import snap_condition_index

        return snap_condition_index(index, num_frames)

    def loras(self) -> list[dict[str, Any]]:
        """Loaded camera LoRAs and IC-LoRAs (health ``loras``)."""
        return []

    def choose_camera_lora(self, requested: str, scale: float, move: str | None) -> dict[str, Any] | None:
        """The camera LoRA record of a job (see ltx2.py); families without camera LoRAs refuse a name."""
        if requested not in ("auto", "none"):
            from blender_ltx.core.protocol import ProtocolError

            raise ProtocolError("camera_lora", f"{requested!r}: this server's model has no camera LoRAs")
        return None

    def info(self) -> dict[str, Any]:
        """model, device, dtype and load time, for /v1/health and the log."""
        raise NotImplementedError

    def load(self) -> None:
        raise NotImplementedError

    def memory_report(self) -> dict[str, Any]:
        """Which memory mode runs and why (health ``memory``, see server/fit/modes.py)."""
        return {"mode": None, "why": "this backend does not report a memory mode"}

    def wait_ready(self, timeout: float) -> bool:
        """False while the backend cannot take a job yet (a Ray replica restarting); waits up to timeout."""
        return True

    def profile(self) -> Profile:
        """The loaded model's sampling defaults (see profiles.py); valid after load()."""
        raise NotImplementedError

    def generate(
        self, request: GenerateRequest, progress_cb: ProgressCallback, cancel_check: CancelCheck
    ) -> Clip:
        """The clip (frames uint8 (num_frames, height, width, 3), audio where made). Raises Cancelled
        when cancel_check() says so."""
        raise NotImplementedError

    def recipe(self) -> dict[str, Any]:
        """The loaded model's draft-then-final recipe (health ``recipe``): ``draft`` (the reduced size rule),
        ``finalize`` (the stages, or None) and ``why_not``: the sentence saying why a draft cannot be
        finalized here, or None."""
        return {"draft": None, "finalize": None, "why_not": "this model has no two-stage recipe"}

    def draft_size(self, width: int, height: int) -> tuple[int, int]:
        """The draft's size for a final of width x height (ValueError with the sentence when it has none)."""
        from . import recipes

        return recipes.draft_size(width, height, int(self.capabilities().get("size_multiple", 32)))

    def finalize(
        self,
        request: GenerateRequest,
        latents: dict[str, Any],
        progress_cb: ProgressCallback,
        cancel_check: CancelCheck,
    ) -> Clip:
        """The rest of the recipe on a draft's kept ``latents``: ``request`` is the draft's own (seed,
        conditions, frames) at the final width x height. The clip's ``applied["stages"]`` says what ran."""
        raise ValueError(self.recipe()["why_not"] or "this model cannot finalize a draft")
