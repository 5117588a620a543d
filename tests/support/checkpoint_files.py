"""Tiny single-file checkpoints in the original layouts, written from diffusers models (the inverse of
diffusers' single-file conversions, written here from the original key names): the tests' stand-ins
for the files users download (Lightricks' and ComfyUI's safetensors, ComfyUI-GGUF's quantized
transformers)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

PREFIX = "model.diffusion_model."


def write_gguf(state: dict[str, Any], path: Path, qtype: str = "Q8_0", arch: str = "ltxv") -> Path:
    """``state`` (original key names) as a GGUF file: weights of two or more dimensions whose rows split
    into whole ``qtype`` blocks are quantized, the rest stored in F32 (as ComfyUI-GGUF keeps biases and
    norms). Keys lose the ``model.diffusion_model.`` prefix, as ComfyUI-GGUF's converter writes them."""
    import gguf
    import numpy as np

    kind = gguf.GGMLQuantizationType[qtype]
    block = gguf.GGML_QUANT_SIZES[kind][0]
    writer = gguf.GGUFWriter(str(path), arch)
    for key, value in state.items():
        data = value.detach().float().cpu().numpy()
        name = key.removeprefix(PREFIX)
        if data.ndim >= 2 and data.shape[-1] % block == 0:
            writer.add_tensor(name, gguf.quants.quantize(data, kind), raw_dtype=kind)
        else:
            writer.add_tensor(name, np.ascontiguousarray(data, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(path)


def ltx_video_transformer_to_original(state: dict[str, Any]) -> dict[str, Any]:
    """A diffusers ``LTXVideoTransformer3DModel`` state dict in LTX-Video 0.9's single-file key layout."""
    renames = (("proj_in", "patchify_proj"), ("time_embed", "adaln_single"), ("norm_q", "q_norm"))
    out = {}
    for key, value in state.items():
        for new, old in (*renames, ("norm_k", "k_norm")):
            key = key.replace(new, old)
        out[PREFIX + key] = value
    return out


def _block(match: re.Match, stride: int, offset: int) -> str:
    return f"{match[1]}.{stride * int(match[2]) + offset}"


def ltx2_vae_to_original(state: dict[str, Any]) -> dict[str, Any]:
    """A diffusers ``AutoencoderKLLTX2Video`` state dict (LTX-2's four encoder and three decoder levels) in
    the single file's ``vae.`` layout: the original numbers a level's blocks and its resampler as one list
    (encoder: level i at 2i, its downsampler at 2i + 1, the mid block last, at 8; decoder: the mid block
    at 0, level i's upsampler at 2i + 1, its blocks at 2i + 2)."""
    out = {}
    for key, value in state.items():
        if key.startswith("encoder."):
            key = re.sub(r"^(encoder\.down_blocks)\.(\d+)\.downsamplers\.0", lambda m: _block(m, 2, 1), key)
            key = re.sub(r"^(encoder\.down_blocks)\.(\d+)\.(?=resnets)", lambda m: _block(m, 2, 0) + ".", key)
            key = key.replace("encoder.mid_block.", "encoder.down_blocks.8.")
        elif key.startswith("decoder."):
            key = re.sub(r"^(decoder\.up_blocks)\.(\d+)\.upsamplers\.0", lambda m: _block(m, 2, 1), key)
            key = re.sub(r"^(decoder\.up_blocks)\.(\d+)\.(?=resnets)", lambda m: _block(m, 2, 2) + ".", key)
            key = key.replace("decoder.mid_block.", "decoder.up_blocks.0.")
        key = key.replace(".resnets.", ".res_blocks.")
        key = {"latents_mean": "per_channel_statistics.mean-of-means"}.get(key, key)
        key = {"latents_std": "per_channel_statistics.std-of-means"}.get(key, key)
        out["vae." + key] = value
    return out


def write_safetensors(state: dict[str, Any], path: Path) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous() for k, v in state.items()}, str(path))
    return Path(path)
