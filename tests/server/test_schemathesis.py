"""Property-based API tests from the server's own OpenAPI document (Schemathesis) against the real server
process on the tiny model: whatever the schema allows or forbids, no 5xx, and every answer (status,
content type, body) is the documented one. Fixed seed, bounded examples: about a minute on 2 cores."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
import requests  # noqa: E402
from support.server import run_server  # noqa: E402

# A real server on the tiny model (tens of seconds to start on a loaded 2-core machine): not quick.
pytestmark = pytest.mark.slow

EXAMPLES = 25
# Small limits, so the jobs the fuzzer gets accepted are a few steps of 9 frames at 64x64.
LIMITS = (
    "--max-frames",
    "9",
    "--pixel-budget",
    str(64 * 64),
    "--max-steps",
    "2",
    "--max-body-bytes",
    "200000",
)


NEGATABLE = {"POST /v1/jobs", "GET /v1/jobs"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed_server(tiny_model_dir, tmp_path_factory):
    with run_server(tmp_path_factory.mktemp("fuzz"), str(tiny_model_dir), extra_args=LIMITS) as srv:
        yield srv


def _operations(url: str) -> list:
    config = schemathesis.Config.from_dict({"generation": {"deterministic": True}})
    schema = schemathesis.openapi.from_url(url + "/openapi.json", config=config)
    return [result.ok() for result in schema.get_all_operations()]


# schemathesis.pytest.from_fixture fails on pytest 9 (it reads a removed Function._nodeid), so each
# operation's strategy is driven by Hypothesis directly: the same cases, the same checks.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_api_matches_its_schema(fuzzed_server, mode):
    operations = _operations(fuzzed_server.url)
    assert {op.label for op in operations} >= {"GET /v1/health", "POST /v1/jobs", "DELETE /v1/jobs/{job_id}"}
    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints its case as is
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case):
            case.call_and_validate(base_url=fuzzed_server.url, timeout=30, checks=CHECKS)

        try:
            check()
        except Unsatisfiable:
            # Negative cases need something the schema forbids: a free-form string path parameter
            # (job_id) has none. The job body and the list's query always have some.
            assert mode is GenerationMode.NEGATIVE and operation.label not in NEGATABLE, operation.label
    if mode is GenerationMode.POSITIVE:  # valid bodies really were valid: some jobs were queued
        jobs = requests.get(fuzzed_server.url + "/v1/jobs", timeout=10).json()["jobs"]
        assert jobs, "no generated job request was accepted"
