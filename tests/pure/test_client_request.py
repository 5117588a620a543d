"""Job requests built from a Shot, its settings and guide PNGs (pure)."""

import base64
import struct
import zlib

import pytest

from blender_ltx.core import job_request, protocol
from blender_ltx.core.shots import GenerationGrid, MotionSegment, Segment, Shot, Trajectory


def _png(path, w=4, h=4):
    raw = b"".join(b"\x00" + b"\x80\x80\x80" * w for _ in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(png)
    return str(path)


def _traj(frames):
    eye = [1.0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    return Trajectory(frames=list(frames), matrix_world=[eye] * len(frames), lens_mm=[50.0] * len(frames))


def _shot(start=1, end=48, segments=None, num_frames=49):
    grid = GenerationGrid(
        num_frames=num_frames,
        width=128,
        height=96,
        frame_rate=24.0,
        segments=segments or [Segment(start, end, num_frames)],
    )
    motion = [MotionSegment(["dolly_in"], "slow", start, end)]
    return Shot("SH010", "Cam", start, end, grid, _traj(range(start, end + 1)), motion, "Slow dolly in.")


SETTINGS = {"prompt": "a cat", "negative_prompt": "blurry", "seed": 7, "steps": 2, "guidance": 3.5}


def test_request_carries_shot_grid_prompt_trajectory_and_conditions(tmp_path):
    shot = _shot()
    guides = [(24, _png(tmp_path / "b.png")), (0, _png(tmp_path / "a.png"))]
    req = job_request.build_request(shot, SETTINGS, guides, prompt="noir. a cat", seed=11, tags={"take": 3})
    assert req["prompt"] == "noir. a cat" and req["negative_prompt"] == "blurry"
    assert (req["seed"], req["num_frames"], req["width"], req["height"]) == (11, 49, 128, 96)
    assert req["frame_rate"] == 24.0 and req["num_inference_steps"] == 2 and req["guidance_scale"] == 3.5
    assert [c["frame_index"] for c in req["conditions"]] == [0, 24]
    assert [c["strength"] for c in req["conditions"]] == [1.0, job_request.KEYFRAME_STRENGTH]
    assert base64.b64decode(req["conditions"][0]["image"]).startswith(b"\x89PNG")
    assert req["trajectory"]["frames"] == list(range(1, 49)) and len(req["trajectory"]["matrix_world"]) == 48
    assert req["shot"] == "SH010" and req["tags"] == {"take": "3"}
    assert set(req) <= set(protocol.REQUEST_FIELDS)


def test_settings_prompt_and_seed_used_when_not_overridden(tmp_path):
    req = job_request.build_request(_shot(), SETTINGS, [(0, _png(tmp_path / "a.png"))])
    assert req["prompt"] == "a cat" and req["seed"] == 7


def test_missing_first_frame_is_refused(tmp_path):
    with pytest.raises(protocol.ProtocolError, match="first-frame"):
        job_request.build_request(_shot(), SETTINGS, [(8, _png(tmp_path / "a.png"))])


def test_guide_outside_clip_is_refused(tmp_path):
    png = _png(tmp_path / "a.png")
    with pytest.raises(protocol.ProtocolError, match="outside the clip"):
        job_request.build_request(_shot(), SETTINGS, [(0, png), (49, png)])


def test_not_a_png_is_refused(tmp_path):
    bad = tmp_path / "a.png"
    bad.write_bytes(b"JFIF....")
    with pytest.raises(protocol.ProtocolError, match="not a PNG"):
        job_request.build_request(_shot(), SETTINGS, [(0, str(bad))])


def test_bad_grid_is_refused_before_sending(tmp_path):
    png = _png(tmp_path / "a.png")
    with pytest.raises(protocol.ProtocolError, match="8k\\+1"):
        job_request.build_request(_shot(num_frames=48), SETTINGS, [(0, png)])


def test_single_segment_shot_is_itself():
    shot = _shot()
    assert job_request.segment_shots(shot) == [shot]


def test_long_shot_splits_into_contiguous_segment_shots():
    segs = [Segment(1, 200, 201), Segment(201, 400, 201)]
    shot = _shot(1, 400, segments=segs, num_frames=201)
    parts = job_request.segment_shots(shot)
    spans = [(p.frame_start, p.frame_end, p.generation.num_frames) for p in parts]
    assert spans == [(1, 200, 201), (201, 400, 201)]
    assert parts[1].trajectory.frames == list(range(201, 401))
    assert all(p.name == "SH010" and p.generation.width == 128 for p in parts)
    assert parts[0].frame_end + 1 == parts[1].frame_start


def test_the_look_decides_the_picture(tmp_path) -> None:
    png = _png(tmp_path / "a.png")
    previs = job_request.build_request(_shot(), SETTINGS, [(0, png), (16, png)])
    assert "look" not in previs and len(previs["conditions"]) == 2  # the server's default, unsent
    frame = job_request.build_request(_shot(), SETTINGS, [(0, png)], look="frame")
    assert frame["look"] == "frame" and [c["frame_index"] for c in frame["conditions"]] == [0]
    prompt = job_request.build_request(_shot(), SETTINGS, [], look="prompt")
    assert prompt["look"] == "prompt" and prompt["conditions"] == []  # no previs pixel
    with pytest.raises(protocol.ProtocolError, match="look prompt: it sends no picture"):
        job_request.build_request(_shot(), SETTINGS, [(0, png)], look="prompt")
    with pytest.raises(protocol.ProtocolError, match="no first-frame guide"):
        job_request.build_request(_shot(), SETTINGS, [], look="frame")
