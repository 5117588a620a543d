"""Schemathesis hooks for tests/server/test_schemathesis.py (loaded by the CLI via SCHEMATHESIS_HOOKS).

A well-formed ``Idempotency-Key`` is made unique per request: the fuzzer draws the same few keys again and
again, and a POST that repeats a key is by contract answered with the first job (whatever its body), which
the negative-data check would read as a malformed body accepted. Ill-formed keys are left as drawn, so
their 422 is still checked; replaying a key is tested in test_idempotency.py."""

from __future__ import annotations

import itertools

import schemathesis

from server.api.routes.jobs import IDEMPOTENCY_KEY_RE as WELL_FORMED

KEY = "Idempotency-Key"
_serial = itertools.count()


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    key = (case.headers or {}).get(KEY)
    if isinstance(key, str) and WELL_FORMED.match(key):
        case.headers[KEY] = f"{next(_serial)}-{key}"[:128]
