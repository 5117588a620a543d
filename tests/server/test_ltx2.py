"""The LTX-2 family over real HTTP on the tiny LTX-2 (its own random camera LoRAs and IC-LoRAs loaded):
health, keyframes at exact frames, audio in the mp4, camera LoRAs from the trajectory without leaks
between jobs, and the request fields' validation."""

from __future__ import annotations

import av
import numpy as np
import pytest
from support.server import job_request, png_b64, run_to_video, wait_for

from server.generation.video import probe_mp4

pytestmark = pytest.mark.slow

CAMERA_NAMES = {"Dolly-In", "Dolly-Out", "Dolly-Left", "Dolly-Right", "Jib-Up", "Jib-Down", "Static"}


def _request(**overrides) -> dict:
    base = {"num_frames": 17, "width": 96, "height": 64, "num_inference_steps": 2, "camera_lora": "none"}
    return job_request(**{**base, **overrides})


def _trajectory(n: int, step: tuple[float, float, float]) -> dict:
    """A camera looking along +Y, moving ``step`` (world units) a frame."""
    mats = []
    for i in range(n):
        x, y, z = (s * i for s in step)
        m = np.array([[1, 0, 0, x], [0, 0, -1, -10 + y], [0, 1, 0, 1.6 + z], [0, 0, 0, 1]], dtype=float)
        mats.append(m.ravel().tolist())
    return {"frames": list(range(1, n + 1)), "matrix_world": mats, "lens_mm": [35.0] * n}


def _run(http, server, tmp_path, req: dict) -> tuple[dict, object]:
    return run_to_video(http, server.url, req, tmp_path)


