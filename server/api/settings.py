"""Server settings in one object (command line -> Settings -> app, jobs and backend)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from blender_ltx.core import protocol
from blender_ltx.core.client import is_loopback_url as url_is_loopback

from ..generation.chain import DEFAULT_SEGMENT_OVERLAP

#: Larger than the client's default budget (768x512): the server only refuses what it cannot do.
DEFAULT_SERVER_PIXEL_BUDGET = 1280 * 736
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096
DEFAULT_MAX_CONDITIONS = 16
DEFAULT_MAX_STEPS = 200


@dataclass
class Settings:
    model: str = "tiny"
    #: The look model (backends/look.py): a FLUX.2 klein folder or id, "tiny-look", "none", or "auto"
    #: (tiny-look beside a tiny video model, none otherwise).
    look_model: str = "auto"
    device: str = "auto"
    dtype: str | None = None  # None: bfloat16 on cuda, float32 on cpu
    host: str = "127.0.0.1"
    port: int = protocol.DEFAULT_PORT
    data_dir: Path = Path("ltx-server-data")
    token: str | None = None
    port_file: Path | None = None
    vae_tiling: bool = False
    cpu_offload: bool = False
    profile: str = "auto"  # backends/profiles.py KINDS: sampling defaults from the model's name, or forced
    max_frames: int = protocol.DEFAULT_MAX_JOB_FRAMES  # the longest job accepted
    segment_frames: int = protocol.DEFAULT_SEGMENT_FRAMES  # one generation's maximum; longer jobs chain
    #: --segment-frames was given; otherwise a family that proposes its own (SANA-WM) sets it at load.
    segment_frames_given: bool = False
    segment_overlap: int = DEFAULT_SEGMENT_OVERLAP
    #: server/fit/modes.py: None/"auto" = resident on the CPU, fit's choice for the card on CUDA.
    memory_mode: str | None = None
    vram: str = "auto"  # the card's GiB for that choice; auto reads it from the card
    #: A single-file --model (backends/single_file.py): its other parts' folder, and replacements.
    components: str | None = None
    text_encoder: str | None = None
    vae_file: str | None = None
    # LTX-2 only
    sequential_offload: bool = False
    text_encoder_offload: bool = False
    camera_loras: str | None = None  # comma-separated folders or hub ids
    ic_loras: list[str] = field(default_factory=list)  # KIND=PATH_OR_ID
    #: The x2 latent upsampler that finalizes drafts (folder or hub id); None: the checkpoint's own.
    latent_upsampler: str | None = None
    # SANA-WM only: skip stage 2 (the LTX-2 refiner) for speed
    no_refiner: bool = False
    # LTX-2.5 only: load the prompt enhancer (jobs then may ask for enhance_prompt)
    prompt_enhancement: bool = False
    # LTX-2.5 only: load the duration head (advice in each job's applied.duration)
    duration_head: bool = False
    pixel_budget: int = DEFAULT_SERVER_PIXEL_BUDGET
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_image_bytes: int = protocol.MAX_IMAGE_BYTES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_conditions: int = DEFAULT_MAX_CONDITIONS
    max_steps: int = DEFAULT_MAX_STEPS
    #: Generation over Ray (ray_pool.py): off unless --ray; no address = a local Ray on this machine.
    ray: bool = False
    ray_address: str | None = None
    replicas: int | None = None  # None: one per GPU, or 1 without GPUs
    gpus_per_replica: float = 1.0
    #: Retention (JobStore.prune): final jobs older than this go, with their videos; 0 keeps them.
    keep_days: float = 30.0
    #: ... and the oldest final jobs go while their videos exceed this; 0: no budget.
    video_budget_gb: float = 50.0
    #: A draft's kept latents go this many days after it finished (its job and video stay); 0: with the job.
    keep_draft_days: float = 7.0
    #: A connection that sends part of a request's headers, or stops mid-body, is closed after this.
    stall_timeout_s: float = 15.0

    def retention(self) -> tuple[float | None, int | None]:
        """(seconds to keep final jobs, bytes of videos to keep), None where the rule is off."""
        keep = self.keep_days * 86400 if self.keep_days > 0 else None
        budget = int(self.video_budget_gb * 1e9) if self.video_budget_gb > 0 else None
        return keep, budget

    def limits(self) -> dict[str, int]:
        return {
            "max_frames": self.max_frames,
            "pixel_budget": self.pixel_budget,
            "max_body_bytes": self.max_body_bytes,
            "max_image_bytes": self.max_image_bytes,
            "max_image_pixels": self.max_image_pixels,
            "max_conditions": self.max_conditions,
            "max_steps": self.max_steps,
        }


def host_is_loopback(host: str) -> bool:
    return url_is_loopback(f"http://[{host}]/" if ":" in host else f"http://{host}/")


def check_token(token: str | None) -> str | None:
    """Why the token can never be sent, or None: HTTP headers carry ASCII only (clients refuse others)."""
    if token is None:
        return None
    if not token.isascii() or not token.isprintable() or not token.strip():
        return (
            "The token must be printable ASCII (letters, digits, punctuation): an HTTP client cannot send "
            "other characters; pick another --token (or LTX_SERVER_TOKEN)."
        )
    return None


def check_data_dir(data_dir: Path) -> str | None:
    """Why the server cannot keep its jobs in ``data_dir``, or None (checked before the model loads)."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe = data_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        return (
            f"The data dir {str(data_dir)!r} is not a writable folder ({exc.strerror or exc}); "
            "pick another --data-dir."
        )
    return None


def check_exposure(settings: Settings) -> str | None:
    """A sentence explaining why the server must not start, or None."""
    if not host_is_loopback(settings.host) and not settings.token:
        return (
            f"Refusing to listen on {settings.host} without a token: anyone on the network could use the "
            "GPU. Pass --token SECRET (clients send 'Authorization: Bearer SECRET') or use --host 127.0.0.1."
        )
    return None
