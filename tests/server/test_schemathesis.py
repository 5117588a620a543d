"""Schemathesis against the real server process on the tiny model, every check it has: the server's own
OpenAPI document is the contract. All four phases (the document's examples, the coverage phase's edge
values and unsupported methods, fuzzing valid and invalid requests, and stateful sequences: submit, read,
cancel, remove), a fixed seed and few examples per operation, so it stays within a couple of minutes on
2 cores. The server has a token, which the document declares, so ``ignored_auth`` has something to check.

Every check runs; one is configured, for a rule of this API that the document cannot state:
- ``positive_data_acceptance`` also accepts 422 (and 401, as its default does: the stateful phase may send
  a drawn token): a request the schema allows can still break a rule of the loaded model or of the
  server's limits (width x height within the pixel budget, frame indices within num_frames, audio on a
  model that has none, an asset's bytes matching its SHA-256 name). Each such 422 names the field and
  says what to change (test_validation.py); 400, 405, 415 or a 5xx still fail.
- Idempotency-Key is fuzzed as drawn: the fuzzer repeats its few keys, and a key re-sent with another body
  is a 422 naming the header, so no body is ever answered with some other job.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from support.server import run_server

# A real server on the tiny model (tens of seconds to start on a loaded 2-core machine): not quick.
pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parents[1]
TOKEN = "fuzz-token"
EXAMPLES = 15
# Small limits, so the jobs the fuzzer gets accepted are a few steps of 9 frames at 64x64.
LIMITS = ("--max-frames", "9", "--pixel-budget", "4096", "--max-steps", "2", "--max-body-bytes", "200000")
PHASES = "examples,coverage,fuzzing,stateful"
# The token goes in as the document's bearer scheme (a header on every request would also be sent where
# the coverage phase leaves it out on purpose, to see a 401).
CONFIG = f"""
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "404", "409", "422"]

[auth.openapi.bearer]
bearer = "{TOKEN}"
"""


@pytest.fixture(scope="module")
def fuzzed_server(tiny_model_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    with run_server(data, str(tiny_model_dir), extra_args=LIMITS, token=TOKEN) as srv:
        yield srv


def _schemathesis(srv, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """The ``st`` command line on the server's document (saved first: reading it takes the token)."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    doc = tmp_path / "openapi.json"
    doc.write_bytes(requests.get(srv.url + "/openapi.json", headers=srv.headers, timeout=10).content)
    st = Path(sys.executable).with_name("st")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [str(st), "--config-file", str(config), "run", str(doc), "--url", srv.url, "--checks", "all", *args]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)


def test_the_document_declares_the_token_and_health_needs_none(fuzzed_server):
    url, auth = fuzzed_server.url, fuzzed_server.headers
    doc = requests.get(url + "/openapi.json", headers=auth, timeout=10).json()
    assert doc["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    assert doc["security"] == [{"bearer": []}]
    assert doc["paths"]["/v1/health"]["get"]["security"] == []
    assert requests.get(url + "/v1/jobs", timeout=10).status_code == 401


def test_api_passes_every_schemathesis_check(fuzzed_server, tmp_path):
    out = _schemathesis(
        fuzzed_server,
        tmp_path,
        *("--phases", PHASES, "--report", "har", "--report-har-path", str(tmp_path / "calls.har")),
        *("--max-examples", str(EXAMPLES), "--seed", "1", "--no-shrink", "--continue-on-failure"),
    )
    assert out.returncode == 0, out.stdout[-12000:] + out.stderr[-3000:]
    for phase in ("Coverage", "Fuzzing", "Stateful"):  # each ran and passed (the document has no examples)
        assert f"✅ {phase}" in out.stdout, out.stdout[-4000:]
    # Valid bodies really were valid: some generated jobs were accepted (the stateful phase removes some of
    # them again, so count the 202s Schemathesis recorded, not the jobs left).
    calls = json.loads((tmp_path / "calls.har").read_text())["log"]["entries"]
    accepted = [
        c
        for c in calls
        if c["request"]["method"] == "POST"
        and c["request"]["url"].endswith("/v1/jobs")
        and c["response"]["status"] == 202
    ]
    assert accepted, "no generated job request was accepted"
