"""What a single checkpoint file holds, read from its header alone (no weights loaded): every tensor's name,
shape, stored type and bytes. A ``.safetensors`` file starts with an 8-byte length and a JSON header; a
``.gguf`` file's tensor table comes before its data (gguf's reader maps the file and reads only that table).

GGUF quantization types store blocks of weights: ``BYTES_PER_PARAM`` is a block's bytes over its weights
(Q8_0: 34 bytes per 32 weights; Q4_K: 144 bytes per 256).
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

SUFFIXES = (".safetensors", ".sft", ".gguf")
#: Bytes per parameter of the stored types (GGUF's block sizes: gguf.GGML_QUANT_SIZES, checked by a test).
BYTES_PER_PARAM = {
    "F32": 4.0,
    "F16": 2.0,
    "BF16": 2.0,
    "F8_E4M3": 1.0,
    "F8_E5M2": 1.0,
    "Q8_0": 34 / 32,
    "Q6_K": 210 / 256,
    "Q5_K": 176 / 256,
    "Q5_0": 22 / 32,
    "Q4_K": 144 / 256,
    "Q4_0": 18 / 32,
    "Q3_K": 110 / 256,
    "Q2_K": 84 / 256,
}
#: The GGUF quantizations fit suggests for a card, best first.
GGUF_CHOICES = ("Q8_0", "Q6_K", "Q5_K", "Q4_K")
#: Stored types that are not a quantization (held as plain tensors once loaded).
PLAIN = ("F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2")


@dataclass(frozen=True)
class Tensor:
    shape: tuple[int, ...]
    dtype: str  # safetensors' dtype names (BF16, F8_E4M3, ...) or GGUF's type names (Q8_0, Q4_K, F32, ...)
    nbytes: int

    @property
    def params(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


def is_single_file(model: str) -> bool:
    return model.endswith(SUFFIXES) and Path(model).expanduser().is_file()


def is_gguf(model: str | Path) -> bool:
    return str(model).endswith(".gguf")


def read_tensors(path: str | Path) -> dict[str, Tensor]:
    """Every tensor of a single file from its header; ValueError with one sentence when it is not one."""
    path = Path(path).expanduser()
    return _gguf_tensors(path) if is_gguf(path) else _safetensors_tensors(path)


def _safetensors_tensors(path: Path) -> dict[str, Tensor]:
    with path.open("rb") as f:
        head = f.read(8)
        size = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
        if not 0 < size <= min(path.stat().st_size - 8, 100 * 2**20):
            raise ValueError(f"{path} is not a safetensors file (its first 8 bytes are no header length)")
        try:
            header = json.loads(f.read(size))
        except ValueError:
            raise ValueError(f"{path} is not a safetensors file (its header is not JSON)") from None
    return {
        name: Tensor(tuple(t["shape"]), t["dtype"], t["data_offsets"][1] - t["data_offsets"][0])
        for name, t in header.items()
        if name != "__metadata__"
    }


def _gguf_tensors(path: Path) -> dict[str, Tensor]:
    try:
        from gguf import GGUFReader
    except ImportError:
        raise ValueError(
            f"{path} is a GGUF file and reading one needs the gguf package: pip install -e '.[server]'"
        ) from None
    try:
        reader = GGUFReader(str(path))
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path} is not a GGUF file ({str(exc).splitlines()[0]})") from None
    # GGUF lists dimensions innermost first; torch's order is the reverse.
    return {
        t.name: Tensor(tuple(int(d) for d in reversed(t.shape.tolist())), t.tensor_type.name, int(t.n_bytes))
        for t in reader.tensors
    }


def quantization(tensors: dict[str, Tensor]) -> str | None:
    """The file's GGUF quantization, named for the type most of its weights are stored in (as GGUF
    releases are named: Q8_0, Q4_K, ...); None when no tensor is quantized."""
    by_type: Counter[str] = Counter()
    for t in tensors.values():
        if t.dtype not in PLAIN:
            by_type[t.dtype] += t.params
    return by_type.most_common(1)[0][0] if by_type else None


def summary(tensors: dict[str, Tensor]) -> dict[str, dict[str, int]]:
    """Parameters and bytes per stored type."""
    out: dict[str, dict[str, int]] = {}
    for t in tensors.values():
        entry = out.setdefault(t.dtype, {"params": 0, "bytes": 0})
        entry["params"] += t.params
        entry["bytes"] += t.nbytes
    return out


PREFIX = "model.diffusion_model."
#: Top-level key prefixes of the parts a Lightricks single file holds besides its transformer.
PARTS = {
    "vae.": "vae",
    "audio_vae.": "audio_vae",
    "vocoder.": "vocoder",
    "video_embeddings_connector.": "connectors",
    "audio_embeddings_connector.": "connectors",
    "text_embedding_projection.": "connectors",
}


def layout(keys) -> str:
    """The layout of a single file from its key names: "ltx2" (2.0), "ltx2.3" (2.3 and later),
    "ltx-video", or "unknown"."""
    bare = [k.removeprefix(PREFIX) for k in keys]
    if any("prompt_adaln_single" in k for k in bare):
        return "ltx2.3"
    if any(k.startswith("av_ca_a2v_gate_adaln_single.") for k in bare):
        return "ltx2"
    if any(k.startswith("patchify_proj.") for k in bare):
        return "ltx-video"
    return "unknown"


def part_of(key: str) -> str:
    """The pipeline component a single file's tensor belongs to (the transformer unless named otherwise)."""
    bare = key.removeprefix(PREFIX)
    return next((part for prefix, part in PARTS.items() if bare.startswith(prefix)), "transformer")
