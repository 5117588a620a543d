"""Run a long job's chain on a real LTXBackend and save what each segment was asked for and made.

    python tests/support/record_chain.py TINY_MODEL_DIR OUT.npz

Run in its own process (torch stays out of pytest); tests/server/test_long_shots.py reads the npz.
Saved: ``out`` (the stitched clip), ``made_<i>`` (segment i's output), ``cond_<i>`` (the frames of
segment i's video condition), ``plain_1`` (segment 1's request again without its video condition),
``progress`` (every value the chain reported).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.generation import chain, conditioning  # noqa: E402
from server.backends.ltx import LTXBackend  # noqa: E402


class RecordingBackend(LTXBackend):
    """The real backend; it only keeps each request and clip for the test to look at."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def generate(self, request, progress_cb, cancel_check):
        clip = super().generate(request, progress_cb, cancel_check)
        self.calls.append((request, clip))
        return clip


def main(model: str, out_path: str) -> None:
    import dataclasses

    import torch

    torch.set_num_threads(1)
    backend = RecordingBackend(model, device="cpu")
    backend.load()
    request = {
        "prompt": "a corridor",
        "negative_prompt": "",
        "seed": 3,
        "num_frames": 25,
        "width": 64,
        "height": 64,
        "frame_rate": 24.0,
        "num_inference_steps": 2,
        "guidance_scale": 1.0,
        "conditions": [],
    }
    applied = conditioning.apply(request).to_dict()
    records = chain.segment_records(request, [], segment_frames=17, overlap=9)
    progress: list[float] = []
    clip = chain.run_chain(
        backend, conditioning.generate_request(request, applied, []), records, progress.append, lambda: False
    )
    arrays = {"out": clip.frames, "progress": np.array(progress)}
    for i, (req, made) in enumerate(backend.calls):
        arrays[f"made_{i}"] = made.frames
        arrays[f"cond_{i}"] = (
            req.video_conditions[0].frames if req.video_conditions else np.zeros((0, 64, 64, 3), np.uint8)
        )
    second = backend.calls[1][0]
    plain = backend.generate(dataclasses.replace(second, video_conditions=[]), lambda p: None, lambda: False)
    arrays["plain_1"] = plain.frames
    np.savez(out_path, **arrays)
    print(json.dumps({"segments": len(records), "frames": len(clip.frames)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