def _frames(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_health_names_the_family_what_it_can_do_and_its_loras(ltx2_server):
    health = ltx2_server.health()
    assert health["family"] == "ltx2" and health["backend"] == "ltx2"
    caps = health["capabilities"]
    assert isinstance(caps, list)
    for cap in ("motion_prompt", "keyframes", "audio", "camera_lora", "long_shots"):
        assert cap in caps
    assert {"control_depth", "control_canny", "control_tracks"} <= set(caps)
    assert health["features"]["pipeline"] == "LTX2InContextPipeline"
    assert health["profile"]["name"] == "tiny-ltx2"
    camera = {lo["adapter"] for lo in health["loras"] if lo["role"] == "camera"}
    assert camera == CAMERA_NAMES
    ic = [lo for lo in health["loras"] if lo["role"] == "ic"]
    assert sorted(k for lo in ic for k in lo["kinds"]) == ["canny", "depth", "tracks"]
    assert all(lo["downscale"] == 2 and lo["usable"] for lo in ic)  # the files are named ..._ref0.5


def test_ltx_video_server_says_its_family(server):
    health = server.health()
    assert health["family"] == "ltx-video"
    # The tiny servers start with the tiny look model beside the video model.
    assert health["capabilities"] == ["motion_prompt", "keyframes", "long_shots", "look_frames", "references"]
    assert health["loras"] == []


def test_keyframes_at_exact_frames_and_audio_of_the_videos_duration(ltx2_server, http, tmp_path):
    req = _request(
        conditions=[
            {"frame_index": 0, "image": png_b64(96, 64, seed=1)},
            {"frame_index": 9, "image": png_b64(96, 64, seed=2), "strength": 0.8},
        ]
    )
    done, path = _run(http, ltx2_server, tmp_path, req)
    applied = done["applied"]
    assert [(c["frame_index"], c["strength"]) for c in applied["conditions"]] == [(0, 1.0), (9, 0.8)]
    assert [c["requested_frame_index"] for c in applied["conditions"]] == [0, 9]
    assert applied["layers"] == ["keyframes", "audio"]
    assert applied["audio"]["sample_rate"] == 16000 and applied["audio"]["channels"] == 2

    mp4 = probe_mp4(path)
    assert (mp4["frames"], mp4["width"], mp4["height"]) == (17, 96, 64)
    audio = mp4["audio"]
    assert audio is not None and audio["codec"] == "aac" and audio["rate"] == 16000
    assert abs(audio["duration_s"] - 17 / 24) <= 1 / 24
    assert "peak_gpu_mb" in done["timings"] and done["timings"]["peak_gpu_mb"] is None  # CPU


def test_keyframes_go_to_the_nearest_latent_start_and_applied_says_so(ltx2_server, http):
    # LTX-2 conditions start a latent: frames 0, 1, 9 of 17 (diffusers' index is a latent index).
    conds = [{"frame_index": f, "image": png_b64(96, 64, seed=f)} for f in (4, 16)]
    applied = http.post(ltx2_server.url + "/v1/jobs", json=_request(conditions=conds)).json()["applied"]
    used = [(c["requested_frame_index"], c["frame_index"]) for c in applied["conditions"]]
    assert used == [(4, 1), (16, 9)]


def test_audio_false_leaves_the_mp4_silent(ltx2_server, http, tmp_path):
    done, path = _run(http, ltx2_server, tmp_path, _request(audio=False))
    assert "audio" not in done["applied"]["layers"] and "audio" not in done["applied"]
    assert probe_mp4(path)["audio"] is None


@pytest.mark.parametrize(
    "step, name",
    [((0.0, 0.1, 0.0), "Dolly-In"), ((0.0, -0.1, 0.0), "Dolly-Out"), ((0.0, 0.0, 0.0), "Static")],
)
def test_camera_lora_is_picked_from_the_trajectory(ltx2_server, http, step, name):
    req = _request(camera_lora="auto", trajectory=_trajectory(17, step))
    r = http.post(ltx2_server.url + "/v1/jobs", json=req)
    assert r.status_code == 202, r.text
    applied = r.json()["applied"]
    assert applied["camera_lora"]["name"] == name, applied
    assert applied["camera_lora"]["scale"] == 1.0 and applied["camera_lora"]["reason"]
    assert "camera_lora" in applied["layers"]
    assert wait_for(http, ltx2_server.url, r.json()["id"], timeout=300)["status"] == "succeeded"


def test_no_trajectory_no_camera_lora_and_none_turns_it_off(ltx2_server, http):
    applied = http.post(ltx2_server.url + "/v1/jobs", json=_request(camera_lora="auto")).json()["applied"]
    assert applied["camera_lora"]["name"] is None and "camera_lora" not in applied["layers"]
    req = _request(camera_lora="none", trajectory=_trajectory(17, (0.0, 0.1, 0.0)))
    applied = http.post(ltx2_server.url + "/v1/jobs", json=req).json()["applied"]
    assert "camera_lora" not in applied and "camera_lora" not in applied["layers"]


def test_a_camera_lora_does_not_leak_into_the_next_job(ltx2_server, http, tmp_path):
    plain = _request(seed=7, camera_lora="none", audio=False)
    _, first = _run(http, ltx2_server, tmp_path, plain)
    done, with_lora = _run(
        http, ltx2_server, tmp_path, {**plain, "camera_lora": "Dolly-In", "camera_lora_scale": 1.5}
    )
    assert done["applied"]["camera_lora"] == {
        "name": "Dolly-In",
        "scale": 1.5,
        "reason": "asked for by the request",
    }
    _, again = _run(http, ltx2_server, tmp_path, plain)
    a, b, c = (_frames(p).astype(int) for p in (first, with_lora, again))
    lora_effect = np.abs(a - b).mean()
    assert lora_effect > 1.0  # the LoRA changes the picture (mean 11.9 grey levels here)
    # ... and is gone after its job. Not bit for bit over HTTP: in the server process the same job
    # differs now and then by float rounding (mean 0.05-0.07 grey levels, a few pixels, measured on
    # repeated plain jobs with no LoRA between them, more often under load), which the denoising
    # amplifies; the exact check against a fresh pipeline is in-process (test_ltx2_backend.py). A LoRA
    # left on at a tenth of its scale moves the picture by 16 % of its full effect, at a thirtieth by
    # 6 % (measured in-process on this model), so 2 % still catches a leak.
    assert np.abs(a - c).mean() < 0.02 * lora_effect


@pytest.mark.parametrize(
    "field, value",
    [("audio", "yes"), ("audio", 1), ("camera_lora", "Dolly-Sideways"), ("camera_lora_scale", 5.0)],
)
def test_bad_ltx2_fields_answer_422_naming_the_field(ltx2_server, http, field, value):
    r = http.post(ltx2_server.url + "/v1/jobs", json=_request(**{field: value}))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and r.json()["detail"].startswith(field)


@pytest.mark.parametrize(("width", "height", "field"), [(32, 64, "width"), (96, 32, "height")])
def test_a_side_the_ltx2_vae_cannot_decode_is_refused_at_submit(ltx2_server, http, width, height, field):
    """LTX-2's VAE pads by reflection: a 32-pixel side (one latent pixel) failed in the decoder after the
    whole job ran (issue 15 item 14). Health says the family's smallest side; a submit under it is a 422."""
    assert ltx2_server.health()["features"]["min_size"] == 64
    r = http.post(ltx2_server.url + "/v1/jobs", json=_request(width=width, height=height))
    assert r.status_code == 422, r.text
    assert r.json() == {
        "field": field,
        "detail": f"{field}: is 32 but this server's model makes no side under 64: use 64 or more",
    }


def test_ltx_video_makes_32_pixel_sides(server):
    assert server.health()["features"]["min_size"] == 32


def test_camera_lora_name_on_ltx_video_is_refused(server, http):
    r = http.post(server.url + "/v1/jobs", json=job_request(camera_lora="Dolly-In"))
    assert r.status_code == 422 and r.json()["field"] == "camera_lora"


def test_model_tiny_ltx2_builds_into_the_data_dir(tmp_path):
    from support.server import run_server

    with run_server(tmp_path / "srv", model="tiny-ltx2", env={"OMP_NUM_THREADS": "1"}) as srv:
        health = srv.health()
    assert health["family"] == "ltx2" and health["model"] == "tiny-ltx2"
    assert health["model_path"] == str(tmp_path / "srv" / "tiny-ltx2-model")
    assert "camera_lora" in health["capabilities"]


def test_a_long_ltx2_shot_is_one_clip_with_its_audio(tiny_ltx2_dir, tmp_path, http):
    """The chain on LTX-2: segments of 17 frames make one 41-frame mp4 with audio of its length; a keyframe
    in the last segment lands on a frame LTX-2 can condition (latent-aligned within its segment)."""
    from support.server import run_server

    args = ["--segment-frames", "17", "--max-frames", "65"]
    with run_server(tmp_path / "srv", str(tiny_ltx2_dir), args, env={"OMP_NUM_THREADS": "1"}) as srv:
        req = _request(num_frames=41, conditions=[{"frame_index": 34, "image": png_b64(96, 64, seed=3)}])
        done, path = _run(http, srv, tmp_path, req)
    segments = done["applied"]["segments"]
    assert len(segments) >= 3 and segments[-1]["frame_end"] == 40
    assert done["applied"]["conditions"][0]["frame_index"] == 33  # 8k+1, nearest to 34
    info = probe_mp4(path)
    assert info["frames"] == 41
    assert "audio" in done["applied"]["layers"]
    assert abs(info["audio"]["duration_s"] - 41 / 24) < 1.5 / 24
