"""Look jobs over real HTTP on a real server (tiny LTX video model + tiny FLUX.2 klein look model): N
stills with their seeds as downloadable assets, references uploaded once, cancel, kill -9 and restart,
the refusals, and the video job's ``look`` proven by ``applied.look``."""

from __future__ import annotations

import base64
import hashlib
import io

import numpy as np
import pytest
import requests
from PIL import Image
from support.server import job_request, png_b64, run_server, start_server, wait_for, wait_progress

from blender_ltx.core.client import Client
from blender_ltx.core.looks import look_request

pytestmark = pytest.mark.slow

ENV = {"OMP_NUM_THREADS": "1"}
#: Enough work that a cancel or a kill -9 surely lands mid-way.
LONG = {"count": 8, "num_inference_steps": 40, "width": 256, "height": 256}


@pytest.fixture(scope="module")
def srv(tiny_model_dir, tiny_look_dir, tmp_path_factory):
    args = ("--look-model", str(tiny_look_dir))
    with run_server(tmp_path_factory.mktemp("looks"), str(tiny_model_dir), args, env=ENV) as handle:
        yield handle


def _png(seed: int, w: int = 64, h: int = 64) -> bytes:
    return base64.b64decode(png_b64(w, h, seed))


REFS = [
    {"name": "Ana", "kind": "character", "png": _png(11)},
    {"name": "the red car", "kind": "prop", "png": _png(12)},
]


def _look(srv, **overrides):
    req, sent = look_request(
        Client(srv.url),
        prompt="Ana beside the red car at night",
        width=64,
        height=64,
        count=3,
        seed=5,
        num_inference_steps=2,
        layout=("depth", _png(10)),
        references=REFS,
    )
    return req | overrides, sent


def test_health_offers_looks_and_says_how_the_models_share_the_device(srv):
    health = requests.get(srv.url + "/v1/health").json()
    assert {"look_frames", "references"} <= set(health["capabilities"])
    assert health["look"]["pipeline"] == "Flux2KleinPipeline" and health["look"]["size_multiple"] == 16
    assert health["device_share"]["mode"] == "host"  # the CPU: both live in memory
    assert health["device_share"]["models"] == ["video", "look"]


def test_a_look_job_makes_n_stills_with_seeds_and_a_rerun_uploads_nothing(srv):
    http = requests.Session()
    req, sent = _look(srv)
    assert sent == len(_png(10)) + sum(len(r["png"]) for r in REFS)
    job = http.post(srv.url + "/v1/jobs", json=req)
    assert job.status_code == 202, job.text
    assert job.json()["request"]["kind"] == "look"
    done = wait_for(http, srv.url, job.json()["id"])
    assert done["status"] == "succeeded", done
    applied = done["applied"]
    assert applied["seeds"] == [5, 6, 7] and [s["seed"] for s in applied["stills"]] == [5, 6, 7]
    assert applied["layout"]["kind"] == "depth"
    assert applied["layout"]["sha256"] == hashlib.sha256(_png(10)).hexdigest()
    assert [(r["name"], r["kind"], r["sha256"]) for r in applied["references"]] == [
        (r["name"], r["kind"], hashlib.sha256(r["png"]).hexdigest()) for r in REFS
    ]
    assert applied["device"]["model"] == "look" and applied["device"]["loaded"] is True
    assert done["video_url"] is None
    pixels = []
    for still in applied["stills"]:
        raw = http.get(srv.url + still["url"]).content
        assert hashlib.sha256(raw).hexdigest() == still["asset"]
        with Image.open(io.BytesIO(raw)) as img:
            assert img.size == (64, 64)
            pixels.append(np.asarray(img))
    assert not np.array_equal(pixels[0], pixels[1])

    # Second run: the same layout and references are on the server, so nothing is uploaded again; the
    # same seeds give the same stills.
    before = requests.get(srv.url + "/v1/health").json()["assets"]["uploaded_bytes"]
    req2, sent2 = _look(srv)
    assert sent2 == 0
    again = wait_for(http, srv.url, http.post(srv.url + "/v1/jobs", json=req2).json()["id"])
    assert requests.get(srv.url + "/v1/health").json()["assets"]["uploaded_bytes"] == before
    assert [s["asset"] for s in again["applied"]["stills"]] == [s["asset"] for s in applied["stills"]]
    # Other references: other stills from the same seeds.
    other, _ = look_request(
        Client(srv.url),
        prompt=req["prompt"],
        width=64,
        height=64,
        count=1,
        seed=5,
        num_inference_steps=2,
        layout=("depth", _png(10)),
        references=[{"name": "Ana", "kind": "character", "png": _png(99)}],
    )
    third = wait_for(http, srv.url, http.post(srv.url + "/v1/jobs", json=other).json()["id"])
    assert third["applied"]["stills"][0]["asset"] != applied["stills"][0]["asset"]


