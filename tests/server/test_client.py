"""The stdlib client against the real server process on loopback (tiny model): calls and error sentences."""

from __future__ import annotations

import base64
import io

import pytest

from blender_ltx.core import protocol
from blender_ltx.core.client import Client
from blender_ltx.core.protocol import ServerError
from support.server import run_server

pytestmark = [pytest.mark.server, pytest.mark.slow]


def _png_b64(w=64, h=64) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), (120, 90, 60)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _request(**over) -> dict:
    req = {
        "prompt": "a gray box",
        "seed": 3,
        "num_frames": 9,
        "width": 64,
        "height": 64,
        "frame_rate": 24.0,
        "num_inference_steps": 1,
        "guidance_scale": 1.0,
        "conditions": [{"frame_index": 0, "image": _png_b64(), "strength": 1.0}],
        "shot": "SH010",
    }
    req.update(over)
    return req


@pytest.fixture(scope="module")
def token_server(tmp_path_factory, tiny_model_dir):
    with run_server(tmp_path_factory.mktemp("srv_tok"), model=str(tiny_model_dir), token="s3cret") as srv:
        yield srv


def _wait_final(client: Client, job_id: str) -> dict:
    import time

    for _ in range(1200):
        st = client.status(job_id)
        if st["status"] in protocol.FINAL_STATUSES:
            return st
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never finished: {st}")


def test_job_round_trip_and_download(server, tmp_path):
    client = Client(server.url)
    assert client.health()["status"] == "ok"
    job = client.submit(_request())
    assert job["id"] and job["status"] in ("queued", "running")
    st = _wait_final(client, job["id"])
    assert st["status"] == "succeeded", st
    assert any(j["id"] == job["id"] for j in client.list_jobs())
    dest = tmp_path / "deep" / "take_1.mp4"
    assert client.download(job["id"], str(dest)) == str(dest)
    data = dest.read_bytes()
    assert data[4:8] == b"ftyp" and not (tmp_path / "deep" / "take_1.mp4.part").exists()


def test_cancel_queued_job(server):
    client = Client(server.url)
    ids = [client.submit(_request(num_inference_steps=2))["id"] for _ in range(3)]
    client.cancel(ids[-1])
    assert _wait_final(client, ids[-1])["status"] == "cancelled"


def test_validation_error_passes_the_servers_message(server):
    with pytest.raises(ServerError) as err:
        Client(server.url).submit(_request(num_frames=10))
    assert err.value.status == 422
    assert "num_frames" in str(err.value) and "8k+1" in str(err.value)


def test_unknown_job_is_404_sentence(server, tmp_path):
    client = Client(server.url)
    with pytest.raises(ServerError) as err:
        client.status("nope123")
    assert err.value.status == 404 and "nope123" in str(err.value)
    with pytest.raises(ServerError):
        client.download("nope123", str(tmp_path / "x.mp4"))
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "x.mp4.part").exists()


def test_token_required_and_sent(token_server):
    with pytest.raises(ServerError) as err:
        Client(token_server.url).list_jobs()
    assert err.value.status == 401 and "token" in str(err.value)
    with pytest.raises(ServerError) as err:
        Client(token_server.url, token="wrong").submit(_request())
    assert err.value.status == 401
    client = Client(token_server.url, token="s3cret")
    job = client.submit(_request())
    assert [j["id"] for j in client.list_jobs()] == [job["id"]]  # the refused submit made nothing
