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
    """``state`` (original key names) as a GGUF file: layer weights of two or more dimensions whose rows
    split into whole ``qtype`` blocks are quantized, the rest stored in F32 (as ComfyUI-GGUF keeps biases,
    norms and modulation tables such as ``scale_shift_table``). Keys lose the ``model.diffusion_model.``
    prefix, as ComfyUI-GGUF's converter writes them. Q4_K is written by ``quantize_q4_k`` (the gguf
    package reads K-quants but cannot write them)."""
    import gguf
    import numpy as np

    kind = gguf.GGMLQuantizationType[qtype]
    block = gguf.GGML_QUANT_SIZES[kind][0]
    quantize = quantize_q4_k if qtype == "Q4_K" else (lambda rows: gguf.quants.quantize(rows, kind))
    writer = gguf.GGUFWriter(str(path), arch)
    for key, value in state.items():
        data = value.detach().float().cpu().numpy()
        name = key.removeprefix(PREFIX)
        if name.endswith(".weight") and data.ndim >= 2 and data.shape[-1] % block == 0:
            writer.add_tensor(name, quantize(data), raw_dtype=kind)
        else:
            writer.add_tensor(name, np.ascontiguousarray(data, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(path)


def quantize_q4_k(rows):
    """Float rows (the last dimension a multiple of 256) as GGML's Q4_K blocks, the bytes ``(*rows, 144 per
    256 weights)`` a GGUF file stores: per block an fp16 scale and an fp16 min scale, then eight sub-blocks
    of 32 weights, each with a 6-bit scale and a 6-bit min (packed into 12 bytes), then 4-bit weights (the
    first 32 of each 64 in the low nibbles). A plain min/max fit per sub-block, not llama.cpp's search:
    enough for a test file that the real GGUF reader must decode."""
    import numpy as np

    x = np.asarray(rows, dtype=np.float32)
    blocks = x.reshape(-1, 8, 32)
    n = len(blocks)
    low = np.minimum(blocks.min(axis=2), 0.0)
    scale, mins = (blocks.max(axis=2) - low) / 15.0, -low
    d16, dmin16 = (scale.max(axis=1) / 63.0).astype(np.float16), (mins.max(axis=1) / 63.0).astype(np.float16)
    d, dmin = d16.astype(np.float32)[:, None], dmin16.astype(np.float32)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(d > 0, np.rint(scale / d), 0).clip(0, 63).astype(np.uint8)
        m = np.where(dmin > 0, np.rint(mins / dmin), 0).clip(0, 63).astype(np.uint8)
        step, offset = (d * sc)[:, :, None], (dmin * m)[:, :, None]
        q = np.where(step > 0, np.rint((blocks + offset) / step), 0).clip(0, 15).astype(np.uint8)
    packed = np.empty((n, 12), np.uint8)
    packed[:, 0:4] = sc[:, :4] | ((sc[:, 4:] >> 4) << 6)
    packed[:, 4:8] = m[:, :4] | ((m[:, 4:] >> 4) << 6)
    packed[:, 8:12] = (sc[:, 4:] & 0xF) | ((m[:, 4:] & 0xF) << 4)
    q = q.reshape(n, 4, 2, 32)
    nibbles = (q[:, :, 0] | (q[:, :, 1] << 4)).reshape(n, 128)
    halves = [d16.view(np.uint8).reshape(n, 2), dmin16.view(np.uint8).reshape(n, 2)]
    return np.concatenate([*halves, packed, nibbles], axis=1).reshape(*x.shape[:-1], -1)


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