def test_the_look_frame_is_the_only_picture_and_prompt_sends_none(srv):
    http = requests.Session()
    req, _ = _look(srv, count=1)
    still = wait_for(http, srv.url, http.post(srv.url + "/v1/jobs", json=req).json()["id"])
    sha = still["applied"]["stills"][0]["asset"]

    frame = http.post(
        srv.url + "/v1/jobs",
        json=job_request(look="frame", conditions=[{"frame_index": 0, "image": {"asset": sha}}]),
    )
    assert frame.status_code == 202, frame.text
    done = wait_for(http, srv.url, frame.json()["id"])
    assert done["status"] == "succeeded", done
    look = done["applied"]["look"]
    assert look["mode"] == "frame" and look["pictures_to_model"] == 1 and look["frame"] == sha
    assert done["applied"]["device"]["model"] == "video"

    prompt = wait_for(
        http, srv.url, http.post(srv.url + "/v1/jobs", json=job_request(look="prompt")).json()["id"]
    )
    assert prompt["status"] == "succeeded"
    assert prompt["applied"]["look"] == {
        "mode": "prompt",
        "pictures_to_model": 0,
        "pictures": [],
        "frame": None,
        "control_references": 0,
    }
    assert prompt["applied"]["conditions"] == []

    previs = job_request(conditions=[{"frame_index": 0, "image": png_b64(64, 64, 1)}])
    done = wait_for(http, srv.url, http.post(srv.url + "/v1/jobs", json=previs).json()["id"])
    assert done["applied"]["look"]["mode"] == "previs" and done["applied"]["look"]["pictures_to_model"] == 1


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        ({"look": "prompt", "conditions": [{"frame_index": 0, "image": "AAAA"}]}, "look", "sends no picture"),
        (
            {"look": "frame", "conditions": [{"frame_index": 8, "image": "AAAA"}]},
            "look",
            "exactly one condition, at frame_index 0",
        ),
        ({"look": "grey"}, "look", "previs"),
    ],
)
def test_a_video_job_whose_pictures_break_its_look_is_refused(srv, overrides, field, words):
    r = requests.post(srv.url + "/v1/jobs", json=job_request(**overrides))
    assert r.status_code == 422 and r.json()["field"] == field and words in r.json()["detail"], r.text


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        ({"width": 72}, "width", "multiples of 16 but are 72 and 64"),
        ({"count": 0}, "count", "greater than or equal to 1"),
        ({"colour": "red"}, "colour", "not a known field of a look job"),
        ({"references": [{"name": "x", "kind": "dog", "image": "AAAA"}]}, "references[0].kind", "character"),
        (
            {"layout": {"kind": "depth", "image": {"asset": "0" * 64}}},
            "layout.image.asset",
            "upload it first",
        ),
    ],
)
def test_a_bad_look_job_gets_one_sentence_naming_the_field(srv, overrides, field, words):
    req, _ = _look(srv)
    r = requests.post(srv.url + "/v1/jobs", json=req | overrides)
    assert r.status_code == 422 and r.json()["field"] == field and words in r.json()["detail"], r.text


def test_cancel_a_running_look_job_leaves_no_stills(srv):
    http = requests.Session()
    req, _ = _look(srv, **LONG)
    job = http.post(srv.url + "/v1/jobs", json=req).json()
    wait_progress(http, srv.url, job["id"])
    assert http.post(f"{srv.url}/v1/jobs/{job['id']}/cancel").status_code == 200
    done = wait_for(http, srv.url, job["id"])
    assert done["status"] == "cancelled" and "stills" not in done["applied"]


def test_a_server_without_a_look_model_refuses_look_jobs(tiny_model_dir, tmp_path):
    with run_server(tmp_path / "d", str(tiny_model_dir), ("--look-model", "none"), env=ENV) as plain:
        health = plain.health()
        assert "look_frames" not in health["capabilities"] and health["look"] is None
        req, _ = _look(plain)
        r = requests.post(plain.url + "/v1/jobs", json=req)
        assert r.status_code == 422 and r.json()["field"] == "kind" and "--look-model" in r.json()["detail"]


def test_kill9_mid_look_then_restart_runs_it_again(tiny_model_dir, tiny_look_dir, tmp_path):
    data, http = tmp_path / "data", requests.Session()
    args = ("--look-model", str(tiny_look_dir))
    srv = start_server(data, str(tiny_model_dir), args, env=ENV)
    try:
        req, _ = _look(srv, **{**LONG, "count": 2, "num_inference_steps": 30})
        job = http.post(srv.url + "/v1/jobs", json=req).json()
        wait_progress(http, srv.url, job["id"])
    finally:
        srv.kill9()
    srv = start_server(data, str(tiny_model_dir), args, env=ENV)
    try:
        done = wait_for(http, srv.url, job["id"])
        assert done["status"] == "succeeded" and done["attempts"] == 2
        assert [s["seed"] for s in done["applied"]["stills"]] == [5, 6]
        for still in done["applied"]["stills"]:
            assert http.get(srv.url + still["url"]).status_code == 200
    finally:
        srv.stop()


def test_removing_a_look_job_removes_its_stills_unless_another_job_names_them(srv):
    http = requests.Session()
    req, _ = _look(srv, count=2, seed=901)
    look = wait_for(http, srv.url, http.post(srv.url + "/v1/jobs", json=req).json()["id"])
    kept, dropped = (s["asset"] for s in look["applied"]["stills"])
    # A video job starts from the first still: it names it, so it outlives the look job.
    video = job_request(look="frame", conditions=[{"frame_index": 0, "image": {"asset": kept}}])
    taken = wait_for(http, srv.url, http.post(srv.url + "/v1/jobs", json=video).json()["id"])
    assert taken["status"] == "succeeded", taken
    for sha in (kept, dropped):
        assert http.head(f"{srv.url}/v1/assets/{sha}").status_code == 200

    assert http.delete(f"{srv.url}/v1/jobs/{look['id']}").status_code == 200
    assert http.get(f"{srv.url}/v1/jobs/{look['id']}").status_code == 404
    assert http.head(f"{srv.url}/v1/assets/{dropped}").status_code == 404
    assert http.head(f"{srv.url}/v1/assets/{kept}").status_code == 200

    # The video job goes too: nothing names the still any more, but stills only go with a look job.
    assert http.delete(f"{srv.url}/v1/jobs/{taken['id']}").status_code == 200
    assert http.head(f"{srv.url}/v1/assets/{kept}").status_code == 200
