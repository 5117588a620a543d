"""The small interface the worker calls. One module per model family implements it (ltx.py today;
LTX-2 with camera LoRAs and IC-LoRA control can be another module later)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .profiles import Profile


class Cancelled(Exception):
    """Raised inside generate() when cancel_check() turned true; the job ends ``cancelled``."""


class WeightsNotFound(Exception):
    """The model could not be found or loaded; the message says how to get or point to the weights."""


@dataclass
class Keyframe:
    image: Any  # PIL.Image.Image, already decoded and checked
    frame_index: int  # the index the pipeline is given (see conditioning.map_conditions)
    strength: float = 1.0


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


ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]


class Backend:
    """Loads one model once and generates clips, one at a time (the worker guarantees that)."""

    name = "base"

    def capabilities(self) -> dict[str, Any]:
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """model, device, dtype and load time, for /v1/health and the log."""
        raise NotImplementedError

    def load(self) -> None:
        raise NotImplementedError

    def profile(self) -> Profile:
        """The loaded model's sampling defaults (see profiles.py); valid after load()."""
        raise NotImplementedError

    def generate(
        self, request: GenerateRequest, progress_cb: ProgressCallback, cancel_check: CancelCheck
    ) -> np.ndarray:
        """Frames as uint8 (num_frames, height, width, 3). Raises Cancelled when cancel_check() says so."""
        raise NotImplementedError
