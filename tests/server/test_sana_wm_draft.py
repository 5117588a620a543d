"""Draft, then final, in-process on the tiny SANA-WM (its tiny LTX-2 refiner loaded from the checkpoint's
refiner/ by the code that loads the release's): a draft is stage 1 alone at the model's canvas, cut and
retimed to the shot, with its latents kept; its finalize runs the refiner on them into the clip of the
draft's frames at the shot's rate, the same clip every time and the one a one-pass job makes."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def backend(tiny_sana_wm_dir, tmp_path_factory):
    from server.backends.sana_wm import SanaWMBackend

    torch.set_num_threads(1)
    b = SanaWMBackend(str(tiny_sana_wm_dir), device="cpu", data_dir=tmp_path_factory.mktemp("b"))
    b.load()
    return b


def _request(**overrides):
    from PIL import Image

    from server.backends.base import GenerateRequest, Keyframe

    width, height = overrides.get("width", 448), overrides.get("height", 256)
    picture = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    base = dict(
        prompt="a street at night",
        negative_prompt="",
        seed=3,
        num_frames=25,
        width=width,
        height=height,
        frame_rate=24.0,
        num_inference_steps=2,
        guidance_scale=1.0,
        keyframes=[Keyframe(Image.fromarray(picture), 0)],
    )
    return GenerateRequest(**{**base, **overrides})


def _run(fn, *args):
    return fn(*args, lambda p: None, lambda: False)


@pytest.fixture(scope="module")
def draft(backend):
    return _run(backend.generate, _request(stage="draft"))


@pytest.fixture(scope="module")
def final(backend, draft):
    return _run(backend.finalize, _request(), draft.latents)


def test_the_refiner_makes_draft_and_finalize_and_the_recipe_says_what_each_stage_does(backend):
    assert backend.capability_list() == ["camera_poses", "draft", "finalize"]
    recipe = backend.recipe()
    assert recipe["why_not"] is None
    assert recipe["draft"]["divisor"] == 1
    assert (recipe["draft"]["model_width"], recipe["draft"]["model_height"]) == (448, 256)
    assert "stage 1 alone at the model's 448x256 canvas" in recipe["draft"]["rule"]
    assert recipe["finalize"]["stages"] == ["refiner"]
    assert recipe["finalize"]["refiner"].endswith("/refiner")
    assert "LTX-2 refiner on the draft's stage-1 latents" in recipe["finalize"]["what"]
    assert backend.draft_size(640, 352) == (640, 352)


def test_a_draft_is_stage_one_at_the_canvas_with_its_latents_kept(backend, draft):
    # 25 frames at 24 fps are 17 frames at the model's 16 fps: 3 latent frames of the 448x256 canvas / 32
    assert draft.frames.shape == (25, 256, 448, 3)
    latents = draft.latents["video"]
    assert latents.shape[0] == 1 and latents.shape[2:] == (3, 8, 14)
    assert draft.latents["video"].dtype == np.float32
    assert draft.applied["stages"] == [
        {
            "stage": "draft",
            "width": 448,
            "height": 256,
            "num_frames": 25,
            "steps": 2,
            "model_width": 448,
            "model_height": 256,
            "model_frames": 17,
            "model_fps": 16.0,
        }
    ]


def test_the_draft_is_the_one_pass_clip_without_its_refiner(backend, draft, tiny_sana_wm_dir, tmp_path):
    from server.backends.sana_wm import SanaWMBackend

    bare = SanaWMBackend(str(tiny_sana_wm_dir), device="cpu", data_dir=tmp_path, refiner=False)
    bare.load()
    np.testing.assert_array_equal(_run(bare.generate, _request()).frames, draft.frames)
    # without its refiner the server says why it cannot draft or finalize
    assert "draft" not in bare.capability_list() and "finalize" not in bare.capability_list()
    assert "started with --no-refiner" in bare.recipe()["why_not"]
    with pytest.raises(ValueError, match="cannot make drafts to finalize: the server was started"):
        _run(bare.generate, _request(stage="draft"))


def test_the_final_has_the_drafts_frames_at_the_shots_rate_and_is_the_one_pass_clip(backend, final):
    assert final.frames.shape == (25, 256, 448, 3)
    assert [s["stage"] for s in final.applied["stages"]] == ["refiner"]
    stage = final.applied["stages"][0]
    assert (stage["width"], stage["height"], stage["num_frames"], stage["model_frames"]) == (448, 256, 25, 17)
    # stage 1 then the refiner with the draft's seed, cut and retimed as the one-pass job does
    np.testing.assert_array_equal(_run(backend.generate, _request()).frames, final.frames)


def test_the_refiner_ran_on_the_draft(draft, final):
    """The final is not the draft decoded as it is."""
    assert np.abs(final.frames.astype(int) - draft.frames.astype(int)).mean() > 1.0


def test_finalizing_the_same_draft_twice_gives_the_same_clip(backend, draft, final):
    again = _run(backend.finalize, _request(), draft.latents)
    np.testing.assert_array_equal(again.frames, final.frames)


def test_another_drafts_latents_give_another_final(backend, final):
    other = _run(backend.generate, _request(stage="draft", seed=4))
    b = _run(backend.finalize, _request(), other.latents)
    assert np.abs(final.frames.astype(int) - b.frames.astype(int)).mean() > 1.0


def test_a_final_at_another_rate_and_shape_keeps_the_drafts_frames(backend):
    """A portrait shot at 30 fps: padded into the canvas, 33 frames at 30 fps (1.07 s) are
    18 at the model's 16 fps, made as 25 (8k+1)."""
    req = dict(num_frames=33, frame_rate=30.0, width=256, height=384)
    draft = _run(backend.generate, _request(stage="draft", **req))
    final = _run(backend.finalize, _request(**req), draft.latents)
    assert draft.frames.shape == final.frames.shape == (33, 384, 256, 3)
    assert final.applied["stages"][0]["model_frames"] == 25


def test_latents_of_another_shot_length_are_refused(backend, draft):
    with pytest.raises(ValueError, match="not the \\(5, 8, 14\\).*make the draft again"):
        _run(backend.finalize, _request(num_frames=49), draft.latents)
