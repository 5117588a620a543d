"""The built-in tiny model: a real LTX-Video pipeline with tiny random weights, built in code.

It exists so the whole round trip (server, extension, tests, demo) runs on a laptop CPU in seconds. Its
output is noise. It is written with ``save_pretrained`` and loaded back by exactly the code that loads
real checkpoints, so the tests exercise the real loading path.

The VAE keeps LTX's real compression (patch_size 4 and three spatio-temporal downsamplings: 32x
spatial, 8x temporal): with less compression the latent grid at real shot sizes (768x512, 121 frames)
grows 64x and a CPU run takes many minutes instead of seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

#: d_model of the tiny T5 == caption_channels of the tiny transformer.
TEXT_DIM = 32
LATENT_CHANNELS = 8
SEED = 0
#: Written next to model_index.json so the server gives a tiny model directory the "tiny" profile.
MARKER = "blender_ltx_tiny.json"

# A small word list so prompts tokenize into more than <unk>; the weights are random anyway.
_WORDS = (
    "the a an and of in on with to at over then camera slow slowly fast quickly medium dolly truck pan "
    "tilt roll zoom orbit pedestal in out left right up down static still moves shot scene man woman "
    "car street city night day light sky tree water house room red green blue white black big small "
    "walks runs looks turns close wide view frame video cinematic film seconds s"
).split()
_LETTERS = list("abcdefghijklmnopqrstuvwxyz0123456789.,-")


def _tokenizer():
    from transformers import T5Tokenizer

    # Unigram vocab: special pieces first (ids 0..2 as in T5), words with better scores than letters
    # so whole words win; "▁" marks a word start in SentencePiece.
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("\u2581" + w, -2.0 - i * 0.001) for i, w in enumerate(_WORDS)]
    vocab += [("\u2581", -8.0)] + [(c, -10.0) for c in _LETTERS]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=128)


def build_tiny_pipeline(timestep_conditioning: bool = False):
    """The tiny pipeline in memory (deterministic: every component is seeded). ``timestep_conditioning``
    gives it a timestep-aware VAE like LTX-Video 0.9.1+ (the decode settings then matter)."""
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXConditionPipeline,
        LTXVideoTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    tokenizer = _tokenizer()
    torch.manual_seed(SEED)
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer),
            d_model=TEXT_DIM,
            d_kv=8,
            d_ff=64,
            num_layers=1,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )
    torch.manual_seed(SEED + 1)
    transformer = LTXVideoTransformer3DModel(
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=TEXT_DIM,
    )
    torch.manual_seed(SEED + 2)
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=LATENT_CHANNELS,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=timestep_conditioning,
        patch_size=4,
        patch_size_t=1,
    )
    scheduler = FlowMatchEulerDiscreteScheduler()
    return LTXConditionPipeline(
        scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer
    )


def is_tiny_model(path: str | os.PathLike) -> bool:
    return (Path(path) / MARKER).is_file()


def make_tiny_model(out_dir: str | os.PathLike, *, timestep_conditioning: bool = False) -> Path:
    """Write the tiny pipeline to ``out_dir`` (atomically: a half-written model is never loaded)."""

    def write(tmp: Path) -> None:
        build_tiny_pipeline(timestep_conditioning).save_pretrained(tmp)
        (tmp / MARKER).write_text(json.dumps({"timestep_conditioning": timestep_conditioning}) + "\n")

    return write_model_atomically(out_dir, write)


def write_model_atomically(out_dir: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """``write(tmp)`` into a temp folder beside ``out_dir``, then rename it into place; an existing
    model there is kept (it was written the same way)."""
    out = Path(out_dir)
    if (out / "model_index.json").is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-", dir=out.parent))
    try:
        write(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
