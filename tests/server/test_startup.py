"""Starting the server: token auth, refusing to expose itself without one, missing weights, busy port."""

from __future__ import annotations

import json
import os
import socket
import time
import subprocess

import pytest
import requests
from support.server import REPO, job_request, run_server, server_command, wait_for


def _run(args: list[str], env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def test_token_required_on_every_route_but_health(tiny_model_dir, tmp_path):
    with run_server(tmp_path / "srv", str(tiny_model_dir), token="s3cret") as srv, requests.Session() as http:
        health = http.get(srv.url + "/v1/health")
        # Without the token: only that the server is up (no job ids, model paths or queue).
        assert health.status_code == 200 and health.json() == {
            "status": "ok",
            "version": health.json()["version"],
            "auth": True,
        }
        full = http.get(srv.url + "/v1/health", headers=srv.headers).json()
        assert full["auth"] is True and "queue_length" in full and full["runner"]["alive"] is True
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            for method, path in [
                ("get", "/v1/jobs"),
                ("post", "/v1/jobs"),
                ("get", "/v1/jobs/x"),
                ("delete", "/v1/jobs/x"),
                ("get", "/openapi.json"),
            ]:
                r = getattr(http, method)(srv.url + path, headers=headers, json=job_request())
                assert r.status_code == 401, (method, path, headers, r.text)
                assert "Bearer" in r.json()["detail"]
        r = http.post(srv.url + "/v1/jobs", json=job_request(), headers=srv.headers)
        assert r.status_code == 202
        http.headers.update(srv.headers)
        assert wait_for(http, srv.url, r.json()["id"])["status"] == "succeeded"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20"])
def test_non_loopback_without_token_refuses(tmp_path, host):
    args = server_command(tmp_path, "tiny")
    args[args.index("--host") + 1] = host
    proc = _run(args)
    assert proc.returncode == 2
    assert "--token" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "port").exists()


def test_busy_port_is_one_sentence(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        args = server_command(tmp_path, "tiny")
        args[args.index("--port") + 1] = str(busy.getsockname()[1])
        proc = _run(args)
    assert proc.returncode == 2 and "--port" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_weights_say_how_to_get_them(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    procs = {
        model: subprocess.Popen(
            server_command(tmp_path / name, model),
            cwd=REPO,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name, model in [
            ("a", "no-such-org/no-such-ltx-model"),
            ("b", str(tmp_path / "no" / "such" / "dir")),
        ]
    }
    for model, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 3, err
        assert "Traceback" not in err
        assert model in err and "huggingface-cli download" in err and "--model" in err


def test_second_server_on_same_data_dir_refuses(tiny_model_dir, tmp_path):
    # Two servers on one data dir would both run the same queued job, and the second one's crash
    # recovery would requeue the first one's running job.
    with run_server(tmp_path / "srv", str(tiny_model_dir)) as srv, requests.Session() as http:
        second = server_command(tmp_path / "srv", str(tiny_model_dir))
        second[second.index("--port-file") + 1] = str(tmp_path / "port2")
        t0 = time.monotonic()
        proc = _run(second)
        took = time.monotonic() - t0
        assert proc.returncode == 2, proc.stderr
        assert "--data-dir" in proc.stderr and "Traceback" not in proc.stderr
        # Refused before the model loads (the lock is the first thing taken), so in a moment.
        assert "loaded" not in proc.stderr and "Loading pipeline" not in proc.stderr, proc.stderr
        print(f"second server refused in {took:.2f} s")
        assert took < 10.0
        assert not (tmp_path / "port2").exists()
        # The first one is untouched.
        r = http.post(srv.url + "/v1/jobs", json=job_request())
        assert wait_for(http, srv.url, r.json()["id"])["status"] == "succeeded"


def test_tokenless_server_refuses_other_sites(server, http):
    # Without a token, loopback is the only protection: a web page on another site must not queue jobs
    # (a text/plain POST needs no CORS preflight) nor read them through a rebound DNS name.
    before = http.get(server.url + "/v1/jobs", params={"limit": 1}).json()["jobs"]
    page = http.post(
        server.url + "/v1/jobs",
        data=json.dumps(job_request()),
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
    )
    assert page.status_code == 403 and "Origin" in page.json()["detail"], page.text
    port = server.url.rsplit(":", 1)[1]
    rebound = http.get(server.url + "/v1/jobs", headers={"Host": f"evil.example:{port}"})
    assert rebound.status_code == 403 and "Host" in rebound.json()["detail"], rebound.text
    assert http.get(server.url + "/v1/jobs", params={"limit": 1}).json()["jobs"] == before
    # Local clients (no Origin; loopback names) still work.
    for host in ("localhost", "127.0.0.1", "[::1]"):
        assert http.get(server.url + "/v1/health", headers={"Host": f"{host}:{port}"}).status_code == 200
    assert http.get(server.url + "/v1/jobs", headers={"Origin": "http://localhost:3000"}).status_code == 200


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_non_ascii_token_refused_at_start(tmp_path, how):
    token = "sécret"
    args = server_command(tmp_path, "tiny")
    env = {"LTX_SERVER_TOKEN": token} if how == "environment" else None
    if how == "argument":
        args += ["--token", token]
    proc = _run(args, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "ASCII" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "port").exists()


def test_data_dir_under_a_file_is_one_sentence(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    args = server_command(tmp_path / "file" / "data", "tiny")
    proc = _run(args)
    assert proc.returncode == 2, proc.stderr
    assert "--data-dir" in proc.stderr and "Traceback" not in proc.stderr
    assert "loaded" not in proc.stderr  # refused before the model loads


def test_read_only_data_dir_is_one_sentence(tmp_path):
    # Root writes through file modes, so a read-only mount is the unwritable folder CI (root) can make.
    ro = tmp_path / "ro"
    ro.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        args = server_command(ro, "tiny")
        args[args.index("--port-file") + 1] = str(tmp_path / "port")
        proc = _run(args)
    finally:
        subprocess.run(["umount", str(ro)], check=True)
    assert proc.returncode == 2, proc.stderr
    assert "not a writable folder" in proc.stderr and "Traceback" not in proc.stderr
