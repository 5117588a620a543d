"""The in-process backend tests' generation request: sized for the tiny models."""

from __future__ import annotations

from typing import Any


def tiny_request(**overrides: Any):
    """A ``GenerateRequest`` for the tiny models: 17 frames of 96x64 at 24 fps, 2 steps, guidance 3,
    no negative prompt; ``overrides`` replace any of it (prompt, seed, size, stage, conditions...)."""
    from server.backends.base import GenerateRequest

    base = dict(
        prompt="a red cube",
        negative_prompt="",
        seed=5,
        num_frames=17,
        width=96,
        height=64,
        frame_rate=24.0,
        num_inference_steps=2,
        guidance_scale=3.0,
    )
    return GenerateRequest(**{**base, **overrides})
