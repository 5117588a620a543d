"""The tiny SANA-WM: real SANA-WM classes (the camera-controlled DiT, a Gemma-2 text encoder, the LTX-2 video
VAE) with tiny random weights, built in code, plus a tiny LTX-2 refiner as stage 2.

Like tiny.py and tiny_ltx2.py: written with ``save_pretrained`` and loaded by the code that loads the real
checkpoint, so tests and the demo exercise the real loading path. Its output is noise, but noise that
follows the camera: the release's camera branch starts at zero (``plucker_embedder.proj`` and every
block's ``conv_k_cam``; the trained weights fill them), so a freshly built model would barely see the
poses. Those parameters get seeded random values here (CAMERA_BRANCH_STD), large enough that two camera
paths give clips several grey levels apart.

The VAE, tokenizer, Gemma-3 and text connectors are tiny_ltx2's (one builder each).

Layout of the folder:
    DIR/model_index.json ...          stage 1 (SanaWMPipeline)
    DIR/refiner/model_index.json ...  stage 2 (SanaWMLTX2Refiner, without a VAE: it shares stage 1's)
    DIR/blender_ltx_tiny.json         the marker (tiny.MARKER): the server gives it the tiny profile
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import tiny_ltx2
from .tiny import MARKER, write_model_atomically

SEED = 0
#: Gemma-2 width == the DiT's caption channels.
TEXT_HIDDEN = 32
#: Std of the seeded values that replace the camera branch's zero initialisation (see the module doc).
CAMERA_BRANCH_STD = 2.0
#: Parameter names of the camera branch that the release initialises to zero.
CAMERA_BRANCH_PARTS = ("plucker_embedder", "conv_k_cam")
#: The refiner folder inside a SANA-WM checkpoint (sana_wm.refiner_folder looks there).
REFINER_DIR = "refiner"


def _text_encoder(vocab_size: int):
    from transformers import Gemma2Config, Gemma2Model

    return Gemma2Model(
        Gemma2Config(
            vocab_size=vocab_size,
            hidden_size=TEXT_HIDDEN,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=16,
            max_position_embeddings=512,
            sliding_window=64,
        )
    )


def _transformer():
    from diffusers import SanaWMTransformer3DModel

    return SanaWMTransformer3DModel(
        in_channels=tiny_ltx2.LATENT_CHANNELS,
        num_layers=2,
        hidden_size=64,
        num_attention_heads=2,
        linear_head_dim=32,
        chunk_plucker_post_attn_blocks=2,
        caption_channels=TEXT_HIDDEN,
        softmax_every_n=2,
    )


def wake_camera_branch(transformer, seed: int = SEED + 10, std: float | None = None) -> list[str]:
    """Fill the camera branch's all-zero parameters with seeded normal(0, std) values (CAMERA_BRANCH_STD
    by default); the names filled."""
    import torch

    std = CAMERA_BRANCH_STD if std is None else std
    generator = torch.Generator().manual_seed(seed)
    filled = []
    with torch.no_grad():
        for name, param in transformer.named_parameters():
            if any(part in name for part in CAMERA_BRANCH_PARTS) and not param.any():
                param.copy_(torch.randn(param.shape, generator=generator) * std)
                filled.append(name)
    return filled


def build_tiny_sana_wm_pipeline():
    """Stage 1 in memory (deterministic: every component is seeded), camera branch awake."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, SanaWMPipeline

    tokenizer = tiny_ltx2.make_tokenizer()
    torch.manual_seed(SEED)
    text_encoder = _text_encoder(len(tokenizer))
    torch.manual_seed(SEED + 1)
    transformer = _transformer()
    if not wake_camera_branch(transformer):
        raise RuntimeError(
            "the tiny SANA-WM's camera branch has no zero parameters to fill (diffusers changed?)"
        )
    torch.manual_seed(SEED + 3)
    vae = tiny_ltx2.video_vae()
    return SanaWMPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(),
    )


def build_tiny_refiner(vae=None):
    """Stage 2 in memory: an LTX-2 refiner transformer of tiny_ltx2's shape, its Gemma-3 and connectors."""
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SanaWMLTX2Refiner,
        SanaWMLTX2RefinerTransformer3DModel,
    )

    tokenizer = tiny_ltx2.make_tokenizer()
    torch.manual_seed(SEED + 20)
    text_encoder = tiny_ltx2.make_text_encoder(len(tokenizer))
    torch.manual_seed(SEED + 21)
    transformer = SanaWMLTX2RefinerTransformer3DModel(**tiny_ltx2.transformer_kwargs())
    torch.manual_seed(SEED + 22)
    connectors = tiny_ltx2.text_connectors()
    return SanaWMLTX2Refiner(
        transformer=transformer,
        connectors=connectors,
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        # shift 1: the refiner's distilled sigmas pass through unchanged (the refiner's own note).
        scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0),
        vae=vae,
        text_max_sequence_length=tiny_ltx2.MAX_SEQUENCE_LENGTH,
    )


def make_tiny_sana_wm_model(out_dir: str | os.PathLike) -> Path:
    """Write the tiny SANA-WM (stage 1, and the refiner under refiner/) to ``out_dir``, atomically."""

    def write(tmp: Path) -> None:
        build_tiny_sana_wm_pipeline().save_pretrained(tmp)
        build_tiny_refiner().save_pretrained(tmp / REFINER_DIR)
        (tmp / MARKER).write_text(json.dumps({"family": "sana-wm"}) + "\n")

    return write_model_atomically(out_dir, write)
