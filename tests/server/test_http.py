"""What the HTTP layer promises: HEAD where GET answers, a 405 naming every method, an OpenAPI document
whose references resolve and whose errors are the real ones, stalled connections closed (408), clients
that leave mid-body logged as nothing."""

from __future__ import annotations

import json
import socket
import struct
import time

import pytest

from support.server import SHARED_STALL_S as STALL_S
from support.server import job_request, wait_for


def test_head_answers_wherever_get_does(server, http):
    job = http.post(server.url + "/v1/jobs", json=job_request()).json()
    wait_for(http, server.url, job["id"])
    for path in ("/v1/health", "/v1/jobs", f"/v1/jobs/{job['id']}", f"/v1/jobs/{job['id']}/video"):
        get, head = http.get(server.url + path), http.head(server.url + path)
        assert head.status_code == get.status_code == 200, (path, head.status_code)
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
    assert http.head(server.url + "/v1/jobs/0123456789abcdef0123456789abcdef").status_code == 404


def test_405_lists_every_allowed_method(server, http):
    r = http.put(server.url + "/v1/jobs/0123456789abcdef0123456789abcdef")
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["allow"].split(",")} == {"DELETE", "GET", "HEAD"}
    r = http.patch(server.url + "/v1/jobs")
    assert {m.strip() for m in r.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_openapi_refs_resolve_and_errors_are_documented(server, http):
    doc = http.get(server.url + "/openapi.json").json()
    components = doc["components"]["schemas"]
    refs = set(_refs(doc))
    assert refs and all(r.startswith("#/components/schemas/") for r in refs), refs
    assert {r.rsplit("/", 1)[1] for r in refs} <= set(components)
    assert "$defs" not in json.dumps(doc)

    post = doc["paths"]["/v1/jobs"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/JobRequest")
    problem = components["Problem"]
    assert set(problem["properties"]) == {"detail", "field"}
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            assert op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
                "/Problem"
            ), (method, path)
            if "{job_id}" in path:
                assert "404" in op["responses"], (method, path)
    # The real 422 body is the documented one.
    r = http.post(server.url + "/v1/jobs", json=job_request(width=100))
    assert r.status_code == 422 and set(r.json()) == {"detail", "field"}

    request = components["JobRequest"]["properties"]
    assert request["width"]["multipleOf"] == 32 and request["height"]["multipleOf"] == 32
    assert "8k+1" in request["num_frames"]["description"]
    assert (request["frame_rate"]["minimum"], request["frame_rate"]["maximum"]) == (1.0, 240.0)
    assert components["JobRequest"]["properties"]["tags"]["maxProperties"] == 32


def _raw(server, data: bytes) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=STALL_S * 5)
    sock.sendall(data)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def test_half_sent_headers_are_closed(server, http):
    t0 = time.monotonic()
    with _raw(server, b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") as sock:
        assert _read_until_closed(sock) == b""  # closed without an answer, not left open
    assert time.monotonic() - t0 < STALL_S * 4
    assert http.get(server.url + "/v1/health").status_code == 200


def test_half_sent_body_is_closed(server, http):
    head = (
        b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    t0 = time.monotonic()
    with _raw(server, head + b'{"prompt": "a') as sock:
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - t0 < STALL_S * 4


def test_half_sent_asset_upload_is_408(server, http):
    # The asset route reads its body through the same limits as a submit: a stall is 408, not a 500.
    sha = "ab" * 32
    head = (
        f"PUT /v1/assets/{sha} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
        "Content-Length: 1000\r\n\r\n"
    ).encode()
    t0 = time.monotonic()
    with _raw(server, head + b"\0" * 100) as sock:
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"stopped arriving" in answer
    assert time.monotonic() - t0 < STALL_S * 4
    assert http.head(f"{server.url}/v1/assets/{sha}").status_code == 404


@pytest.mark.parametrize("path", ["/v1/jobs", f"/v1/assets/{'cd' * 32}"])
def test_client_gone_mid_body_logs_no_traceback(server, http, path):
    method = "POST" if path == "/v1/jobs" else "PUT"
    before = len(server.log())
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n\r\n".encode()
    with _raw(server, head + b'{"prompt": "a') as sock:
        time.sleep(0.3)  # the route is reading the body when the client leaves
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a reset, not a FIN
    time.sleep(0.5)
    assert http.get(server.url + "/v1/health").status_code == 200
    with _raw(server, head + b'{"prompt": "a') as sock:
        time.sleep(0.3)
        sock.shutdown(socket.SHUT_WR)  # a FIN mid-body
        time.sleep(0.5)
    time.sleep(0.5)
    new = server.log()[before:]
    assert "Traceback" not in new and "Exception in ASGI application" not in new, new[-3000:]
