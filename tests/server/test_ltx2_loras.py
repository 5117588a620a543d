"""LTX-2 LoRA bookkeeping and profiles without a model: names, families, reference downscale, the move a
shot's camera LoRA is picked from, and the distilled/dev sampling settings."""

from __future__ import annotations

import json

import pytest

from blender_ltx.core.protocol import ProtocolError
from blender_ltx.core.shots import MotionSegment
from server.backends import loras, model_family, profiles
from server.backends.ltx2 import LTX2Backend, condition_frames


@pytest.mark.parametrize(
    "text, name",
    [
        ("Lightricks/LTX-2-19b-LoRA-Camera-Control-Dolly-In", "Dolly-In"),
        ("ltx-2-19b-lora-camera-control-dolly-left.safetensors", "Dolly-Left"),
        ("/loras/Jib-Down", "Jib-Down"),
        ("camera_static", "Static"),
        ("something-else", None),
    ],
)
def test_camera_lora_names_from_files_and_ids(text, name):
    assert loras.camera_name(text) == name


def test_official_camera_loras_are_ltx2_19b_and_a_family_file_wins(tmp_path):
    assert loras.lora_family("Lightricks/LTX-2-19b-LoRA-Camera-Control-Jib-Up") == "ltx-2-19b"
    folder = tmp_path / "cams"
    (folder / "Dolly-In").mkdir(parents=True)
    (folder / loras.FAMILY_FILE).write_text(json.dumps({"family": "ltx-2.3"}))
    (spec,) = loras.camera_specs(str(folder))
    assert (spec.adapter, spec.family) == ("Dolly-In", "ltx-2.3")


def test_unknown_camera_lora_file_is_refused_with_the_names(tmp_path):
    (tmp_path / "wobble.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="Dolly-In"):
        loras.camera_specs(str(tmp_path))


def test_ic_lora_downscale_from_name_and_one_file_for_two_kinds_loads_once():
    specs = loras.ic_specs(
        [
            "depth=Lightricks/LTX-2-19b-IC-LoRA-Union-Control-ref0.5",
            "canny=Lightricks/LTX-2-19b-IC-LoRA-Union-Control-ref0.5",
        ]
    )
    assert len(specs) == 1 and specs[0].kinds == ["depth", "canny"] and specs[0].downscale == 2
    with pytest.raises(ValueError, match="KIND=PATH_OR_ID"):
        loras.ic_specs(["pose=/x"])


def test_dominant_move_is_the_kind_covering_most_frames():
    segs = [
        MotionSegment(kinds=["static"], speed="slow", frame_start=1, frame_end=10),
        MotionSegment(kinds=["dolly_in", "pan_left"], speed="medium", frame_start=11, frame_end=40),
    ]
    assert loras.dominant_move(segs) in ("dolly_in", "pan_left")
    assert loras.dominant_move(segs[:1]) == "static" and loras.dominant_move([]) is None


def _backend_with(camera: list[loras.LoraSpec]) -> LTX2Backend:
    b = LTX2Backend("unused")
    b.camera = {s.adapter: s for s in camera}
    return b


def test_camera_lora_choice_maps_moves_and_says_why_not():
    ok = loras.LoraSpec("Dolly-In", "/x", "camera", ["Dolly-In"], "ltx-2-19b")
    wrong = loras.LoraSpec(
        "Jib-Up", "/y", "camera", ["Jib-Up"], "ltx-2-19b", usable=False, reason="trained for X"
    )
    b = _backend_with([ok, wrong])
    assert b.choose_camera_lora("auto", 0.8, "dolly_in") == {
        "name": "Dolly-In",
        "scale": 0.8,
        "reason": "the shot's dominant move is dolly_in",
    }
    assert b.choose_camera_lora("auto", 1.0, "pan_left")["name"] is None  # nothing matches a pan
    assert b.choose_camera_lora("auto", 1.0, "pedestal_up") == {
        "name": None,
        "scale": 0.0,
        "reason": "trained for X",
    }
    assert b.choose_camera_lora("none", 1.0, "dolly_in") is None
    with pytest.raises(ProtocolError) as err:
        b.choose_camera_lora("Jib-Up", 1.0, None)
    assert err.value.field == "camera_lora" and "trained for X" in str(err.value)
    with pytest.raises(ProtocolError, match="not a loaded camera LoRA"):
        b.choose_camera_lora("Orbit", 1.0, None)


def test_ltx2_condition_frames_start_each_latent():
    assert condition_frames(9) == [0, 1]
    assert condition_frames(121)[-1] == 113


def test_family_from_model_index(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "LTX2Pipeline"}))
    assert model_family(str(tmp_path)) == "ltx2"
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "LTXConditionPipeline"}))
    assert model_family(str(tmp_path)) == "ltx-video"
    assert model_family("tiny") == "ltx-video" and model_family("tiny-ltx2") == "ltx2"


def test_ltx2_profiles_distilled_dev_and_tiny():
    d = profiles.ltx2_profile("diffusers/LTX-2.3-Distilled-Diffusers")
    assert d.defaults() == {"num_inference_steps": 8, "guidance_scale": 1.0}
    kw = d.pipeline_kwargs(8)
    assert kw["sigmas"] == [1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875]
    assert kw["stg_scale"] == 0.0 and kw["audio_guidance_scale"] == 1.0
    assert "sigmas" not in d.pipeline_kwargs(6)
    dev = profiles.ltx2_profile("diffusers/LTX-2.3-Diffusers")
    assert dev.defaults() == {"num_inference_steps": 40, "guidance_scale": 3.0}
    assert dev.pipeline_kwargs(40) == {
        "stg_scale": 1.0,
        "audio_guidance_scale": 7.0,
        "modality_scale": 3.0,
        "audio_modality_scale": 3.0,
    }
    tiny = profiles.ltx2_profile("/x", tiny=True)
    assert tiny.name == "tiny-ltx2" and tiny.pipeline_kwargs(4)["stg_scale"] == 0.0
    assert set(d.pipeline_kwargs(8)) <= set(profiles.PIPELINE_KEYS)


def test_ic_lora_downscale_from_safetensors_metadata(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    path = tmp_path / "union-control.safetensors"
    save_file({"w": np.zeros(1, dtype=np.float32)}, str(path), metadata={"reference_downscale_factor": "2"})
    assert loras.downscale_factor(str(path)) == 2
    plain = tmp_path / "plain.safetensors"
    save_file({"w": np.zeros(1, dtype=np.float32)}, str(plain))
    assert loras.downscale_factor(str(plain)) == 1
