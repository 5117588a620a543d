"""Draft, then final, in-process on the tiny LTX-2 (its random x2 latent upsampler is loaded from the model
folder's latent_upsampler/ by the code that loads a real one): a draft is half size and keeps its latents,
its finalize has the final size and the draft's frame count, the same draft finalizes to the same clip."""

from __future__ import annotations

import numpy as np
import pytest
from support.server import backend_request

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def backend(ltx2_backend):
    return ltx2_backend


def _request(**overrides):
    base = dict(prompt="a red car drives left", seed=11, width=256, height=128, guidance_scale=1.0)
    return backend_request(**{**base, **overrides})


def _run(fn, *args):
    return fn(*args, lambda p: None, lambda: False)


@pytest.fixture(scope="module")
def draft(backend):
    return _run(backend.generate, _request(stage="draft"))


def test_the_tiny_model_lists_draft_and_finalize_with_its_upsampler(backend, tiny_ltx2_dir):
    assert {"draft", "finalize"} <= set(backend.capability_list())
    recipe = backend.recipe()
    assert recipe["why_not"] is None
    assert recipe["finalize"]["stages"] == ["latent_upsample_x2", "refine"]
    assert recipe["finalize"]["latent_upsampler"] == f"{tiny_ltx2_dir}/latent_upsampler"
    assert type(backend.upsampler.latent_upsampler).__name__ == "LTX2LatentUpsamplerModel"


def test_a_draft_is_half_size_and_keeps_its_latents(draft):
    assert draft.frames.shape == (17, 64, 128, 3)
    assert draft.audio is not None and draft.audio.shape[0] == 2
    # 8 latent channels, (17 - 1) / 8 + 1 latent frames, 64 / 32 rows, 128 / 32 columns
    assert draft.latents["video"].shape == (1, 8, 3, 2, 4)
    assert draft.latents["video"].dtype == np.float32
    assert draft.latents["audio"].ndim == 4
    assert draft.applied["stages"] == [
        {"stage": "draft", "width": 128, "height": 64, "num_frames": 17, "steps": 2}
    ]


def test_the_draft_is_the_first_stage_at_half_size(backend, draft):
    """The pipeline's own decode of the same first stage gives the draft's frames exactly."""
    single = _run(backend.generate, _request(width=128, height=64))
    np.testing.assert_array_equal(single.frames, draft.frames)


def test_finalize_has_the_final_size_and_the_drafts_frames(backend, draft):
    final = _run(backend.finalize, _request(), draft.latents)
    assert final.frames.shape == (17, 128, 256, 3)
    assert final.audio is not None
    assert [s["stage"] for s in final.applied["stages"]] == ["latent_upsample_x2", "refine"]
    assert final.applied["stages"][1]["steps"] == 3
    assert {(s["width"], s["height"], s["num_frames"]) for s in final.applied["stages"]} == {(256, 128, 17)}


def test_finalizing_the_same_draft_twice_gives_the_same_clip(backend, draft):
    a = _run(backend.finalize, _request(), draft.latents)
    b = _run(backend.finalize, _request(), draft.latents)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.audio, b.audio)


def test_the_final_comes_from_the_draft(backend, draft):
    """Other latents (another seed's draft) give another final: the refine starts from what was kept."""
    other = _run(backend.generate, _request(stage="draft", seed=12))
    a = _run(backend.finalize, _request(), draft.latents)
    b = _run(backend.finalize, _request(), other.latents)
    assert np.abs(a.frames.astype(int) - b.frames.astype(int)).mean() > 1.0


def test_sizes_the_draft_cannot_halve_are_refused_with_a_sentence(backend):
    with pytest.raises(ValueError, match=r"multiples of 64; 224x128 is not \(use 256x128\)"):
        _run(backend.generate, _request(stage="draft", width=224))


def test_latents_of_another_size_are_refused(backend, draft):
    with pytest.raises(ValueError, match="make the draft again"):
        _run(backend.finalize, _request(width=512), draft.latents)


def test_a_folder_without_an_upsampler_says_why(tiny_ltx2_dir, tmp_path):
    import shutil

    from server.backends.ltx2 import LTX2Backend

    copy = tmp_path / "no-upsampler"
    shutil.copytree(
        tiny_ltx2_dir, copy, ignore=shutil.ignore_patterns("latent_upsampler", "blender_ltx_tiny.json")
    )
    b = LTX2Backend(str(copy), device="cpu", data_dir=tmp_path)
    b.load()
    assert "draft" not in b.capability_list() and "finalize" not in b.capability_list()
    assert "has no latent_upsampler/ and no --latent-upsampler was given" in b.recipe()["why_not"]
    with pytest.raises(ValueError, match="cannot make drafts to finalize: the checkpoint folder"):
        _run(b.generate, _request(stage="draft"))
    # --latent-upsampler pointing at another folder's upsampler turns them on
    b2 = LTX2Backend(
        str(copy), device="cpu", data_dir=tmp_path, latent_upsampler=str(tiny_ltx2_dir / "latent_upsampler")
    )
    b2.load()
    assert {"draft", "finalize"} <= set(b2.capability_list())


def test_ltx_video_finalizes_only_with_a_latent_upsampler(tiny_model_dir, tmp_path):
    """LTX-Video 0.9: the tiny model has no upsampler (one sentence says why); a copy given a random one of
    LTX-Video's class drafts at half size and finalizes to the final size, the same clip twice."""
    import shutil

    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel

    from server.backends.ltx import LTXBackend

    bare = LTXBackend(str(tiny_model_dir), device="cpu", data_dir=tmp_path)
    bare.load()
    assert "draft" not in bare.capability_list()
    assert bare.recipe()["why_not"].startswith(
        f"the checkpoint folder {tiny_model_dir} has no latent_upsampler/"
    )
    with pytest.raises(ValueError, match="cannot finalize drafts: the checkpoint folder"):
        _run(bare.finalize, _request(), {"video": np.zeros((1, 8, 3, 2, 4), np.float32)})

    copy = tmp_path / "with-upsampler"
    shutil.copytree(tiny_model_dir, copy)
    torch.manual_seed(0)
    LTXLatentUpsamplerModel(in_channels=8, mid_channels=32, num_blocks_per_stage=1).save_pretrained(
        copy / "latent_upsampler"
    )
    b = LTXBackend(str(copy), device="cpu", data_dir=tmp_path)
    b.load()
    assert {"draft", "finalize"} <= set(b.capability_list())
    draft = _run(b.generate, _request(stage="draft"))
    assert draft.frames.shape == (17, 64, 128, 3) and draft.latents["video"].shape == (1, 8, 3, 2, 4)
    first = _run(b.finalize, _request(), draft.latents)
    again = _run(b.finalize, _request(), draft.latents)
    assert first.frames.shape == (17, 128, 256, 3)
    np.testing.assert_array_equal(first.frames, again.frames)
    assert [s["stage"] for s in first.applied["stages"]] == ["latent_upsample_x2", "refine"]
