"""Model families. ``load_backend(settings)`` picks the one the checkpoint itself names."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .base import Backend


def model_family(model: str) -> str:
    """The family, "ltx2" or "ltx-video", from the checkpoint's model_index.json (``_class_name``
    LTX2...): a local folder's, or a hub id's from the local Hugging Face cache; names are the last resort."""
    if model == "tiny":
        return "ltx-video"
    if model == "tiny-ltx2":
        return "ltx2"
    index = Path(model).expanduser() / "model_index.json"
    if not index.is_file():
        index = None
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(model, "model_index.json")
            index = Path(cached) if isinstance(cached, str) else None
        except Exception:  # not a valid repo id: the loader will say what is wrong with it
            index = None
    if index is not None and index.is_file():
        return (
            "ltx2" if json.loads(index.read_text()).get("_class_name", "").startswith("LTX2") else "ltx-video"
        )
    return "ltx2" if "ltx-2" in model.lower() or "ltx2" in model.lower() else "ltx-video"


def load_backend(settings) -> Backend:
    """The (not yet loaded) backend for ``settings.model``."""
    common = dict(
        device=settings.device,
        dtype=settings.dtype,
        data_dir=settings.data_dir,
        vae_tiling=settings.vae_tiling,
        cpu_offload=settings.cpu_offload,
        profile=settings.profile,
        latent_upsampler=getattr(settings, "latent_upsampler", None),
    )
    if model_family(settings.model) == "ltx2":
        from .ltx2 import LTX2Backend

        return LTX2Backend(
            settings.model,
            **common,
            sequential_offload=settings.sequential_offload,
            text_encoder_offload=settings.text_encoder_offload,
            camera_loras=settings.camera_loras,
            ic_loras=settings.ic_loras,
        )
    from .ltx import LTXBackend

    ltx2_only = [
        flag
        for flag, on in (
            ("--camera-loras", settings.camera_loras),
            ("--ic-lora", settings.ic_loras),
            ("--sequential-offload", settings.sequential_offload),
            ("--text-encoder-offload", settings.text_encoder_offload),
        )
        if on
    ]
    if ltx2_only:
        logging.getLogger("server").warning(
            "%s only apply to LTX-2 checkpoints; %s is LTX-Video, so they are ignored",
            ", ".join(ltx2_only),
            settings.model,
        )
    return LTXBackend(settings.model, **common)
