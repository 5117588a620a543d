"""The LTX-2.5 backend in this process on the tiny LTX-2.5 (loaded from its folder by the code that loads
real checkpoints): what it loads and leaves out, what each pipeline of the recipe receives (the draft at
half the rate with its conditions moved onto that rate, the temporal round told the draft's frames),
cancel in the middle of a finalize, and a folder without a temporal upsampler saying why it has no
drafts."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from support.server import backend_request

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")


def _load(folder, data_dir, **kwargs):
    from server.backends.ltx25 import LTX25Backend

    torch.set_num_threads(1)
    backend = LTX25Backend(str(folder), device="cpu", data_dir=data_dir, **kwargs)
    backend.load()
    return backend


@pytest.fixture(scope="module")
def backend(tiny_ltx25_dir, tmp_path_factory):
    return _load(tiny_ltx25_dir, tmp_path_factory.mktemp("b25"), prompt_enhancement=True)


def _request(**overrides):
    from PIL import Image

    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8))
    from server.backends.base import Keyframe

    base = dict(
        width=128,
        height=128,
        num_frames=33,
        frame_rate=24.0,
        num_inference_steps=4,
        guidance_scale=1.0,
        keyframes=[Keyframe(image, 0, 1.0), Keyframe(image, 17, 0.8)],
    )
    return backend_request(**{**base, **overrides})


def test_the_tiny_checkpoint_loads_every_part_of_the_recipe(backend, tiny_ltx25_dir):
    pipe = backend.pipe
    assert type(pipe).__name__ == "LTX2DFRPipeline"
    assert pipe.transformer.config.use_keyframes_abs_pos_embedding is True
    assert type(pipe.prompt_enhancer).__name__ == "Gemma4ForConditionalGeneration"
    assert type(backend.temporal).__name__ == "LTX2DFRTemporalRefinePipeline"
    assert type(backend.temporal.scheduler).__name__ == "LTXEulerAncestralRFScheduler"
    assert backend.temporal.transformer is pipe.transformer  # shared, not loaded twice
    assert type(backend.decoder.diffusion_decoder).__name__ == "LTX2VideoDiffusionDecoderModel"
    assert type(backend.upsampler).__name__ == "LTX2LatentUpsamplePipeline"
    # the duration head is in the folder but not loaded without --duration-head (it only advises)
    assert (tiny_ltx25_dir / "duration_head" / "config.json").is_file() and pipe.duration_head is None
    assert backend.capabilities()["duration_head"].startswith("off (--duration-head loads it")


def test_without_the_flag_the_enhancer_is_not_loaded(tiny_ltx25_dir, tmp_path):
    plain = _load(tiny_ltx25_dir, tmp_path)
    assert plain.pipe.prompt_enhancer is None and plain.pipe.processor is None
    assert "prompt_enhancement" not in plain.capability_list()
    assert {"draft", "finalize"} <= set(plain.capability_list())


def test_the_draft_runs_at_half_the_rate_and_the_temporal_round_knows_its_frames(backend, monkeypatch):
    from dataclasses import replace

    seen = {}
    for name in ("pipe", "temporal"):
        pipe_cls = type(getattr(backend, name))
        original = pipe_cls.__call__

        def recording(self, *args, _name=name, _original=original, **kwargs):
            seen.setdefault(_name, []).append(kwargs)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(pipe_cls, "__call__", recording)
    request = _request()
    draft = backend.generate(replace(request, stage="draft"), lambda p: None, lambda: False)
    first = seen["pipe"][0]
    assert (first["width"], first["height"], first["num_frames"], first["frame_rate"]) == (64, 64, 17, 12.0)
    # final frame 17 is draft frame 8, in the draft's second latent
    assert [(c.index, c.strength) for c in first["conditions"]] == [(0, 1.0), (1, 0.8)]
    assert draft.frames.shape == (17, 64, 64, 3) and draft.frame_rate == 12.0

    final = backend.finalize(request, draft.latents, lambda p: None, lambda: False)
    refine = seen["pipe"][1]
    assert (refine["width"], refine["num_frames"], refine["frame_rate"]) == (128, 17, 12.0)
    assert refine["latents"].shape[3:] == (4, 4) and refine["keyframes_latents"] is not None
    (temporal,) = seen["temporal"]
    assert temporal["condition_num_frames"] == 17 and temporal["round_index"] == 1
    assert temporal["frame_rate"] == 12.0
    assert final.frames.shape == (33, 128, 128, 3)


def test_cancel_in_the_middle_of_a_finalize_stops_it(backend):
    from dataclasses import replace

    from server.backends.base import Cancelled

    request = _request(keyframes=[])
    draft = backend.generate(replace(request, stage="draft"), lambda p: None, lambda: False)
    progress = []
    with pytest.raises(Cancelled):
        backend.finalize(request, draft.latents, progress.append, lambda: len(progress) >= 4)
    assert len(progress) == 4 and progress == sorted(progress) and progress[-1] < 1.0


def test_a_folder_without_a_temporal_upsampler_says_why_it_has_no_drafts(tiny_ltx25_dir, tmp_path):
    folder = tmp_path / "no-temporal"
    shutil.copytree(tiny_ltx25_dir, folder)
    shutil.rmtree(folder / "temporal_latent_upsampler")
    backend = _load(folder, tmp_path / "data")
    assert {"draft", "finalize"}.isdisjoint(backend.capability_list())
    why = backend.recipe()["why_not"]
    assert "temporal_latent_upsampler/" in why and "temporal refine" in why
    with pytest.raises(ValueError, match="cannot run its recipe"):
        backend.generate(_request(keyframes=[]), lambda p: None, lambda: False)
    single = backend.generate(_request(keyframes=[], single_pass=True), lambda p: None, lambda: False)
    assert single.frames.shape == (33, 128, 128, 3)
