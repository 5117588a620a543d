"""LTX-2.5 is recognised from its checkpoint (model_index.json names a DFR pipeline, or an LTX2 pipeline
with components only 2.5 ships) and by the tiny model's name; the rules its backend applies without a
model: the draft's frames, the step picks on the distilled schedule, and the camera sentence kept through
the prompt enhancer."""

from __future__ import annotations

import json

import pytest

from server.backends import family_of_class, model_family, recipes
from server.backends.ltx25 import keep_motion, sigmas_for


def _checkpoint(folder, class_name: str, **components) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    index = {"_class_name": class_name, "_diffusers_version": "0.42.1", **components}
    (folder / "model_index.json").write_text(json.dumps(index))
    return str(folder)


def test_a_dfr_pipeline_folder_is_ltx25(tmp_path):
    folder = _checkpoint(
        tmp_path / "anything", "LTX2DFRPipeline", transformer=["diffusers", "LTX2VideoTransformer3DModel"]
    )
    assert model_family(folder) == "ltx2.5"


def test_an_ltx2_folder_with_2_5_only_components_is_ltx25_and_without_them_ltx2(tmp_path):
    with_decoder = _checkpoint(
        tmp_path / "a",
        "LTX2Pipeline",
        diffusion_decoder=["diffusers", "LTX2VideoDiffusionDecoderModel"],
    )
    assert model_family(with_decoder) == "ltx2.5"
    # optional components written as [null, null] are absent, not 2.5's
    plain = _checkpoint(tmp_path / "b", "LTX2Pipeline", prompt_enhancer=[None, None])
    assert model_family(plain) == "ltx2"


def test_class_names_tiny_names_and_hub_names():
    assert family_of_class("LTX2DFRPipeline") == "ltx2.5"
    assert family_of_class("LTX2DFRTemporalRefinePipeline") == "ltx2.5"
    assert family_of_class("LTX2Pipeline", ("transformer", "vae")) == "ltx2"
    assert model_family("tiny-ltx25") == "ltx2.5" and model_family("tiny-ltx2") == "ltx2"
    # not in the local cache: the name decides
    assert model_family("Lightricks/LTX-2.5-Diffusers") == "ltx2.5"
    assert model_family("Lightricks/LTX-2") == "ltx2"


@pytest.mark.parametrize("final, draft", [(17, 9), (25, 17), (33, 17), (121, 65), (9, 9)])
def test_the_draft_covers_the_final_seconds_at_half_the_rate(final, draft):
    assert recipes.dfr_draft_frames(final) == draft
    # the temporal round makes 2(n-1)+1 frames: at least the final's
    assert 2 * (draft - 1) + 1 >= final


def test_fewer_steps_pick_from_the_distilled_schedule_keeping_its_ends():
    schedule = [1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875]
    assert sigmas_for(schedule, 8) == schedule and sigmas_for(schedule, 40) == schedule
    four = sigmas_for(schedule, 4)
    assert len(four) == 4 and four[0] == 1.0 and four[-1] == 0.421875
    assert four == sorted(four, reverse=True)


def test_the_camera_sentence_survives_the_enhancer_verbatim():
    sentence = "Camera motion: the camera slowly dollies in."
    assert keep_motion("A red car at night.", sentence) == (f"A red car at night. {sentence}", True)
    kept = f"A red car at night. {sentence} Rain falls."
    assert keep_motion(kept, sentence) == (kept, False)
    assert keep_motion("  A red car.  ", "") == ("A red car.", False)


def test_a_cached_hub_id_is_recognised_by_its_model_index(tmp_path, monkeypatch):
    from huggingface_hub import constants

    # the layout huggingface_hub caches a repo in: its files under snapshots/<commit>, refs/main names it
    repo = tmp_path / "hub" / "models--someone--renamed-checkpoint"
    _checkpoint(repo / "snapshots" / ("0" * 40), "LTX2DFRPipeline")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    # the name says nothing of 2.5: only the cached model_index.json can
    assert model_family("someone/renamed-checkpoint") == "ltx2.5"
