"""Draft, then final, over real HTTP on the tiny LTX-2 (a real server process, its random x2 latent
upsampler loaded from the model folder): a draft comes back at half size and keeps its latents; a finalize
of it has the final size and the draft's frames; an unknown job is a 404 and anything but a finished draft
with its latents a 409, each with a sentence and no new job; cancel and kill -9 during a finalize lose
nothing; retention removes a draft's latents and its finalize is then a 409."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import requests
from support.server import job_request, png_b64, run_server, start_server, wait_for, wait_progress

pytestmark = pytest.mark.slow

av = pytest.importorskip("av")

ENV = {"OMP_NUM_THREADS": "1"}


def _draft_request(**overrides):
    base = dict(
        prompt="a red car drives down a city street",
        seed=5,
        num_frames=17,
        width=256,
        height=128,
        num_inference_steps=2,
        guidance_scale=1.0,
        conditions=[{"image": png_b64(256, 128, seed=3), "frame_index": 0, "strength": 1.0}],
        draft=True,
    )
    return job_request(**{**base, **overrides})


def _frames(http, url: str, status: dict) -> np.ndarray:
    with av.open(io.BytesIO(http.get(url + status["video_url"]).content)) as box:
        return np.stack([f.to_ndarray(format="rgb24") for f in box.decode(video=0)])


def _finished(http, url: str, body: dict, timeout: float = 300.0) -> dict:
    r = http.post(url + "/v1/jobs", json=body, timeout=30)
    assert r.status_code == 202, r.text
    return wait_for(http, url, r.json()["id"], timeout=timeout)


@pytest.fixture(scope="module")
def srv(tiny_ltx2_dir, tmp_path_factory):
    with run_server(tmp_path_factory.mktemp("srv-draft"), model=str(tiny_ltx2_dir), env=ENV) as handle:
        yield handle


@pytest.fixture(scope="module")
def draft(srv):
    with requests.Session() as http:
        status = _finished(http, srv.url, _draft_request())
    assert status["status"] == "succeeded", status
    return status


def test_health_shows_the_recipe_and_how_long_drafts_are_kept(srv):
    health = srv.health()
    assert {"draft", "finalize"} <= set(health["capabilities"])
    assert health["recipe"]["draft"]["divisor"] == 2
    assert health["recipe"]["finalize"]["stages"] == ["latent_upsample_x2", "refine"]
    assert health["drafts"]["keep_days"] == 7
    assert "kept 7 days after the draft finishes" in health["drafts"]["sentence"]


def test_a_draft_comes_back_at_half_size_and_keeps_its_latents(srv, http, draft):
    frames = _frames(http, srv.url, draft)
    assert frames.shape == (17, 64, 128, 3)
    assert draft["applied"]["stages"] == [
        {"stage": "draft", "width": 128, "height": 64, "num_frames": 17, "steps": 2}
    ]
    assert draft["applied"]["draft"] == {"width": 128, "height": 64, "final_width": 256, "final_height": 128}
    assert (srv.data_dir / "videos" / f"{draft['id']}.draft.npz").is_file()


def test_finalize_makes_the_draft_bigger_the_same_each_time(srv, http, draft):
    first = _finished(http, srv.url, {"finalize": draft["id"]})
    assert first["status"] == "succeeded", first
    frames = _frames(http, srv.url, first)
    assert frames.shape == (17, 128, 256, 3)
    assert [s["stage"] for s in first["applied"]["stages"]] == ["latent_upsample_x2", "refine"]
    assert {(s["width"], s["height"], s["num_frames"]) for s in first["applied"]["stages"]} == {
        (256, 128, 17)
    }
    assert first["applied"]["finalize"]["draft"] == draft["id"]
    assert first["request"]["seed"] == draft["request"]["seed"] == 5
    assert first["applied"]["conditions"] == draft["applied"]["conditions"]
    assert "audio" in first["applied"]["layers"]

    again = _finished(http, srv.url, {"finalize": draft["id"]})
    np.testing.assert_array_equal(_frames(http, srv.url, again), frames)


def test_overrides_change_only_what_they_name(srv, http, draft):
    status = _finished(http, srv.url, {"finalize": draft["id"], "audio": False, "shot": "sh020"})
    assert status["status"] == "succeeded" and status["shot"] == "sh020"
    assert "audio" not in status["applied"]["layers"]
    r = http.post(srv.url + "/v1/jobs", json={"finalize": draft["id"], "seed": 9})
    assert r.status_code == 422 and r.json()["field"] == "seed"
    assert "keeps the draft's seed" in r.json()["detail"]


def test_unknown_or_unfinished_or_single_pass_jobs_are_refused_with_a_sentence(srv, http, draft):
    before = len(http.get(srv.url + "/v1/jobs").json()["jobs"])
    r = http.post(srv.url + "/v1/jobs", json={"finalize": "0" * 32})
    assert r.status_code == 404
    assert r.json()["detail"].startswith(f"No job with id {'0' * 32!r} on this server")

    single = _finished(http, srv.url, job_request(width=128, height=64, num_frames=9, guidance_scale=1.0))
    r = http.post(srv.url + "/v1/jobs", json={"finalize": single["id"]})
    assert r.status_code == 409 and "is not a draft" in r.json()["detail"]

    # queued behind a long job: not finished yet
    long = http.post(srv.url + "/v1/jobs", json=_draft_request(num_frames=97, width=512, height=256)).json()
    queued = http.post(srv.url + "/v1/jobs", json=_draft_request(seed=6)).json()
    r = http.post(srv.url + "/v1/jobs", json={"finalize": queued["id"]})
    assert r.status_code == 409
    assert r.json()["detail"].endswith("can be finalized once it has succeeded.")
    for job in (long, queued):
        http.post(f"{srv.url}/v1/jobs/{job['id']}/cancel")
        wait_for(http, srv.url, job["id"])
    after = len(http.get(srv.url + "/v1/jobs").json()["jobs"])
    assert after == before + 3  # the single-pass job and the two drafts; no finalize job was made


def test_a_draft_the_recipe_cannot_halve_is_a_422(srv, http):
    r = http.post(srv.url + "/v1/jobs", json=_draft_request(width=224))
    assert r.status_code == 422 and r.json()["field"] == "width"
    assert "multiples of 64; 224x128 is not (use 256x128)" in r.json()["detail"]


def test_a_draft_too_small_to_decode_is_a_422(srv, http):
    r = http.post(srv.url + "/v1/jobs", json=_draft_request(width=256, height=64))
    assert r.status_code == 422 and r.json()["field"] == "height"
    assert "its half-size draft would be 32, under the 64 this model decodes" in r.json()["detail"]


def test_a_finalize_sent_twice_with_one_key_is_one_job(srv, http, draft):
    key = {"Idempotency-Key": "finalize-once-1"}
    first = http.post(srv.url + "/v1/jobs", json={"finalize": draft["id"]}, headers=key)
    again = http.post(srv.url + "/v1/jobs", json={"finalize": draft["id"]}, headers=key)
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["id"] == again.json()["id"]
    assert wait_for(http, srv.url, first.json()["id"])["status"] == "succeeded"


def test_cancel_during_a_finalize_keeps_the_draft_finalizable(srv, http):
    big = _finished(http, srv.url, _draft_request(num_frames=97, width=512, height=256, seed=8))
    assert big["status"] == "succeeded", big
    job = http.post(srv.url + "/v1/jobs", json={"finalize": big["id"]}).json()
    wait_progress(http, srv.url, job["id"])
    http.post(f"{srv.url}/v1/jobs/{job['id']}/cancel")
    done = wait_for(http, srv.url, job["id"])
    assert done["status"] == "cancelled", done
    assert http.get(f"{srv.url}/v1/jobs/{job['id']}/video").status_code == 409
    assert not (srv.data_dir / "inputs" / job["id"]).exists()
    again = _finished(http, srv.url, {"finalize": big["id"]})
    assert again["status"] == "succeeded"
    assert _frames(http, srv.url, again).shape == (97, 256, 512, 3)


def test_kill9_during_a_finalize_then_it_finishes(tiny_ltx2_dir, tmp_path):
    data = tmp_path / "data"
    http = requests.Session()
    srv = start_server(data, str(tiny_ltx2_dir), env=ENV)
    try:
        draft = _finished(http, srv.url, _draft_request(num_frames=97, width=512, height=256))
        job = http.post(srv.url + "/v1/jobs", json={"finalize": draft["id"]}).json()
        wait_progress(http, srv.url, job["id"])
    finally:
        srv.kill9()
    srv = start_server(data, str(tiny_ltx2_dir), env=ENV)
    try:
        done = wait_for(http, srv.url, job["id"], timeout=300)
        assert done["status"] == "succeeded" and done["attempts"] == 2, done
        with av.open(io.BytesIO(http.get(srv.url + done["video_url"]).content)) as box:
            stream = box.streams.video[0]
            assert (stream.width, stream.height, stream.frames) == (512, 256, 97)
        assert (data / "videos" / f"{draft['id']}.draft.npz").is_file()  # the draft is still finalizable
    finally:
        srv.stop()


def test_an_expired_draft_is_a_409(tiny_ltx2_dir, tmp_path):
    data = tmp_path / "data"
    http = requests.Session()
    keep = ("--keep-draft-days", "0.00002")  # 1.7 s
    with run_server(data, str(tiny_ltx2_dir), keep, env=ENV) as srv:
        draft = _finished(http, srv.url, _draft_request())
        assert draft["status"] == "succeeded"
        assert srv.health()["drafts"]["keep_days"] == 0.00002
    time.sleep(2.0)
    with run_server(data, str(tiny_ltx2_dir), keep, env=ENV) as srv:  # retention runs at start
        assert not (data / "videos" / f"{draft['id']}.draft.npz").exists()
        assert http.get(f"{srv.url}/v1/jobs/{draft['id']}").json()["status"] == "succeeded"
        r = http.post(srv.url + "/v1/jobs", json={"finalize": draft["id"]})
        assert r.status_code == 409
        assert r.json()["detail"].startswith(f"The latents of the draft {draft['id']} are gone")
        assert len(http.get(srv.url + "/v1/jobs").json()["jobs"]) == 1


def test_a_draft_and_its_finalize_over_ray(tiny_ltx2_dir, tmp_path):
    """With --ray the replica makes the draft and the finalize (the latents travel to it with the job)."""
    pytest.importorskip("ray")
    http = requests.Session()
    args = ("--ray", "--replicas", "1")
    with run_server(tmp_path / "data", str(tiny_ltx2_dir), args, env=ENV, timeout=300) as srv:
        assert srv.health()["recipe"]["finalize"]["stages"] == ["latent_upsample_x2", "refine"]
        draft = _finished(http, srv.url, _draft_request())
        assert draft["status"] == "succeeded", draft
        final = _finished(http, srv.url, {"finalize": draft["id"]})
        assert final["status"] == "succeeded", final
        assert _frames(http, srv.url, final).shape == (17, 128, 256, 3)
