"""The server-info cache and the capability answer that greys out switches (core/server_info.py)."""

from blender_ltx.core import server_info

LTX2 = {
    "model": "tiny-ltx2",
    "family": "ltx2",
    "capabilities": ["motion_prompt", "keyframes", "audio", "camera_lora", "long_shots"],
    "loras": [
        {"adapter": "Dolly-In", "role": "camera", "usable": True},
        {"adapter": "Old", "role": "camera", "usable": False, "reason": "trained for another family"},
        {"adapter": "depth", "role": "ic", "usable": True},
    ],
    "max_frames": 97,
    "segment_frames": 33,
}
LTXV = {"model": "tiny", "family": "ltx-video", "capabilities": ["motion_prompt", "keyframes", "long_shots"]}


def test_unknown_server_is_able_but_says_not_checked():
    server_info.forget()
    ok, reason = server_info.capability("http://127.0.0.1:1", "audio")
    assert ok and reason == server_info.NOT_CHECKED
    assert server_info.max_job_frames("http://127.0.0.1:1") is None


def test_capabilities_per_url_with_reason():
    server_info.forget()
    server_info.remember("http://a:1/", LTX2)
    server_info.remember("http://b:1", LTXV)
    assert server_info.capability("http://a:1", "audio") == (True, "")
    ok, reason = server_info.capability("http://b:1/", "camera_lora")
    assert not ok and "ltx-video" in reason and "camera LoRAs" in reason
    assert [lo["adapter"] for lo in server_info.loras("http://a:1", "camera")] == ["Dolly-In"]
    assert server_info.max_job_frames("http://a:1") == 97
    assert "Dolly-In" in server_info.describe(LTX2) and "family ltx2" in server_info.describe(LTX2)
    server_info.forget("http://a:1")
    assert server_info.get("http://a:1") is None and server_info.get("http://b:1") is not None


def test_old_dict_capabilities_and_no_chaining():
    server_info.forget()
    old = {"capabilities": {"audio": True, "keyframes": False}, "max_frames": 257}
    server_info.remember("http://c:1", old)
    assert server_info.capability("http://c:1", "audio")[0]
    assert not server_info.capability("http://c:1", "keyframes")[0]
    assert server_info.max_job_frames("http://c:1") is None  # no long_shots: the add-on splits


def test_ltx2_switches_only_off_their_defaults():
    from blender_ltx.core import job_request, take_inputs

    assert take_inputs.ltx2_settings(True, "auto", 1.0) == {}  # an untouched shot keeps its old hash
    assert take_inputs.ltx2_settings(False, " Dolly-In ", 0.5) == {
        "audio": False,
        "camera_lora": "Dolly-In",
        "camera_lora_scale": 0.5,
    }
    assert job_request.ltx2_fields(audio=True) == {}
    off = job_request.ltx2_fields(audio=False, camera_lora="none", camera_lora_scale=0.5)
    assert off == {"audio": False, "camera_lora": "none", "camera_lora_scale": 0.5}
    # A server without camera LoRAs gets no camera fields (it would refuse a name with a 422).
    assert job_request.ltx2_fields(audio=True, camera_lora="Dolly-In", camera_lora_ok=False) == {}


def test_enhance_prompt_goes_only_when_the_shot_asks_and_the_server_may_have_an_enhancer():
    from blender_ltx.core import job_request, take_inputs

    assert take_inputs.ltx2_settings(True, "auto", 1.0, enhance_prompt=True) == {"enhance_prompt": True}
    assert job_request.ltx2_fields(audio=True, enhance_prompt=True) == {"enhance_prompt": True}
    assert job_request.ltx2_fields(audio=True, enhance_prompt=True, enhance_ok=False) == {}
    assert job_request.ltx2_fields(audio=True, enhance_prompt=False) == {}
    server_info.forget()
    server_info.remember("http://d:1", {"capabilities": ["audio"], "family": "ltx2", "model": "LTX-2"})
    ok, why = server_info.capability("http://d:1", "prompt_enhancement")
    assert not ok and why.endswith("has no prompt enhancer (LTX-2.5 started with --prompt-enhancement).")
