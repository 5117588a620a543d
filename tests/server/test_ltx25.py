"""LTX-2.5 over real HTTP on the tiny LTX-2.5 (a real server process; the DFR pipeline, its spatial and
temporal latent upsamplers, diffusion decoder and Gemma-4 prompt enhancer loaded from the folder
``make-tiny-model --family ltx2.5`` wrote): a draft at half the size and frame rate keeps its latents and
slots; its finalize has the final size and the draft job's frames, the same each time; a plain job runs
the whole recipe and ``single_pass`` one pass; the enhancer is opt-in, and the camera sentence survives it."""

from __future__ import annotations

import io

import numpy as np
import pytest
import requests
from support.server import job_request, png_b64, run_server, wait_for

pytestmark = pytest.mark.slow

av = pytest.importorskip("av")

ENV = {"OMP_NUM_THREADS": "1"}
FINAL = dict(width=128, height=128, num_frames=17, frame_rate=24.0)
RECIPE = ["latent_upsample_x2", "dfr_refine", "temporal_refine_x2", "diffusion_decode"]


def _request(**overrides):
    base = dict(
        prompt="a red car drives down a city street",
        seed=5,
        num_inference_steps=4,
        guidance_scale=1.0,
        conditions=[{"image": png_b64(128, 128, seed=3), "frame_index": 0, "strength": 1.0}],
        **FINAL,
    )
    return job_request(**{**base, **overrides})


def _trajectory(n: int) -> dict:
    """A camera looking along +Y that dollies in (0.1 a frame): a camera sentence in the prompt."""
    mats = []
    for i in range(n):
        m = np.array([[1, 0, 0, 0], [0, 0, -1, -10 + 0.1 * i], [0, 1, 0, 1.6], [0, 0, 0, 1]], dtype=float)
        mats.append(m.ravel().tolist())
    return {"frames": list(range(1, n + 1)), "matrix_world": mats, "lens_mm": [35.0] * n}


def _video(http, url: str, status: dict) -> tuple[np.ndarray, float]:
    """(frames, frame rate) of a finished job's mp4."""
    with av.open(io.BytesIO(http.get(url + status["video_url"]).content)) as box:
        rate = float(box.streams.video[0].average_rate)
        return np.stack([f.to_ndarray(format="rgb24") for f in box.decode(video=0)]), rate


def _finished(http, url: str, body: dict) -> dict:
    r = http.post(url + "/v1/jobs", json=body, timeout=30)
    assert r.status_code == 202, r.text
    status = wait_for(http, url, r.json()["id"], timeout=300)
    assert status["status"] == "succeeded", status
    return status


@pytest.fixture(scope="module")
def srv(tiny_ltx25_dir, tmp_path_factory):
    """The tiny LTX-2.5 with its prompt enhancer and duration head loaded."""
    folder = tmp_path_factory.mktemp("srv-ltx25")
    args = ["--prompt-enhancement", "--duration-head"]
    with run_server(folder, model=str(tiny_ltx25_dir), extra_args=args, env=ENV) as handle:
        yield handle


@pytest.fixture(scope="module")
def draft(srv):
    with requests.Session() as http:
        return _finished(http, srv.url, _request(draft=True))


def test_health_names_the_family_its_recipe_and_its_switches(srv):
    health = srv.health()
    assert health["family"] == "ltx2.5" and health["backend"] == "ltx2.5"
    assert {"draft", "finalize", "prompt_enhancement", "keyframes", "audio"} <= set(health["capabilities"])
    recipe = health["recipe"]
    assert recipe["why_not"] is None
    assert recipe["draft"]["divisor"] == 2 and recipe["draft"]["frame_rate_divisor"] == 2
    assert recipe["finalize"]["stages"] == RECIPE
    features = health["features"]
    assert features["pipeline"] == "LTX2DFRPipeline" and features["prompt_enhancement"] is True
    assert features["duration_head"].startswith("advice only")
    assert features["diffusion_decoder"].endswith("diffusion_decoder")


