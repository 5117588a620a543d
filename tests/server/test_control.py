"""The request's control field: checked (422 naming the field), turned into IC-LoRA references (frames,
size, kind), recorded in ``applied``; and refused over real HTTP by a server without the kind."""

from __future__ import annotations

import base64
import hashlib
import io

import numpy as np
import pytest
from support.server import job_request

from blender_ltx.core.protocol import ProtocolError
from server.generation import conditioning
from server.queue.asset_store import AssetStore
from server.generation.control.request import check_control, references_for
from server.generation.video import write_mp4

ALL = ["control_depth", "control_canny", "control_tracks"]
N, W, H = 9, 128, 64


def _mp4(frames: np.ndarray, tmp_path) -> bytes:
    path = write_mp4(frames, tmp_path / "ref.mp4", 24.0)
    return path.read_bytes()


def _depth_frames(n: int = N, w: int = W // 2, h: int = H // 2) -> np.ndarray:
    """Grey frames: a bright near square on a mid-grey wall (half size, as a ref0.5 IC-LoRA wants)."""
    frames = np.full((n, h, w, 3), 60, dtype=np.uint8)
    frames[:, 8:24, 8:24] = 230
    return frames


def _request(**control) -> dict:
    return {**job_request(num_frames=N, width=W, height=H), "control": control}


def _check(req: dict, assets, caps=ALL):
    return check_control(req["control"], req, caps, assets)


@pytest.fixture()
def assets(tmp_path):
    return AssetStore(tmp_path / "assets")


def test_depth_video_becomes_a_depth_reference(assets, tmp_path):
    data = _mp4(_depth_frames(), tmp_path)
    sha = hashlib.sha256(data).hexdigest()
    assets.put(sha, data)
    req = _request(kind="depth", strength=0.8, video={"asset": sha})
    checked, frames = _check(req, assets)
    assert checked == {
        "kind": "depth",
        "strength": 0.8,
        "lora": None,
        "width": W // 2,
        "height": H // 2,
        "video": {"asset": sha},
    }
    assert frames.shape == (N, H // 2, W // 2, 3)
    [ref] = references_for({**req, "control": checked}, assets)
    assert ref.kind == "depth" and ref.strength == 0.8
    assert ref.frames.shape == (N, H // 2, W // 2, 3) and ref.frames.dtype == np.uint8
    # The grey levels survive the mp4 (within H.264's error): near bright, wall darker.
    assert abs(int(ref.frames[4, 16, 16, 0]) - 230) < 8 and abs(int(ref.frames[4, 28, 50, 1]) - 60) < 8


def test_canny_edges_are_computed_from_the_inline_beauty_video(assets, tmp_path):
    beauty = np.zeros((N, H, W, 3), dtype=np.uint8)
    beauty[:, 16:48, 40:88] = (200, 180, 90)
    req = _request(kind="canny", video=base64.b64encode(_mp4(beauty, tmp_path)).decode())
    checked, _ = _check(req, assets)
    assert assets.has(checked["video"]["asset"])  # inline bytes were kept as an asset for the job
    [ref] = references_for({**req, "control": checked}, assets)
    assert ref.kind == "canny" and ref.strength == 1.0 and ref.frames.shape == (N, H, W, 3)
    edges = ref.frames[0, ..., 0]
    assert set(np.unique(edges)) <= {0, 255} and edges[14:18, 40:88].any() and not edges[24:40, 50:78].any()


def test_tracks_are_drawn_at_the_clip_size(assets):
    tracks = [[[20.0 + 8 * t, 32.0], None if t >= 5 else [100.0, 10.0]] for t in range(N)]
    req = _request(kind="tracks", strength=0.5, tracks=tracks)
    checked, frames = _check(req, assets)
    assert frames is None and checked["tracks"] == tracks
    [ref] = references_for({**req, "control": checked}, assets)
    assert ref.kind == "tracks" and ref.frames.shape == (N, H, W, 3)
    last = ref.frames[-1].astype(int)
    x = int(20 + 8 * (N - 1))
    assert last[32, x, 2] > last[32, x, 0]  # the newest dot is red, in BGR order (channel 2)
    assert not last[:20, 90:110].any()  # the second track ended: not drawn


def test_applied_names_the_control_and_its_layer(assets):
    req = _request(kind="tracks", tracks=[[[1.0, 2.0]]] * N)
    req["control"], _ = _check(req, assets, caps={"control_tracks": True, "ic_loras": {"tracks": "motion"}})
    applied = conditioning.apply(req).to_dict()
    assert applied["layers"] == ["control_tracks"]
    assert applied["control"] == {
        "kind": "tracks",
        "frames": N,
        "width": W,
        "height": H,
        "strength": 1.0,
        "lora": "motion",
    }
    assert conditioning.apply(job_request()).to_dict()["control"] is None


@pytest.mark.parametrize(
    ("control", "caps", "field", "words"),
    [
        ({"kind": "depth", "video": {"asset": "0" * 64}}, ["control_canny"], "control.kind", "offers canny"),
        ({"kind": "pose"}, ALL, "control.kind", "must be one of"),
        ({"kind": "tracks", "tracks": [[[1, 2]]] * N}, [], "control.kind", "no control kinds"),
        ({"kind": "depth"}, ALL, "control.video", "required"),
        ({"kind": "depth", "video": {"asset": "0" * 64}}, ALL, "control.video.asset", "upload it first"),
        ({"kind": "depth", "video": "not base64!"}, ALL, "control.video", "base64"),
        ({"kind": "tracks", "tracks": [[[1, 2]]] * (N - 1)}, ALL, "control.tracks", "8 frames"),
        ({"kind": "tracks", "tracks": [[[1, 2]]] * 8 + [[[1, 2], None]]}, ALL, "control.tracks[8]", "frame"),
        ({"kind": "tracks", "tracks": [[[1, "a"]]] * N}, ALL, "control.tracks[0][0]", "[x, y]"),
        ({"kind": "tracks"}, ALL, "control.tracks", "required"),
        ({"kind": "tracks", "tracks": [[[1, 2]]] * N, "strength": 2}, ALL, "control.strength", "0 to 1"),
        ({"kind": "tracks", "tracks": [[[1, 2]]] * N, "fps": 2}, ALL, "control.fps", "not a known field"),
        ({"kind": "canny", "tracks": [[[1, 2]]] * N}, ALL, "control.tracks", "only used by kind"),
    ],
)
def test_bad_control_names_the_field(assets, control, caps, field, words):
    req = {**job_request(num_frames=N, width=W, height=H), "control": control}
    with pytest.raises(ProtocolError) as err:
        check_control(control, req, caps, assets)
    assert err.value.field == field and words in err.value.message


def test_video_of_the_wrong_length_or_shape_is_refused(assets, tmp_path):
    for frames, words in [(_depth_frames(n=5), "has 5 frames"), (_depth_frames(w=64, h=64), "not the shape")]:
        data = _mp4(frames, tmp_path)
        sha = hashlib.sha256(data).hexdigest()
        assets.put(sha, data)
        req = _request(kind="depth", video={"asset": sha})
        with pytest.raises(ProtocolError) as err:
            _check(req, assets)
        assert err.value.field == "control.video" and words in err.value.message


def test_server_without_the_kind_answers_422_naming_control_kind(server, http):
    req = job_request(control={"kind": "tracks", "tracks": [[[10.0, 10.0]]] * 9})
    r = http.post(server.url + "/v1/jobs", json=req)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "control.kind" and "offers no control kinds" in r.json()["detail"]


def _png(frame: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG")
    return buf.getvalue()


def test_depth_as_png_frames_is_exact_and_dedupes(assets):
    frames = _depth_frames()
    frames[5:, 8:24, 8:24] = 200  # the square recedes after frame 5
    pngs = [_png(f) for f in frames]
    shas = []
    for data in pngs[:-1]:
        shas.append(hashlib.sha256(data).hexdigest())
        assets.put(shas[-1], data)
    video = {"frames": [{"asset": s} for s in shas] + [base64.b64encode(pngs[-1]).decode()]}
    req = _request(kind="depth", video=video)
    checked, _ = _check(req, assets)
    # Identical frames are one asset; the inline last frame was stored like an upload.
    assert len({r["asset"] for r in checked["video"]["frames"]}) == 2
    assert checked["video"]["frames"][-1] == {"asset": shas[-1]}
    [ref] = references_for({**req, "control": checked}, assets)
    np.testing.assert_array_equal(ref.frames, frames)  # PNG is lossless: the grey levels arrive exact


def test_png_frames_of_different_sizes_are_refused(assets):
    pngs = [_png(_depth_frames(n=1)[0])] * (N - 1) + [_png(_depth_frames(n=1, w=32, h=16)[0])]
    req = _request(kind="depth", video={"frames": [base64.b64encode(p).decode() for p in pngs]})
    with pytest.raises(ProtocolError) as err:
        _check(req, assets)
    assert err.value.field == f"control.video.frames[{N - 1}]" and "unlike frame 0" in err.value.message


# -- memory: a control video is measured from its header before anything decodes (issue 15 item 12) ----


def _black_mp4(n: int, width: int, height: int, fmt: str = "mp4") -> bytes:
    """``n`` black frames, small on disk at any size: one encoded frame, then one skip frame repeated."""
    import av

    out = io.BytesIO()
    with av.open(out, "w", format=fmt) as box:
        stream = box.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "bframes": "0"}
        frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")
        packets = []
        for pts in range(2):
            frame.pts = pts
            packets += list(stream.encode(frame))
        packets += list(stream.encode())
        key, skip = packets[0], bytes(packets[1])
        box.mux(key)
        for pts in range(1, n):
            packet = av.Packet(skip)
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, pts, pts, key.time_base
            box.mux(packet)
    return out.getvalue()


def _refusal(control: dict, width: int, height: int, max_pixels: int | None = None):
    """(the ProtocolError, peak bytes numpy allocated while checking): numpy reports its arrays to
    tracemalloc, so the peak says how much was decoded."""
    import tracemalloc

    req = {**job_request(num_frames=N, width=width, height=height), "control": control}
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError) as err:
            check_control(control, req, ALL, None, max_pixels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return err.value, peak


FRAME_1088P = 1920 * 1088 * 3  # one decoded RGB frame of the clip below


def test_a_long_control_video_is_refused_from_its_header():
    data = _black_mp4(200, 1920, 1088)
    assert len(data) < 100_000  # small on disk; 200 decoded frames would be 1.25 GB
    control = {"kind": "depth", "video": base64.b64encode(data).decode()}
    err, peak = _refusal(control, 1920, 1088)
    assert err.field == "control.video" and err.message == "has 200 frames but the clip has 9"
    assert peak < FRAME_1088P  # not one frame was converted


def test_a_long_video_without_a_frame_count_stops_decoding_past_the_clip():
    data = _black_mp4(60, 1920, 1088, fmt="h264")  # a raw stream: its header has no frame count
    control = {"kind": "depth", "video": base64.b64encode(data).decode()}
    err, peak = _refusal(control, 1920, 1088)
    assert err.field == "control.video" and err.message == "has more than 9 frames but the clip has 9"
    assert peak < (N + 3) * FRAME_1088P  # the clip's frames at most, not all 60


def test_a_control_video_larger_than_the_clip_is_refused_before_decoding():
    data = _black_mp4(N, 1920, 1088)
    err, peak = _refusal({"kind": "depth", "video": base64.b64encode(data).decode()}, 64, 64)
    assert err.field == "control.video"
    assert err.message == "is 1920x1088, larger than the 64x64 clip: send it at the clip's size or smaller"
    assert peak < FRAME_1088P


def _huge_png(side: int = 6000) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (side, side)).save(buf, format="PNG")  # 1 bit a pixel: quick to write, small on disk
    return buf.getvalue()


def test_huge_png_control_frames_are_held_to_the_picture_limit():
    from server.api.schemas import check_request
    from server.api.settings import Settings

    png = base64.b64encode(_huge_png()).decode()
    assert len(png) < 200_000
    settings = Settings()
    body = {**job_request(), "control": {"kind": "depth", "video": {"frames": [png] * N}}}
    import json
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError) as err:
            check_request(json.dumps(body).encode(), settings, None, ALL)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.field == "control.video.frames[0]"
    assert err.value.message == (
        f"is 6000x6000, above the image limit of {settings.max_image_pixels} pixels: "
        "send it at the clip's size"
    )
    assert peak < 6000 * 6000  # the 36 Mpx frame was never decoded (not even at 1 byte a pixel)


def test_png_control_frames_larger_than_the_clip_are_refused():
    png = base64.b64encode(_png(_depth_frames(n=1, w=256, h=128)[0])).decode()
    err, _ = _refusal({"kind": "depth", "video": {"frames": [png] * N}}, W, H)
    assert err.field == "control.video.frames[0]" and "larger than the 128x64 clip" in err.message


def test_png_control_frames_of_the_wrong_count_are_refused_before_decoding():
    png = base64.b64encode(_huge_png(2000)).decode()
    err, peak = _refusal({"kind": "depth", "video": {"frames": [png] * 200}}, W, H)
    assert err.field == "control.video.frames" and err.message == "has 200 frames but the clip has 9"
    assert peak < 2000 * 2000


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: _png(_depth_frames(n=1)[0]),
            'is a PNG image, not a video: send an mp4, or PNG frames as {"frames": [...]}',
        ),
        (lambda: b"\x00\x00\x00\x18ftypmp42" + bytes(200), "is not a video PyAV can read"),
    ],
)
def test_a_file_that_is_not_a_video_is_named_so(make, message):
    err, _ = _refusal({"kind": "depth", "video": base64.b64encode(make()).decode()}, W, H)
    assert err.field == "control.video" and err.message.startswith(message), err.message


def test_an_audio_only_file_has_no_video_stream():
    import av

    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as box:
        stream = box.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            box.mux(packet)
    err, _ = _refusal({"kind": "depth", "video": base64.b64encode(out.getvalue()).decode()}, W, H)
    assert err.field == "control.video"
    assert err.message == "has no video stream (audio only?): send an mp4 of the control frames"
