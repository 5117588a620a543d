"""The memory mode a server runs in: forced by ``--memory-mode``, or on CUDA the one ``fit`` chooses for the
card (``--vram auto`` reads the card's size), and how each mode places a loaded diffusers pipeline.

  resident              every component on the device in the pipeline's dtype
  fp8                   the transformer stored in float8_e4m3fn, computed in the pipeline's dtype (diffusers'
                        layerwise casting); everything else resident
  text-encoder-cpu      the text encoder stays on the CPU; only its embeddings (cached per prompt) move
  fp8+text-encoder-cpu  both
  group-offload         every component offloaded to the CPU block by block, onloaded just in time; on CUDA
                        the next block is prefetched on a CUDA stream (on the CPU there is no stream to use)
  sequential            one leaf module at a time (the least memory, slowest): diffusers' leaf-level group
                        offload, the footprint of accelerate's sequential offload and the same code on the CPU
                        (accelerate's own fails there on Gemma 3's scaled embedding); streams on CUDA

A GGUF ``--model FILE.gguf`` keeps its transformer quantized (diffusers' GGUF quantizer) under any mode but
the fp8 ones (no casting on top of a quantization); health's ``memory.quantization`` names it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from . import files
from .plan import MODES

log = logging.getLogger("server.memory")

#: A mode that moves no numbers: its output matches resident (fp8 changes the stored weights).
LOSSLESS = ("resident", "text-encoder-cpu", "group-offload", "sequential")


@dataclass
class MemoryDecision:
    mode: str
    why: str
    forced: bool = False
    vae_tiling: bool = False
    vram_gib: float | None = None
    predicted_peak_gib: float | None = None
    group_offload_streams: bool = False
    #: A GGUF transformer's quantization and what it costs, e.g. "GGUF Q8_0 (1.06 bytes per parameter) ..."
    quantization: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def text_encoder_on_cpu(self) -> bool:
        return "text-encoder-cpu" in self.mode


def check_mode(mode: str | None, model: str | None = None) -> str | None:
    """None when ``mode`` is auto or a known mode that applies to ``model``, else the sentence that says
    what to pass."""
    if mode in (None, "auto"):
        return None
    if mode not in MODES:
        return f"--memory-mode {mode!r} is not a memory mode; use auto or one of: {', '.join(MODES)}"
    if mode.startswith("fp8") and model and files.is_gguf(model):
        return (
            f"--memory-mode {mode} casts bf16 weights to fp8, but {model} is already quantized (GGUF); use "
            "resident, text-encoder-cpu, group-offload or sequential"
        )
    return None


def describe_quantization(model: str) -> str | None:
    """What a GGUF ``model`` keeps quantized, for health; None for any other checkpoint."""
    if not files.is_gguf(model):
        return None
    tensors = files.read_tensors(model)
    quant = files.quantization(tensors)
    if quant is None:
        return None
    held = files.summary(tensors)[quant]
    return (
        f"GGUF {quant}: {held['params'] / 1e6:.3g} M of the transformer's weights stay {quant} on the device "
        f"({files.BYTES_PER_PARAM[quant]:.3g} bytes per parameter) and are dequantized one layer at a time"
    )


def check_vram(vram: str) -> str | None:
    if vram == "auto":
        return None
    try:
        ok = float(vram) > 0
    except ValueError:
        ok = False
    return None if ok else f"--vram must be auto or the card's memory in GiB (e.g. 24), not {vram!r}"


def decide(
    mode: str | None, vram: str, device: str, checkpoint: str, components: str | None = None
) -> MemoryDecision:
    """The mode for this server: forced, resident on the CPU, else fit's choice for the card (a single-file
    ``checkpoint`` is planned from its header, its other parts from ``components``)."""
    quantization = describe_quantization(checkpoint)
    if mode not in (None, "auto"):
        return MemoryDecision(
            mode, f"--memory-mode {mode} was asked for", forced=True, quantization=quantization
        )
    if device != "cuda":
        return MemoryDecision(
            "resident",
            f"on {device} every mode holds the same weights in RAM; resident is fastest",
            quantization=quantization,
        )
    card = _card_gib() if vram == "auto" else float(vram)
    source = f"the card ({card:g} GiB)" if vram == "auto" else f"--vram {card:g}"
    from .plan import FitError, choose_mode, load_checkpoint

    try:
        ckpt = load_checkpoint(checkpoint, components)
    except (FitError, OSError, ValueError, KeyError) as exc:
        return MemoryDecision(
            "resident",
            f"fit could not read {checkpoint} ({exc}); resident",
            vram_gib=card,
            quantization=quantization,
        )
    choice = choose_mode(ckpt, card)
    why = f"fit for {source}: {choice['why']}"
    return MemoryDecision(
        choice["mode"],
        why,
        vae_tiling=choice["vae_tiling"],
        vram_gib=card,
        predicted_peak_gib=choice["peak_gib"],
        quantization=quantization,
    )


def _card_gib() -> float:
    import torch

    return round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)


def apply(pipe, decision: MemoryDecision, device: str, dtype) -> None:
    """Place ``pipe`` (just loaded, on the CPU) on ``device`` as the mode says."""
    import torch

    mode = decision.mode
    if decision.vae_tiling and hasattr(pipe, "vae"):
        pipe.vae.enable_tiling()
    if mode.startswith("fp8"):
        # Cast on the CPU before moving: the device never holds the full-precision transformer.
        pipe.transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
    if mode in ("resident", "fp8"):
        pipe.to(device)
    elif decision.text_encoder_on_cpu:
        for name, component in pipe.components.items():
            if name != "text_encoder" and isinstance(component, torch.nn.Module):
                component.to(device)
    elif mode in ("group-offload", "sequential"):
        streams = device == "cuda"
        decision.group_offload_streams = streams
        levels = {"offload_type": "block_level", "num_blocks_per_group": 1}
        pipe.enable_group_offload(
            onload_device=torch.device(device),
            offload_device=torch.device("cpu"),
            **(levels if mode == "group-offload" else {"offload_type": "leaf_level"}),
            use_stream=streams,
        )
    else:  # check_mode refused it before loading
        raise ValueError(check_mode(mode))
    log.info("memory mode %s: %s", mode, decision.why)
