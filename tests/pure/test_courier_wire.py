"""The courier's wire format: every command and message survives a line of JSON, split anywhere."""

from __future__ import annotations

import pytest

from blender_ltx.core import courier_wire as w

CFG = w.ClientConfig("http://127.0.0.1:8765", token="t", timeout=3.0, start_wait_s=300.0)
ALL = [
    w.Submit((7, "SH010", 1), CFG, {"prompt": "a cat", "frames": [1, 2]}, "/tmp/take_1.mp4"),
    w.Track((7, "SH010", 0), CFG, "job-1", "/tmp/x.mp4"),
    w.Cancel((7, "SH 020", 0), CFG, "job-2"),
    w.Probe(3, CFG),
    w.Submitted((7, "SH010", 0), "job-1", epoch=2),
    w.Update((7, "SH010", 0), "job-1", "running", 0.25, "Generating: 25%.", epoch=2),
    w.Note((7, "SH010", 0), "", "Waiting for the local server to start.", epoch=1),
    w.Downloaded((7, "SH010", 0), "job-1", "/tmp/x.mp4", {"applied": {"seed": 4}}, epoch=2),
    w.Measured((7, "SH010", 3), "job-1", {"measurable": True, "kinds": ["dolly_in"], "agreement": {}}),
    w.Measured((7, "SH010", 0), "job-1", None, "The server has no motion meter.", epoch=2),
    w.Failed((7, "SH010", 0), "job-1", "failed", "The server failed this job: boom", epoch=2),
    w.Probed(3, False, "No LTX server at http://127.0.0.1:9.", epoch=0),
    # A look job: its pictures as files for the courier to upload, its stills downloaded into a folder.
    w.Submit(
        (7, "SH010", w.LOOK_SEGMENT),
        CFG,
        {"kind": "look", "prompt": "a cat", "count": 2},
        "/tmp/looks",
        look={
            "layout": ["beauty", "/tmp/l.png"],
            "references": [{"name": "Ana", "kind": "set", "path": "/a"}],
        },
    ),
    w.Downloaded((7, "SH010", w.LOOK_SEGMENT), "job-3", "/tmp/looks", {}, files=["/tmp/looks/a.png"]),
]


@pytest.mark.parametrize("obj", ALL, ids=lambda o: type(o).__name__)
def test_round_trip(obj) -> None:
    line = w.encode(obj, seq=9)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    back, raw = w.decode(line.rstrip(b"\n"))
    assert back == obj and raw["seq"] == 9
    if hasattr(obj, "key"):  # the key comes back hashable: it indexes the link's dicts of shots
        assert {back.key: "found"}[obj.key] == "found"


def test_control_lines_decode_to_none() -> None:
    back, raw = w.decode(w.encode({"type": "reset", "epoch": 4}).strip())
    assert back is None and raw == {"type": "reset", "epoch": 4}


def test_lines_split_across_reads_come_out_whole() -> None:
    data = b"".join(w.encode(m) for m in ALL)
    buf = w.LineBuffer()
    out: list[bytes] = []
    for i in range(0, len(data), 7):  # reads that end anywhere, mid-line included
        out += buf.feed(data[i : i + 7])
    assert [w.decode(line)[0] for line in out] == ALL
