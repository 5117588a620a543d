"""The tiny LTX-2: real LTX-2 classes (Gemma-3 text encoder, connectors, video and audio VAEs, vocoder,
transformer) with tiny random weights, built in code, and tiny random camera LoRAs and IC-LoRAs made for it.

Like tiny.py for LTX-Video: it is written with ``save_pretrained`` and loaded by the code that loads real
checkpoints, so tests and the demo exercise the real loading path and every capability (keyframes,
audio, camera LoRAs, reference videos). Its output is noise. The video VAE keeps the real 32x spatial /
8x temporal compression so real shot sizes stay cheap on a CPU.

Layout of the folder:
    DIR/model_index.json ...               the pipeline (LTX2InContextPipeline)
    DIR/blender_ltx_tiny.json              the marker (tiny.MARKER): the server gives it the tiny profile
    DIR/loras/camera/<Name>/               one random LoRA per official camera LoRA name
    DIR/loras/ic/<kind>_ref0.5/            one random IC-LoRA per control kind (reference at half size)
    DIR/latent_upsampler/                  a random x2 latent upsampler (drafts and their finalize)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .loras import CAMERA_NAMES, IC_KINDS
from .recipes import UPSAMPLER_FOLDER
from .tiny import MARKER, write_model_atomically

SEED = 0
#: The checkpoint family the tiny LoRAs are made for (loras.py compares it with the loaded model's).
FAMILY = "tiny-ltx2"
LATENT_CHANNELS = 8
TEXT_HIDDEN = 32
TEXT_LAYERS = 2
#: The connectors' learnable registers: ``max_sequence_length`` must be a multiple of it.
REGISTERS = 8
MAX_SEQUENCE_LENGTH = 64
AUDIO_RATE = 16000

#: The downscale factor the tiny IC-LoRAs are named with (the official union control LoRA is ref0.5).
IC_REF_SCALE = 0.5

_WORDS = (
    "the a an and of in on with to at over then camera slow slowly fast quickly dolly truck pan tilt "
    "zoom orbit in out left right up down static still moves shot scene man woman car street city "
    "night day light sky tree water house room red green blue white black walks runs video"
).split()


def make_tokenizer():
    from transformers import GemmaTokenizer

    # Special tokens, the 256 byte fallbacks, then whole words ("▁" marks a word start); no merges.
    pieces = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_image>", "<end_of_image>"]
    pieces += [f"<0x{b:02X}>" for b in range(256)]
    pieces += ["\u2581"] + ["\u2581" + w for w in _WORDS]
    vocab = {p: i for i, p in enumerate(pieces)}
    return GemmaTokenizer(vocab=vocab, merges=[], model_max_length=MAX_SEQUENCE_LENGTH)


def make_text_encoder(vocab_size: int):
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    config = Gemma3Config(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": TEXT_HIDDEN,
            "intermediate_size": 64,
            "num_hidden_layers": TEXT_LAYERS,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "max_position_embeddings": 256,
            "sliding_window": 64,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 28,
            "patch_size": 14,
        },
        mm_tokens_per_image=4,
        boi_token_index=5,
        eoi_token_index=6,
        image_token_index=4,
    )
    return Gemma3ForConditionalGeneration(config)


def transformer_kwargs() -> dict:
    return dict(
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=8,
        cross_attention_dim=16,
        audio_in_channels=8,
        audio_out_channels=8,
        audio_num_attention_heads=2,
        audio_attention_head_dim=4,
        audio_cross_attention_dim=8,
        num_layers=2,
        caption_channels=TEXT_HIDDEN,
        vae_scale_factors=(8, 32, 32),
    )


def _transformer():
    from diffusers import LTX2VideoTransformer3DModel

    return LTX2VideoTransformer3DModel(**transformer_kwargs())


def text_connectors():
    """The tiny LTX2TextConnectors for the tiny Gemma-3 (unseeded: callers seed)."""
    from diffusers.pipelines.ltx2 import LTX2TextConnectors

    return LTX2TextConnectors(
        caption_channels=TEXT_HIDDEN,  # == heads x head dim below
        text_proj_in_factor=TEXT_LAYERS + 1,
        video_connector_num_attention_heads=2,
        video_connector_attention_head_dim=16,
        video_connector_num_layers=1,
        video_connector_num_learnable_registers=REGISTERS,
        audio_connector_num_attention_heads=2,
        audio_connector_attention_head_dim=16,
        audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=REGISTERS,
        connector_rope_base_seq_len=32,
        rope_double_precision=False,
    )


def video_vae():
    """The tiny LTX-2 video VAE (8 latent channels, the real 32x spatial / 8x temporal compression;
    unseeded: callers seed). SANA-WM decodes through the same VAE class."""
    from diffusers import AutoencoderKLLTX2Video

    return AutoencoderKLLTX2Video(
        latent_channels=LATENT_CHANNELS,
        block_out_channels=(8, 8, 16, 16),
        decoder_block_out_channels=(8, 16, 32),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1),
        upsample_residual=(False, False, False),
        patch_size=4,
        spatial_compression_ratio=32,
        temporal_compression_ratio=8,
    )


def build_tiny_ltx2_pipeline():
    """The tiny pipeline in memory (deterministic: every component is seeded)."""
    import torch
    from diffusers import AutoencoderKLLTX2Audio, FlowMatchEulerDiscreteScheduler, LTX2InContextPipeline
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    tokenizer = make_tokenizer()
    torch.manual_seed(SEED)
    text_encoder = make_text_encoder(len(tokenizer))
    torch.manual_seed(SEED + 1)
    transformer = _transformer()
    torch.manual_seed(SEED + 2)
    connectors = text_connectors()
    torch.manual_seed(SEED + 3)
    vae = video_vae()
    torch.manual_seed(SEED + 4)
    # The transformer's audio_in_channels (8) is latent_channels x latent mel bins (mel_bins / 4).
    mel_bins, audio_latent = 8, 4
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=audio_latent * mel_bins // 4,
        output_channels=2,
        ch_mult=(1,),
        num_res_blocks=1,
        resolution=32,
        latent_channels=audio_latent,
        sample_rate=AUDIO_RATE,
        mel_hop_length=160,
        mel_bins=mel_bins,
    )
    torch.manual_seed(SEED + 5)
    vocoder = LTX2Vocoder(
        in_channels=2 * mel_bins,
        hidden_channels=16,
        out_channels=2,
        # 10 x 4 x 4 = the mel hop (160): the audio lasts as long as the video, as in the real vocoder.
        upsample_kernel_sizes=[20, 8, 8],
        upsample_factors=[10, 4, 4],
        resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3]],
        output_sampling_rate=AUDIO_RATE,
    )
    return LTX2InContextPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        audio_vae=audio_vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        connectors=connectors,
        transformer=transformer,
        vocoder=vocoder,
    )


def _write_random_lora(out_dir: Path, seed: int) -> None:
    """A random LoRA on the tiny transformer's attention (lora_B random too, so it changes the output)."""
    import torch
    from diffusers import LTX2InContextPipeline
    from peft import LoraConfig, get_peft_model_state_dict

    torch.manual_seed(SEED + 1)
    transformer = _transformer()
    torch.manual_seed(seed)
    transformer.add_adapter(
        LoraConfig(
            r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False
        )
    )
    LTX2InContextPipeline.save_lora_weights(
        out_dir, transformer_lora_layers=get_peft_model_state_dict(transformer), safe_serialization=True
    )


