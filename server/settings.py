"""Server settings in one object (command line -> Settings -> app, jobs and backend)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from blender_ltx.core import protocol
from blender_ltx.core.client import is_loopback as url_is_loopback

#: Larger than the client's default budget (768x512): the server only refuses what it cannot do.
DEFAULT_SERVER_PIXEL_BUDGET = 1280 * 736
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096
DEFAULT_MAX_CONDITIONS = 16
DEFAULT_MAX_STEPS = 200


@dataclass
class Settings:
    model: str = "tiny"
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
    # LTX-2 only
    sequential_offload: bool = False
    text_encoder_offload: bool = False
    camera_loras: str | None = None  # comma-separated folders or hub ids
    ic_loras: list[str] = field(default_factory=list)  # KIND=PATH_OR_ID
    max_frames: int = protocol.DEFAULT_MAX_FRAMES
    pixel_budget: int = DEFAULT_SERVER_PIXEL_BUDGET
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_image_bytes: int = protocol.MAX_IMAGE_BYTES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_conditions: int = DEFAULT_MAX_CONDITIONS
    max_steps: int = DEFAULT_MAX_STEPS

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


def is_loopback(host: str) -> bool:
    return url_is_loopback(f"http://[{host}]/" if ":" in host else f"http://{host}/")


def check_exposure(settings: Settings) -> str | None:
    """A sentence explaining why the server must not start, or None."""
    if not is_loopback(settings.host) and not settings.token:
        return (
            f"Refusing to listen on {settings.host} without a token: anyone on the network could use the "
            "GPU. Pass --token SECRET (clients send 'Authorization: Bearer SECRET') or use --host 127.0.0.1."
        )
    return None
