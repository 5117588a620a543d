"""Assets over real HTTP: uploaded once by content hash, used by reference in a job, counted by the server."""

from __future__ import annotations

import base64
import hashlib
import io

import numpy as np

import pytest
from support.server import job_request, png_b64, wait_for

from blender_ltx.core.client import Client
from blender_ltx.core.protocol import ServerError

# A real server on the tiny model (tens of seconds to start on a loaded 2-core machine): not quick.
pytestmark = pytest.mark.slow


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _uploaded(server) -> int:
    return server.health()["assets"]["uploaded_bytes"]


def test_put_stores_once_and_head_answers(server, http):
    data = b"previs depth video bytes " * 100
    sha = _sha(data)
    url = f"{server.url}/v1/assets/{sha}"
    assert http.head(url).status_code == 404
    r = http.put(url, data=data)
    assert r.status_code == 201, r.text
    assert r.json() == {"sha256": sha, "size": len(data)}
    assert http.put(url, data=data).status_code == 200  # already there
    head = http.head(url)
    assert head.status_code == 200 and head.headers["X-Asset-Size"] == str(len(data))


def test_hash_mismatch_and_bad_names_are_refused(server, http):
    r = http.put(f"{server.url}/v1/assets/{_sha(b'other')}", data=b"these bytes")
    assert r.status_code == 422 and r.json()["field"] == "sha256"
    assert _sha(b"these bytes") in r.json()["detail"]
    assert http.head(f"{server.url}/v1/assets/{_sha(b'other')}").status_code == 404  # nothing stored
    r = http.put(f"{server.url}/v1/assets/NOT-A-HASH", data=b"x")
    assert r.status_code == 422 and r.json()["field"] == "sha256"


def test_oversized_upload_is_413(server, http):
    data = b"\0" * (server.health()["limits"]["max_body_bytes"] + 1)
    r = http.put(f"{server.url}/v1/assets/{_sha(data)}", data=data)
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    assert http.head(f"{server.url}/v1/assets/{_sha(data)}").status_code == 404


def test_a_second_identical_job_uploads_zero_bytes(server, http):
    client = Client(server.url)
    png = base64.b64decode(png_b64(96, 64, seed=41))

    def submit() -> dict:
        sha = client.ensure_asset(png)
        req = job_request(conditions=[{"frame_index": 0, "image": {"asset": sha}}])
        r = http.post(server.url + "/v1/jobs", json=req)
        assert r.status_code == 202, r.text
        return wait_for(http, server.url, r.json()["id"])

    before = _uploaded(server)
    first = submit()
    assert first["status"] == "succeeded", first
    assert first["applied"]["layers"] == ["keyframes"]
    assert _uploaded(server) - before == len(png)
    second = submit()
    assert second["status"] == "succeeded", second
    assert _uploaded(server) - before == len(png)  # the retake sent no bytes again
    # The keyframe really came from the asset: the same image inline gives the same clip (up to the
    # run-to-run noise of CPU kernels), unlike no keyframe.
    req = job_request(conditions=[{"frame_index": 0, "image": png_b64(96, 64, seed=41)}])
    inline = wait_for(http, server.url, http.post(server.url + "/v1/jobs", json=req).json()["id"])
    a, b = _frames(http, server, inline).astype(int), _frames(http, server, first).astype(int)
    c = _frames(http, server, _no_keyframe(http, server)).astype(int)
    assert np.abs(a - b).mean() < 0.1 * np.abs(a - c).mean()


def _frames(http, server, status: dict) -> np.ndarray:
    import av

    with av.open(io.BytesIO(http.get(server.url + status["video_url"]).content)) as box:
        return np.stack([f.to_ndarray(format="rgb24") for f in box.decode(video=0)])


def _no_keyframe(http, server) -> dict:
    return wait_for(http, server.url, http.post(server.url + "/v1/jobs", json=job_request()).json()["id"])


def test_unknown_or_non_png_asset_in_a_request_is_422(server, http):
    missing = _sha(b"never uploaded")
    req = job_request(conditions=[{"frame_index": 0, "image": {"asset": missing}}])
    r = http.post(server.url + "/v1/jobs", json=req)
    assert r.status_code == 422 and r.json()["field"] == "conditions[0].image.asset"
    assert "upload it first" in r.json()["detail"]
    data = b"not a png at all"
    Client(server.url).put_asset(data)
    req = job_request(conditions=[{"frame_index": 0, "image": {"asset": _sha(data)}}])
    r = http.post(server.url + "/v1/jobs", json=req)
    assert r.status_code == 422 and r.json()["field"] == "conditions[0].image"


def test_client_has_and_put_asset(server):
    client = Client(server.url)
    data = b"client side bytes"
    assert not client.has_asset(_sha(data))
    assert client.put_asset(data) == _sha(data)
    assert client.has_asset(_sha(data))
    with pytest.raises(ServerError, match="does not match"):
        client.put_asset(b"something else", _sha(data))
