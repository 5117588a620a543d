"""What the server applies: motion specifiers from the trajectory in the prompt, keyframes at their
frames, at a real shot size (121 frames, 768x512)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from support.server import dolly_in, job_request, png_b64, wait_for

from server.generation.video import probe_mp4

# A real server on the tiny model (tens of seconds to start on a loaded 2-core machine): not quick.
pytestmark = pytest.mark.slow

PROMPT = "A red car drives down a wet city street at night"


def test_real_shot_size_with_motion_and_two_keyframes(server, http, tmp_path):
    req = job_request(
        prompt=PROMPT,
        num_frames=121,
        width=768,
        height=512,
        num_inference_steps=2,
        trajectory=dolly_in(121),
        conditions=[
            {"frame_index": 0, "image": png_b64(768, 512, seed=3)},
            {"frame_index": 120, "image": png_b64(768, 512, seed=4), "strength": 0.9},
        ],
    )
    r = http.post(server.url + "/v1/jobs", json=req)
    assert r.status_code == 202, r.text
    applied = r.json()["applied"]  # known at submit time, before the job runs
    done = wait_for(http, server.url, r.json()["id"], timeout=600)
    assert done["status"] == "succeeded", done
    # What the submit answered holds; the run adds only what it alone knows: which pictures reached the
    # model (look) and where the model was (device).
    assert {k: done["applied"][k] for k in applied} == applied
    assert set(done["applied"]) - set(applied) == {"device", "look"}
    assert applied["layers"] == ["motion_prompt", "keyframes"]
    assert applied["motion_script"]  # the shared motion analysis produced a script
    assert (
        applied["prompt_used"].startswith(PROMPT + " The camera ") and "dollies in" in applied["prompt_used"]
    )
    assert [c["frame_index"] for c in applied["conditions"]] == [0, 120]

    path = tmp_path / "shot.mp4"
    path.write_bytes(http.get(server.url + done["video_url"]).content)
    mp4 = probe_mp4(path)
    assert (mp4["frames"], mp4["width"], mp4["height"], mp4["rate"]) == (121, 768, 512, Fraction(24))


def test_motion_prompt_can_be_turned_off(server, http):
    req = job_request(prompt=PROMPT, trajectory=dolly_in(9), motion_prompt=False)
    applied = http.post(server.url + "/v1/jobs", json=req).json()["applied"]
    assert applied == {
        "prompt_used": PROMPT,
        "motion_script": "",
        "negative_prompt": "blurry",
        "conditions": [],
        "layers": [],
        "sampling": {"profile": "tiny", "from_profile": [], "pipeline_kwargs": {}},
        "control": None,
        "segments": None,  # one generation: no chain
    }


def test_orthographic_trajectory_is_accepted_and_its_scale_is_the_zoom(server, http):
    # The same forward move as a perspective dolly, on an orthographic camera whose view narrows:
    # the move does not show in its picture, the narrowing view does.
    traj = dolly_in(25) | {"camera_type": "ORTHO", "ortho_scale": [6.0 - 0.1 * i for i in range(25)]}
    r = http.post(server.url + "/v1/jobs", json=job_request(prompt=PROMPT, num_frames=25, trajectory=traj))
    assert r.status_code == 202, r.text
    applied = r.json()["applied"]
    assert "zooms in" in applied["prompt_used"] and "dollies" not in applied["prompt_used"], applied
    perspective = http.post(
        server.url + "/v1/jobs", json=job_request(prompt=PROMPT, num_frames=25, trajectory=dolly_in(25))
    ).json()["applied"]
    assert "dollies in" in perspective["prompt_used"]


def test_static_or_missing_trajectory_adds_no_motion(server, http):
    applied = http.post(server.url + "/v1/jobs", json=job_request(prompt=PROMPT)).json()["applied"]
    assert applied["prompt_used"] == PROMPT and applied["layers"] == []