def write_tiny_loras(root: Path) -> None:
    """Camera LoRAs under root/loras/camera/<Name>/, IC-LoRAs under root/loras/ic/<kind>_ref0.5/."""
    for i, name in enumerate(CAMERA_NAMES):
        _write_random_lora(root / "loras" / "camera" / name, seed=100 + i)
    for i, kind in enumerate(IC_KINDS):
        _write_random_lora(root / "loras" / "ic" / f"{kind}_ref{IC_REF_SCALE:g}", seed=200 + i)
    for role in ("camera", "ic"):  # loras.FAMILY_FILE: the LoRAs only apply to this model
        (root / "loras" / role / "family.json").write_text(json.dumps({"family": FAMILY}) + "\n")


def build_tiny_latent_upsampler():
    """A random x2 spatial latent upsampler of LTX-2's own class for the tiny latents (8 channels; 32 middle
    channels: its group norms take groups of 32)."""
    import torch
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    torch.manual_seed(SEED + 6)
    return LTX2LatentUpsamplerModel(in_channels=LATENT_CHANNELS, mid_channels=32, num_blocks_per_stage=1)


def ensure_tiny_latent_upsampler(root: Path) -> Path:
    """root/latent_upsampler/, written (atomically) when missing; returns it."""
    target = root / UPSAMPLER_FOLDER
    if not (target / "config.json").is_file():
        write_model_atomically(target, lambda tmp: build_tiny_latent_upsampler().save_pretrained(tmp))
    return target


def make_tiny_ltx2_model(out_dir: str | os.PathLike) -> Path:
    """Write the tiny LTX-2, its LoRAs and its latent upsampler to ``out_dir`` (atomically: a half-written
    one is never loaded)."""

    def write(tmp: Path) -> None:
        build_tiny_ltx2_pipeline().save_pretrained(tmp)
        build_tiny_latent_upsampler().save_pretrained(tmp / UPSAMPLER_FOLDER)
        write_tiny_loras(tmp)
        (tmp / MARKER).write_text(json.dumps({"family": "ltx2"}) + "\n")

    return write_model_atomically(out_dir, write)
