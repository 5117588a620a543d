"""core/control.py: which control kind a take gets from what the server offers, the IC-LoRA's
downscale from health ``loras``, and the request field."""

from __future__ import annotations

import pytest

from blender_ltx.core import control

LTX2 = ["motion_prompt", "keyframes", "control_depth", "control_canny", "control_tracks", "long_shots"]


@pytest.mark.parametrize(
    ("caps", "kind"),
    [
        (LTX2, "depth"),
        (["control_canny", "control_tracks"], "tracks"),
        (["control_canny"], "canny"),
        (["keyframes"], None),
        ({"control_tracks": True, "control_depth": False}, "tracks"),  # a dict of flags
        (None, None),
    ],
)
def test_auto_takes_the_strongest_kind_offered(caps, kind):
    assert control.choose("auto", caps) == kind


def test_auto_skips_a_kind_the_shot_has_no_data_for():
    assert control.choose("auto", LTX2, possible=("canny", "tracks")) == "tracks"
    assert control.choose("auto", ["control_tracks"], possible=("depth", "canny")) is None


def test_none_and_an_offered_kind_pass_through():
    assert control.choose("none", LTX2) is None
    assert control.choose("canny", LTX2) == "canny"


def test_a_kind_the_server_lacks_is_one_sentence_naming_what_it_offers():
    with pytest.raises(ValueError, match="offers only canny") as err:
        control.choose("depth", ["control_canny"])
    assert str(err.value) == (
        "Control 'depth' is not available: this server offers only canny; pick another kind or 'auto'."
    )
    with pytest.raises(ValueError, match="offers no control"):
        control.choose("tracks", ["keyframes"])
    with pytest.raises(ValueError, match="use one of auto, none, depth, canny, tracks"):
        control.choose("pose", LTX2)


def test_downscale_of_the_lora_serving_the_kind():
    loras = [
        {"role": "camera", "kinds": ["Dolly-In"], "downscale": 1},
        {"role": "ic", "kinds": ["depth", "canny"], "downscale": 2},
        {"role": "ic", "kinds": ["tracks"], "downscale": 1},
    ]
    assert control.downscale(loras, "depth") == 2.0
    assert control.downscale(loras, "tracks") == 1.0
    assert control.downscale([], "depth") == control.DEFAULT_DOWNSCALE
    assert control.downscale(None, "canny") == control.DEFAULT_DOWNSCALE


def test_control_field_shapes():
    assert control.control_field("depth", frame_assets=["a" * 64, "b" * 64]) == {
        "kind": "depth",
        "strength": 1.0,
        "video": {"frames": [{"asset": "a" * 64}, {"asset": "b" * 64}]},
    }
    tracks = [[[1.0, 2.0], None]]
    assert control.control_field("tracks", strength=0.5, tracks=tracks) == {
        "kind": "tracks",
        "strength": 0.5,
        "tracks": tracks,
    }
    with pytest.raises(ValueError, match="no points to track"):
        control.control_field("tracks", tracks=[])
