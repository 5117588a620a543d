"""The tiny look model: diffusers' ``Flux2KleinPipeline`` (Qwen3 text encoder, FLUX.2 VAE with its latent
batch norm, FLUX.2 transformer) with tiny random weights, built in code.

Like tiny.py for the video model: written with ``save_pretrained`` and loaded by the code that loads a
real FLUX.2 klein checkpoint (look.py), so the tests and the demo run the real loading path, the real
multi-reference conditioning and the real denoising loop. Its stills are noise. The VAE keeps the real 8x
compression (four blocks), so the 16-pixel size rule is the real one.

The text encoder has 28 layers (of width 16) because the pipeline reads hidden states 9, 18 and 27, as
it does from the real Qwen3; fewer layers would need a tiny-only code path in look.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .tiny import MARKER, write_model_atomically

SEED = 0
TEXT_HIDDEN = 16
TEXT_LAYERS = 28
LATENT_CHANNELS = 4
#: Marker contents: the server gives a folder with this family the tiny look profile (4 steps).
FAMILY = "look"

_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
#: Qwen's chat layout, reduced to what Flux2KleinPipeline asks of it (one user turn, then the
#: assistant's turn opened; ``enable_thinking`` is accepted and ignored).
_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for the bytes 0..255: printable Latin-1 bytes
    stand for themselves, the others are shifted past 255 so no symbol is whitespace or a control."""
    printable = [b for b in range(256) if 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255]
    out, shift = {}, 0
    for b in range(256):
        if b in printable:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + shift)
            shift += 1
    return [out[b] for b in range(256)]


def _tokenizer():
    from transformers import Qwen2Tokenizer

    # Bytes only, no merges: every prompt tokenizes (a byte per token) and different prompts differ.
    vocab = {s: i for i, s in enumerate(_byte_symbols())}
    for s in _SPECIALS:
        vocab[s] = len(vocab)
    tok = Qwen2Tokenizer(vocab=vocab, merges=[], model_max_length=512)
    tok.add_special_tokens({"additional_special_tokens": list(_SPECIALS[1:])})
    tok.chat_template = _CHAT_TEMPLATE
    return tok


def build_tiny_look_pipeline():
    """The tiny pipeline in memory (deterministic: every component is seeded)."""
    import torch
    from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2KleinPipeline
    from diffusers import Flux2Transformer2DModel
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = _tokenizer()
    torch.manual_seed(SEED)
    text_encoder = Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=len(tokenizer),
            hidden_size=TEXT_HIDDEN,
            intermediate_size=32,
            num_hidden_layers=TEXT_LAYERS,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=8,
            max_position_embeddings=1024,
            tie_word_embeddings=True,
        )
    )
    torch.manual_seed(SEED + 1)
    transformer = Flux2Transformer2DModel(
        in_channels=LATENT_CHANNELS * 4,  # 2x2 patches of the VAE latent
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=3 * TEXT_HIDDEN,  # three stacked hidden-state layers
        timestep_guidance_channels=32,
        axes_dims_rope=(4, 4, 4, 4),
        guidance_embeds=False,  # klein has no guidance embedding
    )
    torch.manual_seed(SEED + 2)
    vae = AutoencoderKLFlux2(
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=4,
        mid_block_add_attention=False,
        sample_size=64,
    )
    return Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        is_distilled=True,
    )


def make_tiny_look_model(out_dir: str | os.PathLike) -> Path:
    """Write the tiny look pipeline to ``out_dir`` (atomically: a half-written one is never loaded)."""

    def write(tmp: Path) -> None:
        build_tiny_look_pipeline().save_pretrained(tmp)
        (tmp / MARKER).write_text(json.dumps({"family": FAMILY}) + "\n")

    return write_model_atomically(out_dir, write)
