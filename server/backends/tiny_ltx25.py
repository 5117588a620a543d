"""The tiny LTX-2.5: diffusers' DFR pipeline (``LTX2DFRPipeline``) with tiny random weights, built in code and
written with ``save_pretrained``, so the server loads it with the code that loads real LTX-2.5 checkpoints.

It reuses the tiny LTX-2's text encoder, connectors, VAEs and vocoder (tiny_ltx2.py) and adds what makes a
checkpoint 2.5-shaped: a transformer with the learned keyframe-slot embedding
(``use_keyframes_abs_pos_embedding``), a duration head, a temporal x2 latent upsampler, the diffusion decoder,
and a tiny Gemma-4 prompt enhancer. Its output is noise.

One difference from a real checkpoint: the enhancer's processor is a ``LlavaProcessor`` (a tokenizer with a
chat template and a PIL image processor) rather than ``Gemma4Processor``, which needs torchvision for its
video part; the pipeline only uses the processor's tokenizer, chat template and ``__call__``.

Layout of the folder:
    DIR/model_index.json ...               the pipeline (LTX2DFRPipeline, with prompt_enhancer/processor/
                                           duration_head)
    DIR/blender_ltx_tiny.json              the marker (tiny.MARKER)
    DIR/latent_upsampler/                  spatial x2 latent upsampler (the finalize's first step)
    DIR/temporal_latent_upsampler/         temporal x2 latent upsampler (the temporal refine round)
    DIR/diffusion_decoder/                 the diffusion video decoder (the final decode)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import tiny_ltx2
from .recipes import DIFFUSION_DECODER_FOLDER, TEMPORAL_UPSAMPLER_FOLDER, UPSAMPLER_FOLDER
from .tiny import MARKER, write_model_atomically

SEED = 50
#: The words the enhancer's tokenizer knows beyond its byte fallbacks (its output is random anyway).
_ENHANCER_WORDS = "the a camera moves slowly left right in out car street scene".split()
_CHAT_TEMPLATE = (
    "{% for m in messages %}<start_of_turn>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for part in m['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% else %}<start_of_image>{% endif %}{% endfor %}{% endif %}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def _transformer():
    """The tiny LTX-2 transformer with the keyframe-slot embedding DFR needs (random, not zero: a zero
    embedding would not mark the slots)."""
    import torch
    from diffusers import LTX2VideoTransformer3DModel

    model = LTX2VideoTransformer3DModel(
        **tiny_ltx2.transformer_kwargs(), use_keyframes_abs_pos_embedding=True
    )
    torch.nn.init.normal_(model.keyframes_abs_pos_embedding, std=0.1)
    return model


def _duration_head():
    from diffusers.pipelines.ltx2.duration_head import LTX2DurationHead

    # It reads the connectors' outputs (as the DFR pipeline feeds it): both as wide as the tiny caption
    # (TEXT_HIDDEN), which the transformer then projects to its own widths.
    return LTX2DurationHead(
        video_cross_attention_dim=tiny_ltx2.TEXT_HIDDEN,
        audio_cross_attention_dim=tiny_ltx2.TEXT_HIDDEN,
        pooler_hidden_dim=16,
        num_pooler_heads=2,
        mlp_hidden_dim=16,
    )


def _enhancer_tokenizer():
    from transformers import GemmaTokenizer

    pieces = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_image>", "<end_of_image>"]
    pieces += ["<image_soft_token>", "<start_of_turn>", "<end_of_turn>"]
    pieces += [f"<0x{b:02X}>" for b in range(256)]
    pieces += ["\u2581"] + ["\u2581" + w for w in _ENHANCER_WORDS]
    return GemmaTokenizer(
        vocab={p: i for i, p in enumerate(pieces)},
        merges=[],
        model_max_length=8192,
        chat_template=_CHAT_TEMPLATE,
        extra_special_tokens={
            "image_token": "<image_soft_token>",
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
        },
    )


def _prompt_enhancer(tokenizer):
    """A one-layer Gemma-4 text model without a vision tower (so keyframes do not reach it): it writes
    random tokens, which is what the tests need (an enhancer that drops the motion sentence)."""
    from transformers import Gemma4Config, Gemma4ForConditionalGeneration

    config = Gemma4Config(
        text_config={
            "vocab_size": len(tokenizer),
            "vocab_size_per_layer_input": len(tokenizer),
            "hidden_size_per_layer_input": 8,
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 8,
            "global_head_dim": 8,
            "max_position_embeddings": 8192,
            "sliding_window": 64,
        },
        vision_config=None,
        audio_config=None,
        image_token_id=tokenizer.image_token_id,
        boi_token_id=tokenizer.convert_tokens_to_ids("<start_of_image>"),
        eoi_token_id=tokenizer.convert_tokens_to_ids("<end_of_image>"),
    )
    return Gemma4ForConditionalGeneration(config)


def _processor(tokenizer):
    from transformers import LlavaProcessor
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    return LlavaProcessor(
        image_processor=LlavaImageProcessorPil(),
        tokenizer=tokenizer,
        chat_template=_CHAT_TEMPLATE,
        image_token="<image_soft_token>",
        patch_size=14,
    )


def build_tiny_ltx25_pipeline():
    """The tiny DFR pipeline in memory (deterministic: every random part is seeded)."""
    import torch
    from diffusers import LTX2DFRPipeline

    base = tiny_ltx2.build_tiny_ltx2_pipeline()
    parts = {
        k: getattr(base, k)
        for k in ("scheduler", "vae", "audio_vae", "text_encoder", "tokenizer", "connectors", "vocoder")
    }
    torch.manual_seed(SEED)
    parts["transformer"] = _transformer()
    torch.manual_seed(SEED + 1)
    parts["duration_head"] = _duration_head()
    tokenizer = _enhancer_tokenizer()
    torch.manual_seed(SEED + 2)
    parts["prompt_enhancer"] = _prompt_enhancer(tokenizer)
    parts["processor"] = _processor(tokenizer)
    return LTX2DFRPipeline(**parts)


def build_tiny_temporal_upsampler():
    import torch
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    torch.manual_seed(SEED + 3)
    return LTX2LatentUpsamplerModel(
        in_channels=tiny_ltx2.LATENT_CHANNELS,
        mid_channels=32,  # its group norms take groups of 32
        num_blocks_per_stage=1,
        dims=3,
        spatial_upsample=False,
        temporal_upsample=True,
    )


def build_tiny_diffusion_decoder():
    """The diffusion decoder at tiny widths. Its neighbourhood attention needs each side of a stage at
    least its kernel, and tiny latents are 2 to 12 cells wide, so stages 1-4 attend over 1 cell and stage 5
    over 3. On a CPU its attention runs unfused, at a cost that grows with the square of a stage's cells,
    so the patch is the whole 32 pixels (the real decoder: 4, then three spatial x2): the same 32x / 8x
    compression, and measured here 0.1 s instead of 17 s (patch 4) for 17 frames at 128x128."""
    import torch
    from diffusers.models.autoencoders.ltx2_diffusion_decoder import LTX2VideoDiffusionDecoderModel

    torch.manual_seed(SEED + 4)
    return LTX2VideoDiffusionDecoderModel(
        latent_channels=tiny_ltx2.LATENT_CHANNELS,
        patch_size=32,
        decoder_head_dim=8,
        decoder_stage_channels=(16, 16, 8, 8, 8),
        decoder_stage_depths=(1, 1, 1, 1, 1),
        decoder_stage_kernels=((1, 1, 1),) * 4,
        decoder_upsample_strides=((1, 1, 1), (2, 1, 1), (2, 1, 1), (2, 1, 1)),
        decoder_upsample_channel_reductions=(1, 2, 1, 1),
        decoder_stage5_kernel=(3, 3, 3),
        decoder_t_emb_dim=16,
    )


def make_tiny_ltx25_model(out_dir: str | os.PathLike) -> Path:
    """Write the tiny LTX-2.5 and its recipe's models to ``out_dir`` (atomically)."""

    def write(tmp: Path) -> None:
        build_tiny_ltx25_pipeline().save_pretrained(tmp)
        tiny_ltx2.build_tiny_latent_upsampler().save_pretrained(tmp / UPSAMPLER_FOLDER)
        build_tiny_temporal_upsampler().save_pretrained(tmp / TEMPORAL_UPSAMPLER_FOLDER)
        build_tiny_diffusion_decoder().save_pretrained(tmp / DIFFUSION_DECODER_FOLDER)
        (tmp / MARKER).write_text(json.dumps({"family": "ltx2.5"}) + "\n")

    return write_model_atomically(out_dir, write)
