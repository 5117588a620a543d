"""Single-file checkpoints (``--model FILE.safetensors`` or ``FILE.gguf``, Lightricks' and ComfyUI's key
layout) through diffusers' ``from_single_file``, for the families diffusers 0.42 converts: LTX-2.0
(transformer, video VAE, audio VAE) and LTX-Video 0.9.x (transformer, VAE). A GGUF file (ComfyUI-GGUF's
quantized transformers: Q8_0, Q4_K, ...) loads through diffusers' GGUF quantizer: its Linear weights stay
quantized in memory and are dequantized one layer at a time to the compute dtype. The parts a single file
lacks (text encoder, tokenizer, connectors, vocoder, scheduler) and every configuration come from
``--components DIR``, a diffusers-format checkpoint of the same family;
``--text-encoder DIR`` and ``--vae FILE`` replace those parts.

The file's layout is read from its key names before anything loads (``sniff``): LTX-2.3 and later files
(``prompt_adaln_single``, 8-layer connectors) are not converted by diffusers 0.42, and are refused with the
diffusers-format release to use instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.fit import files

from .base import WeightsNotFound

PREFIX = files.PREFIX

#: family -> (transformer class, video VAE class, audio VAE class or None)
CLASSES = {
    "ltx2": ("LTX2VideoTransformer3DModel", "AutoencoderKLLTX2Video", "AutoencoderKLLTX2Audio"),
    "ltx-video": ("LTXVideoTransformer3DModel", "AutoencoderKLLTXVideo", None),
}
DIFFUSERS_RELEASE = {
    "ltx2.3": "diffusers/LTX-2.3-Distilled-Diffusers (or Lightricks/LTX-2.5-Diffusers for LTX-2.5)",
}


def is_single_file(model: str) -> bool:
    return files.is_single_file(model)


def file_keys(path: str | Path) -> list[str]:
    try:
        return list(files.read_tensors(path))
    except ValueError as exc:
        raise WeightsNotFound(
            f"{exc}; pass an LTX-2 or LTX-Video single file or a checkpoint folder."
        ) from None


def sniff(path: str | Path) -> str:
    """The layout of a single file from its key names: "ltx2" (2.0), "ltx2.3" (2.3 and later),
    "ltx-video", or "unknown"."""
    return files.layout(file_keys(path))


def check(model: str, components: str | None) -> str:
    """The family of a single-file ``model``; else WeightsNotFound with the sentence that says what to use."""
    layout = sniff(model)
    if layout in DIFFUSERS_RELEASE:
        raise WeightsNotFound(
            f"{model} is an LTX-2.3 or later single file, which diffusers 0.42 cannot convert; download "
            f"the diffusers-format release {DIFFUSERS_RELEASE[layout]} and pass its folder as --model."
        )
    if layout not in CLASSES:
        raise WeightsNotFound(
            f"{model} is not an LTX-2 or LTX-Video single file (none of their key names); pass a "
            "diffusers-format checkpoint folder as --model."
        )
    if not components or not (Path(components).expanduser() / "model_index.json").is_file():
        raise WeightsNotFound(
            f"{model} holds only the transformer and VAEs; add --components DIR, a diffusers-format "
            f"{'LTX-2' if layout == 'ltx2' else 'LTX-Video'} checkpoint folder for the text encoder, "
            "tokenizer, scheduler and configurations."
        )
    return layout


def load_pipeline(
    pipeline_class,
    model: str,
    components: str,
    dtype,
    text_encoder: str | None = None,
    vae: str | None = None,
):
    """``pipeline_class`` with the transformer (and VAEs, where the file has them) from the single file."""
    import diffusers

    layout = check(model, components)
    transformer_cls, vae_cls, audio_cls = (getattr(diffusers, n) if n else None for n in CLASSES[layout])
    keys = file_keys(model)
    has = {part: any(k.startswith(f"{part}.") for k in keys) for part in ("vae", "audio_vae")}

    def from_file(cls, path: str, subfolder: str, **kw):
        return cls.from_single_file(path, config=components, subfolder=subfolder, torch_dtype=dtype, **kw)

    quantized = {}
    if files.is_gguf(model):
        quantized["quantization_config"] = diffusers.GGUFQuantizationConfig(compute_dtype=dtype)
    parts: dict[str, Any] = {"transformer": from_file(transformer_cls, model, "transformer", **quantized)}
    if vae or has["vae"]:
        parts["vae"] = from_file(vae_cls, vae or model, "vae")
    if audio_cls is not None and has["audio_vae"]:
        parts["audio_vae"] = from_file(audio_cls, model, "audio_vae")
    if text_encoder:
        import transformers

        te_cls = getattr(transformers, _component_class(components, "text_encoder"))
        parts["text_encoder"] = te_cls.from_pretrained(text_encoder, torch_dtype=dtype)
        parts["tokenizer"] = transformers.AutoTokenizer.from_pretrained(text_encoder)
    return pipeline_class.from_pretrained(components, torch_dtype=dtype, **parts)


def _component_class(folder: str, name: str) -> str:
    import json

    return json.loads((Path(folder).expanduser() / "model_index.json").read_text())[name][1]


# -- the inverse, for tests: a diffusers LTX-2 transformer in the original single-file layout ----------------
#: diffusers name -> original name (diffusers' convert_ltx2_transformer_to_diffusers, reversed)
_TO_ORIGINAL = (
    ("proj_in", "patchify_proj"),  # audio_proj_in -> audio_patchify_proj too
    ("av_cross_attn_video_scale_shift", "av_ca_video_scale_shift_adaln_single"),
    ("av_cross_attn_video_a2v_gate", "av_ca_a2v_gate_adaln_single"),
    ("av_cross_attn_audio_scale_shift", "av_ca_audio_scale_shift_adaln_single"),
    ("av_cross_attn_audio_v2a_gate", "av_ca_v2a_gate_adaln_single"),
    ("video_a2v_cross_attn_scale_shift_table", "scale_shift_table_a2v_ca_video"),
    ("audio_a2v_cross_attn_scale_shift_table", "scale_shift_table_a2v_ca_audio"),
    ("norm_q", "q_norm"),
    ("norm_k", "k_norm"),
)


def ltx2_transformer_to_original(state_dict: dict[str, Any]) -> dict[str, Any]:
    """Keys of a diffusers ``LTX2VideoTransformer3DModel`` state dict renamed to Lightricks' layout."""
    out = {}
    for key, value in state_dict.items():
        name = key
        if name.startswith("time_embed."):
            name = "adaln_single." + name.removeprefix("time_embed.")
        elif name.startswith("audio_time_embed."):
            name = "audio_adaln_single." + name.removeprefix("audio_time_embed.")
        for new, old in _TO_ORIGINAL:
            name = name.replace(new, old)
        out[PREFIX + name] = value
    return out


def write_ltx2_single_file(transformer, path: str | Path) -> Path:
    """``transformer`` saved as one safetensors file in the original key layout."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in transformer.state_dict().items()}
    save_file(ltx2_transformer_to_original(state), str(path))
    return Path(path)