def test_a_draft_is_half_the_size_and_rate_and_keeps_its_latents_and_slots(srv, http, draft):
    frames, rate = _video(http, srv.url, draft)
    assert frames.shape == (9, 64, 64, 3) and rate == 12.0
    assert draft["applied"]["stages"] == [
        {"stage": "draft", "width": 64, "height": 64, "num_frames": 9, "steps": 4, "frame_rate": 12.0}
    ]
    with np.load(srv.data_dir / "videos" / f"{draft['id']}.draft.npz") as kept:
        assert {"video", "audio", "keyframes"} <= set(kept.files)
        assert kept["video"].shape[3:] == (2, 2) and kept["keyframes"].shape[3:] == (2, 2)


def test_finalize_has_the_final_size_and_the_draft_jobs_frames_the_same_each_time(srv, http, draft):
    first = _finished(http, srv.url, {"finalize": draft["id"]})
    frames, rate = _video(http, srv.url, first)
    assert frames.shape == (17, 128, 128, 3) and rate == 24.0
    assert [s["stage"] for s in first["applied"]["stages"]] == RECIPE
    assert first["applied"]["stages"][-1] == {
        "stage": "diffusion_decode",
        "width": 128,
        "height": 128,
        "num_frames": 17,
    }
    assert first["request"]["seed"] == draft["request"]["seed"] == 5
    assert first["applied"]["conditions"] == draft["applied"]["conditions"]
    again = _finished(http, srv.url, {"finalize": draft["id"]})
    np.testing.assert_array_equal(_video(http, srv.url, again)[0], frames)


def test_a_plain_job_runs_the_whole_recipe_and_single_pass_one_pass(srv, http, draft):
    whole = _finished(http, srv.url, _request())
    assert [s["stage"] for s in whole["applied"]["stages"]] == ["draft", *RECIPE]
    frames = _video(http, srv.url, whole)[0]
    assert frames.shape == (17, 128, 128, 3)
    # the same request as the draft: the recipe in one job is exactly the draft finalized
    final = _finished(http, srv.url, {"finalize": draft["id"]})
    np.testing.assert_array_equal(_video(http, srv.url, final)[0], frames)

    single = _finished(http, srv.url, _request(seed=6, single_pass=True, num_frames=9))
    assert single["applied"]["stages"] == [
        {"stage": "single", "width": 128, "height": 128, "num_frames": 9, "steps": 4, "frame_rate": 24.0},
        {"stage": "vae_decode", "width": 128, "height": 128, "num_frames": 9},
    ]
    assert _video(http, srv.url, single)[0].shape == (9, 128, 128, 3)


def test_a_recipe_take_shorter_than_its_draft_allows_is_refused_with_a_sentence(srv, http):
    r = http.post(srv.url + "/v1/jobs", json=_request(num_frames=9))
    assert r.status_code == 422 and r.json()["field"] == "num_frames"
    assert '"single_pass": true' in r.json()["detail"]
    r = http.post(srv.url + "/v1/jobs", json=_request(draft=True, single_pass=True))
    assert r.status_code == 422 and r.json()["field"] == "single_pass"


def test_the_camera_sentence_survives_the_random_enhancer(srv, http):
    status = _finished(http, srv.url, _request(enhance_prompt=True, trajectory=_trajectory(17), draft=True))
    used = status["applied"]["prompt_used"]
    assert "motion_prompt" in status["applied"]["layers"]
    sentence = used[len("a red car drives down a city street") :].strip()
    assert sentence.startswith("The camera ") and sentence.endswith("dollies in."), used
    record = status["applied"]["prompt_enhancement"]
    # the tiny enhancer writes random tokens: it drops the sentence, which is put back verbatim
    assert sentence not in record["enhancer_output"] and record["motion_sentence_appended"] is True
    assert record["prompt"].endswith(sentence) and record["prompt"] != used
    # its finalize enhances the same way (same seed): the same prompt reaches the model
    final = _finished(http, srv.url, {"finalize": status["id"]})
    assert final["applied"]["prompt_enhancement"] == record


