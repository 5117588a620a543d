"""Model families. ``load_backend(settings)`` picks the one the checkpoint itself names."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .base import Backend


#: The built-in tiny models and their families.
TINY_FAMILIES = {
    "tiny": "ltx-video",
    "tiny-ltx2": "ltx2",
    "tiny-ltx25": "ltx2.5",
    "tiny-sana-wm": "sana-wm",
}
#: model_index.json ``_class_name``s of LTX-2.5 checkpoints (the DFR pipelines only run 2.5 and later).
LTX25_CLASSES = ("LTX2DFRPipeline", "LTX2DFRTemporalRefinePipeline")
#: Components only an LTX-2.5 checkpoint has (its model_index.json may name another LTX2 pipeline).
LTX25_COMPONENTS = ("duration_head", "prompt_enhancer", "temporal_latent_upsampler", "diffusion_decoder")


def family_of_class(class_name: str, components: tuple[str, ...] = ()) -> str:
    """The family of a model_index.json ``_class_name`` (and its component names): SanaWM..., an LTX-2.5
    (a DFR pipeline, or an LTX2 one with 2.5-only components), LTX2... or (else) LTX-Video."""
    if class_name.startswith("SanaWM"):
        return "sana-wm"
    if class_name in LTX25_CLASSES or (
        class_name.startswith("LTX2") and any(c in LTX25_COMPONENTS for c in components)
    ):
        return "ltx2.5"
    return "ltx2" if class_name.startswith("LTX2") else "ltx-video"


def model_family(model: str) -> str:
    """The family, "sana-wm", "ltx2.5", "ltx2" or "ltx-video", from the checkpoint's model_index.json
    (``_class_name`` SanaWM..., LTX2DFR..., LTX2...): a local folder's, or a hub id's from the local
    Hugging Face cache; a single .safetensors file's keys; names are the last resort."""
    if model in TINY_FAMILIES:
        return TINY_FAMILIES[model]
    from .single_file import is_single_file, sniff

    if is_single_file(model):
        return "ltx2" if sniff(model).startswith("ltx2") else "ltx-video"
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
        entries = json.loads(index.read_text())
        components = tuple(k for k, v in entries.items() if not k.startswith("_") and v and v[0])
        return family_of_class(entries.get("_class_name", ""), components)
    lowered = model.lower()
    if "sana-wm" in lowered or "sana_wm" in lowered:
        return "sana-wm"
    if "ltx-2.5" in lowered or "ltx2.5" in lowered or "ltx25" in lowered:
        return "ltx2.5"
    return "ltx2" if "ltx-2" in lowered or "ltx2" in lowered else "ltx-video"


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
        memory_mode=settings.memory_mode,
        vram=settings.vram,
        components=settings.components,
        text_encoder=settings.text_encoder,
        vae_file=settings.vae_file,
    )
    family = model_family(settings.model)
    if family == "sana-wm":
        from .sana_wm import SanaWMBackend

        # It follows the shot's exact camera: no camera LoRAs, no IC-LoRA control.
        _warn_ignored(
            settings,
            family,
            ("--camera-loras", "--ic-lora", "--sequential-offload", "--text-encoder-offload"),
        )
        return SanaWMBackend(settings.model, **common, refiner=not settings.no_refiner)
    if family == "ltx2.5":
        from .ltx25 import LTX25Backend

        _warn_ignored(settings, family, ("--no-refiner", "--camera-loras", "--ic-lora"))
        return LTX25Backend(
            settings.model,
            **common,
            sequential_offload=settings.sequential_offload,
            text_encoder_offload=settings.text_encoder_offload,
            prompt_enhancement=getattr(settings, "prompt_enhancement", False),
            duration_head=getattr(settings, "duration_head", False),
        )
    if family == "ltx2":
        from .ltx2 import LTX2Backend

        _warn_ignored(settings, family, ("--no-refiner",))
        return LTX2Backend(
            settings.model,
            **common,
            sequential_offload=settings.sequential_offload,
            text_encoder_offload=settings.text_encoder_offload,
            camera_loras=settings.camera_loras,
            ic_loras=settings.ic_loras,
        )
    from .ltx import LTXBackend

    _warn_ignored(
        settings,
        family,
        ("--camera-loras", "--ic-lora", "--sequential-offload", "--text-encoder-offload", "--no-refiner"),
    )
    return LTXBackend(settings.model, **common)


_FLAG_SETTINGS = {
    "--camera-loras": "camera_loras",
    "--ic-lora": "ic_loras",
    "--sequential-offload": "sequential_offload",
    "--text-encoder-offload": "text_encoder_offload",
    "--no-refiner": "no_refiner",
    "--prompt-enhancement": "prompt_enhancement",
    "--duration-head": "duration_head",
}


def _warn_ignored(settings, family: str, flags: tuple[str, ...]) -> None:
    """Log the given flags that are set but mean nothing to the loaded family."""
    if family != "ltx2.5":  # LTX-2.5's own switches
        flags = (*flags, "--prompt-enhancement", "--duration-head")
    on = [flag for flag in flags if getattr(settings, _FLAG_SETTINGS[flag], None)]
    if on:
        logging.getLogger("server").warning(
            "%s do not apply to %s (%s), so they are ignored", ", ".join(on), settings.model, family
        )
