"""Which assets the startup sweep removes: only those no stored job refers to, after the grace period."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from blender_ltx.core.protocol import ProtocolError
from server.queue.asset_store import AssetStore, referenced_by_jobs


def _put(store: AssetStore, data: bytes, age_s: float = 0.0) -> str:
    sha = hashlib.sha256(data).hexdigest()
    store.put(sha, data)
    if age_s:
        then = time.time() - age_s
        os.utime(store.path(sha), (then, then))
    return sha


def test_sweep_keeps_referenced_and_recent_assets(tmp_path):
    store = AssetStore(tmp_path)
    used = _put(store, b"keyframe png", age_s=10_000)
    in_control = _put(store, b"depth frame", age_s=10_000)
    old = _put(store, b"orphan", age_s=10_000)
    fresh = _put(store, b"just uploaded, job not sent yet")
    (tmp_path / ".tmp-partial").write_bytes(b"half")
    jobs = [
        json.dumps({"conditions": [{"frame_index": 0, "image": {"asset": used}}]}),
        json.dumps({"control": {"kind": "depth", "video": {"frames": [{"asset": in_control}]}}}),
        json.dumps({"conditions": []}),
    ]
    assert referenced_by_jobs(jobs) == {used, in_control}
    assert store.sweep(referenced_by_jobs(jobs), grace_s=3600) == 1
    assert [store.has(s) for s in (used, in_control, old, fresh)] == [True, True, False, True]
    assert not (tmp_path / ".tmp-partial").exists()
    assert store.stats()["stored"] == 3


def test_reupload_restarts_the_grace_period_and_bad_names_are_refused(tmp_path):
    store = AssetStore(tmp_path)
    sha = _put(store, b"previs", age_s=10_000)
    assert store.put(sha, b"previs") is False  # already there, but now recent again
    assert store.sweep(set(), grace_s=3600) == 0 and store.has(sha)
    with pytest.raises(ProtocolError) as err:
        store.read("../../etc/passwd", "conditions[0].image.asset")
    assert err.value.field == "conditions[0].image.asset"
