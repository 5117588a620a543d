"""Tiny single-file checkpoints in the original layouts, written from diffusers models (the inverse of
diffusers' single-file conversions, written here from the original key names): the tests' stand-ins
for the files users download (Lightricks' and ComfyUI's safetensors, ComfyUI-GGUF's quantized
transformers)."""

from __future__ import annotations

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