def test_the_duration_head_advises_and_changes_nothing(srv, http, draft):
    """Loaded with --duration-head, it says how long the prompt's action runs next to the shot's length;
    the take keeps the shot's frames (the draft's half-rate frames, the final's full count)."""
    advice = draft["applied"]["duration"]
    assert advice["used"] is False and advice["shot_s"] == round(17 / 24, 2)
    assert advice["predicted_s"] > 0 and advice["shot_share"] == round(17 / 24 / advice["predicted_s"], 2)
    assert _video(http, srv.url, draft)[0].shape[0] == 9
    final = _finished(http, srv.url, {"finalize": draft["id"]})
    assert final["applied"]["duration"] == advice  # the same prompt: the same advice
    assert _video(http, srv.url, final)[0].shape[0] == 17


def test_the_enhancer_is_off_by_default_and_asking_for_it_is_a_422(tiny_ltx25_dir, tmp_path):
    with (
        run_server(tmp_path / "srv", model=str(tiny_ltx25_dir), env=ENV) as plain,
        requests.Session() as http,
    ):
        health = plain.health()
        assert health["family"] == "ltx2.5" and "prompt_enhancement" not in health["capabilities"]
        assert health["features"]["prompt_enhancement"] is False
        assert health["features"]["duration_head"].startswith("off (--duration-head loads it")
        r = http.post(plain.url + "/v1/jobs", json=_request(enhance_prompt=True))
        assert r.status_code == 422 and r.json()["field"] == "enhance_prompt"
        assert "--prompt-enhancement" in r.json()["detail"]
        assert http.get(plain.url + "/v1/jobs").json()["jobs"] == []
        plain_draft = _finished(http, plain.url, _request(draft=True))
        assert "duration" not in plain_draft["applied"]  # no head loaded, no advice


def test_cancel_and_kill9_during_a_finalize(tiny_ltx25_dir, tmp_path):
    """A finalize cancelled mid-run ends cancelled with no video and leaves its draft finalizable; one whose
    server is killed (-9) mid-run runs again after the restart and makes the same clip as one never cut."""
    from support.server import start_server, wait_progress

    big = dict(width=384, height=384, num_frames=97, frame_rate=24.0)
    data, http = tmp_path / "data", requests.Session()
    srv = start_server(data, str(tiny_ltx25_dir), env=ENV)
    try:
        draft = _finished(http, srv.url, _request(draft=True, **big, conditions=[]))
        job = http.post(srv.url + "/v1/jobs", json={"finalize": draft["id"]}).json()
        wait_progress(http, srv.url, job["id"])
        assert http.post(f"{srv.url}/v1/jobs/{job['id']}/cancel").status_code == 200
        done = wait_for(http, srv.url, job["id"])
        assert done["status"] == "cancelled", done
        assert http.get(f"{srv.url}/v1/jobs/{job['id']}/video").status_code == 409
        cut = http.post(srv.url + "/v1/jobs", json={"finalize": draft["id"]}).json()
        wait_progress(http, srv.url, cut["id"])
    finally:
        srv.kill9()
    srv = start_server(data, str(tiny_ltx25_dir), env=ENV)
    try:
        after = wait_for(http, srv.url, cut["id"], timeout=300)
        assert after["status"] == "succeeded" and after["attempts"] == 2, after
        frames = _video(http, srv.url, after)[0]
        assert frames.shape == (97, 384, 384, 3)
        whole = _finished(http, srv.url, {"finalize": draft["id"]})
        np.testing.assert_array_equal(_video(http, srv.url, whole)[0], frames)
    finally:
        srv.stop()
