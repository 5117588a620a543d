"""The SANA-WM family on the tiny SANA-WM: the shot's exact camera reaches the model (different paths give
different clips, the same path the same clip), frame rate and size are mapped so a clip has exactly the
asked frames at the shot's rate and shape, and over real HTTP: health, applied.camera_poses, a static
camera, a long shot chained into one clip, and what the family lacks refused with a sentence."""

from __future__ import annotations

import av
import numpy as np
import pytest
from support.server import job_request, png_b64, run_server, run_to_video

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")


def _trajectory(n: int, step=(0.0, 0.0, 0.0), pan_deg: float = 0.0, lens: float = 35.0) -> dict:
    """A camera looking along +Y from 10 m back, moving ``step`` (metres) and panning ``pan_deg`` a frame."""
    mats = []
    for i in range(n):
        x, y, z = (s * i for s in step)
        a = np.radians(pan_deg * i)
        yaw = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        m = np.eye(4)
        m[:3, :3] = yaw @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], dtype=float)
        m[:3, 3] = (x, -10 + y, 1.6 + z)
        mats.append(m.ravel().tolist())
    return {"frames": list(range(1, n + 1)), "matrix_world": mats, "lens_mm": [lens] * n}


# -- in process ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def backend(tiny_sana_wm_dir, tmp_path_factory):
    from server.backends.sana_wm import SanaWMBackend

    torch.set_num_threads(1)
    b = SanaWMBackend(str(tiny_sana_wm_dir), device="cpu", data_dir=tmp_path_factory.mktemp("b"))
    b.load()
    return b


def _generate(backend, trajectory: dict | None, *, num_frames=25, width=448, height=256, fps=24.0, seed=3):
    """What the worker does: the record at submit, the per-frame poses at run time, one generation."""
    from PIL import Image

    from server.backends.base import GenerateRequest, Keyframe
    from server.generation import camera_poses

    request = {
        "num_frames": num_frames,
        "width": width,
        "height": height,
        "frame_rate": fps,
        "trajectory": trajectory,
        "conditions": [{"frame_index": 0}],
    }
    record = camera_poses.record(request, backend)
    picture = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    gen = GenerateRequest(
        prompt="a street at night",
        negative_prompt="",
        seed=seed,
        num_frames=num_frames,
        width=width,
        height=height,
        frame_rate=fps,
        num_inference_steps=3,
        guidance_scale=3.0,
        keyframes=[Keyframe(Image.fromarray(picture), 0)],
        camera_poses=camera_poses.clip_poses(request, record),
    )
    return backend.generate(gen, lambda p: None, lambda: False)


DOLLY = _trajectory(25, step=(0.0, 0.5, 0.0))
TRUCK_PAN = _trajectory(25, step=(0.5, 0.0, 0.0), pan_deg=2.0)


def test_different_camera_paths_give_different_clips_and_the_same_path_the_same_clip(backend):
    dolly = _generate(backend, DOLLY).frames.astype(float)
    truck = _generate(backend, TRUCK_PAN).frames.astype(float)
    again = _generate(backend, DOLLY).frames.astype(float)
    # Fails when the poses stop reaching the model: the paths would then give the same clip.
    assert np.abs(dolly - truck).mean() >= 2.0
    assert np.array_equal(dolly, again)


def test_the_pipeline_gets_the_resampled_poses_relative_to_the_first_frame(backend, monkeypatch):
    from blender_ltx.core import poses
    from blender_ltx.core.shots import Trajectory

    seen = []
    pipe_cls = type(backend.pipe)
    original = pipe_cls.__call__

    def recording(self, *args, **kwargs):
        seen.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pipe_cls, "__call__", recording)
    clip = _generate(backend, TRUCK_PAN, num_frames=25, fps=24.0)
    (call,) = seen
    # 25 frames at 24 fps last one second: 17 frames at the model's 16 fps (8k+1).
    assert call["num_frames"] == 17 and len(call["c2w"]) == 17
    c2w, intr = poses.camera_poses(Trajectory.from_dict(TRUCK_PAN), 448, 256)
    want, want_intr = poses.resample(poses.relative_poses(c2w), intr, np.linspace(0, 24, 17))
    np.testing.assert_allclose(call["c2w"], want, atol=1e-5)
    np.testing.assert_allclose(call["intrinsics"], want_intr, rtol=1e-5)
    assert np.allclose(call["c2w"][0], np.eye(4), atol=1e-6)
    assert (call["width"], call["height"]) == (448, 256) and call["image"].size == (448, 256)
    assert clip.frames.shape == (25, 256, 448, 3)


@pytest.mark.parametrize("fps,num_frames", [(24.0, 25), (25.0, 33), (30.0, 17), (12.0, 9)])
def test_a_clip_has_exactly_the_asked_frames_at_any_scene_rate(backend, fps, num_frames):
    from server.backends.sana_wm import model_frames

    clip = _generate(backend, _trajectory(num_frames, step=(0.0, 0.2, 0.0)), num_frames=num_frames, fps=fps)
    assert clip.frames.shape[0] == num_frames
    count = model_frames(num_frames, fps)
    assert (count - 1) % 8 == 0 and count >= round((num_frames - 1) * 16 / fps) + 1


@pytest.mark.parametrize("width,height,mode", [(256, 448, "pad"), (448, 192, "pad"), (448, 256, "exact")])
def test_portrait_and_wide_shots_come_back_in_their_own_shape(backend, width, height, mode):
    from server.backends.sana_wm import fit_frame

    assert fit_frame(width, height, backend.canvas).mode == mode
    clip = _generate(backend, DOLLY, width=width, height=height)
    assert clip.frames.shape == (25, height, width, 3)


@pytest.mark.parametrize("width,height", [(256, 448), (448, 192), (432, 256), (640, 360)])
def test_the_fit_keeps_every_pixel_on_its_ray(width, height):
    """A request pixel and the canvas pixel it lands on see along the same ray (pixel centres at integers)."""
    from server.backends.sana_wm import TINY_SIZE, fit_frame

    fit = fit_frame(width, height, TINY_SIZE)
    intr = np.array([[500.0, 480.0, (width - 1) / 2 + 7.0, (height - 1) / 2 - 3.0]])
    moved = fit.intrinsics(intr, width, height)[0]
    left, top, cw, ch = fit.content
    for x, y in [(0.0, 0.0), (width - 1.0, height - 1.0), (13.0, 77.0)]:
        cx = (x + 0.5) * cw / width - 0.5 + left  # the same point of the picture in the canvas
        cy = (y + 0.5) * ch / height - 0.5 + top
        ray = np.array([(x - intr[0, 2]) / intr[0, 0], (y - intr[0, 3]) / intr[0, 1]])
        np.testing.assert_allclose([(cx - moved[2]) / moved[0], (cy - moved[3]) / moved[1]], ray, atol=1e-9)


# -- over real HTTP -----------------------------------------------------------------------------------
#: One pass of 33 frames in these tests, so a 57-frame shot chains in two.
SEGMENT = 33


@pytest.fixture(scope="module")
def sana_server(tiny_sana_wm_dir, tmp_path_factory):
    env = {"OMP_NUM_THREADS": "1"}
    args = ("--segment-frames", str(SEGMENT))
    with run_server(
        tmp_path_factory.mktemp("srv-sana"), model=str(tiny_sana_wm_dir), extra_args=args, env=env
    ) as handle:
        yield handle


@pytest.fixture()
def http():
    import requests

    with requests.Session() as s:
        yield s


def _request(**overrides) -> dict:
    w, h = overrides.get("width", 448), overrides.get("height", 256)
    base = {
        "num_frames": 25,
        "width": w,
        "height": h,
        "num_inference_steps": 2,
        "conditions": [{"frame_index": 0, "image": png_b64(w, h, seed=1)}],
    }
    return job_request(**{**base, **overrides})


def _run(http, server, tmp_path, req: dict) -> tuple[dict, np.ndarray, float]:
    done, path = run_to_video(http, server.url, req, tmp_path)
    with av.open(str(path)) as container:
        rate = float(container.streams.video[0].average_rate)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    return done, frames, rate


def test_health_names_the_family_its_capabilities_and_profile(sana_server):
    health = sana_server.health()
    assert health["family"] == "sana-wm" and health["backend"] == "sana-wm"
    assert health["capabilities"] == [
        "camera_poses",
        "draft",
        "finalize",
        "long_shots",
        "look_frames",
        "references",
    ]
    assert health["profile"]["name"] == "tiny-sana-wm"
    assert health["defaults"] == {"num_inference_steps": 3, "guidance_scale": 3.0}
    features = health["features"]
    assert features["pipeline"] == "SanaWMPipeline" and features["refiner"] is True
    assert features["model_fps"] == 16.0 and (features["model_width"], features["model_height"]) == (448, 256)
    assert health["segment_frames"] == SEGMENT and health["segment_overlap"] == 1
    assert health["loras"] == []


def test_a_job_returns_exactly_the_asked_frames_at_the_shots_rate_with_its_poses(sana_server, http, tmp_path):
    req = _request(
        num_frames=25,
        frame_rate=25.0,
        trajectory=_trajectory(25, step=(0, 0.1, 0)),
        poses={"scene_depth": 8.0},
    )
    done, frames, rate = _run(http, sana_server, tmp_path, req)
    assert frames.shape == (25, 256, 448, 3) and rate == 25.0
    applied = done["applied"]
    assert "camera_poses" in applied["layers"] and "motion_prompt" not in applied["layers"]
    poses = applied["camera_poses"]
    assert poses["scale"] == 1.0 and "median depth 8 m" in poses["scale_source"]
    assert (poses["frames"], poses["fps"], poses["model_frames"], poses["model_fps"]) == (25, 25.0, 17, 16.0)
    assert poses["crop"]["mode"] == "exact" and poses["static"] is False
    assert [s["stage"] for s in applied["stages"]] == ["stage1", "refiner"]
    assert all(
        (s["width"], s["height"], s["num_frames"], s["model_frames"]) == (448, 256, 25, 17)
        for s in applied["stages"]
    )
    assert applied["prompt_used"] == req["prompt"]  # the path goes in as numbers, not as a sentence


def test_the_shots_pose_scale_wins(sana_server, http, tmp_path):
    req = _request(trajectory=_trajectory(25, step=(0, 0.1, 0)), poses={"scene_depth": 800.0, "scale": 0.31})
    done, _, _ = _run(http, sana_server, tmp_path, req)
    assert done["applied"]["camera_poses"]["scale"] == 0.31
    assert done["applied"]["camera_poses"]["scale_source"] == "set on the shot"


def test_a_job_without_a_trajectory_is_a_static_camera(sana_server, http, tmp_path):
    done, frames, _ = _run(http, sana_server, tmp_path, _request(width=256, height=448))
    poses = done["applied"]["camera_poses"]
    assert poses["static"] is True and "static camera" in poses["scale_source"]
    assert poses["crop"]["mode"] == "pad"
    assert frames.shape == (25, 448, 256, 3)


def test_a_long_shot_chains_into_one_clip_of_exactly_its_frames(sana_server, http, tmp_path):
    req = _request(num_frames=57, trajectory=_trajectory(57, step=(0, 0.05, 0), pan_deg=0.5))
    done, frames, rate = _run(http, sana_server, tmp_path, req)
    assert frames.shape[0] == 57 and rate == 24.0
    segments = done["applied"]["segments"]
    assert [(s["frame_start"], s["num_frames"], s["overlap"]) for s in segments] == [(0, 33, 0), (32, 25, 1)]
    assert all(s["prompt_used"] == req["prompt"] for s in segments)


def test_a_draft_then_its_finalize_is_the_one_pass_take(sana_server, http, tmp_path):
    """Draft: stage 1 alone at the canvas, its latents kept; finalize: the refiner on them, into the draft's
    frames at the shot's rate, the same clip twice and the clip the one-pass job makes."""
    recipe = sana_server.health()["recipe"]
    assert recipe["draft"]["divisor"] == 1 and recipe["finalize"]["stages"] == ["refiner"]
    req = _request(num_frames=25, frame_rate=30.0, trajectory=_trajectory(25, step=(0, 0.1, 0), pan_deg=1.0))
    draft, draft_frames, rate = _run(http, sana_server, tmp_path, {**req, "draft": True})
    assert draft_frames.shape == (25, 256, 448, 3) and rate == 30.0
    assert [s["stage"] for s in draft["applied"]["stages"]] == ["draft"]
    assert draft["applied"]["stages"][0]["model_frames"] == 17
    assert draft["applied"]["draft"] == {"width": 448, "height": 256, "final_width": 448, "final_height": 256}
    assert (sana_server.data_dir / "videos" / f"{draft['id']}.draft.npz").is_file()

    final, frames, rate = _run(http, sana_server, tmp_path, {"finalize": draft["id"]})
    assert frames.shape == (25, 256, 448, 3) and rate == 30.0
    assert [s["stage"] for s in final["applied"]["stages"]] == ["refiner"]
    assert final["applied"]["finalize"]["draft"] == draft["id"]
    assert np.abs(frames.astype(int) - draft_frames.astype(int)).mean() > 1.0  # the refiner ran
    _, again, _ = _run(http, sana_server, tmp_path, {"finalize": draft["id"]})
    np.testing.assert_array_equal(again, frames)
    _, one_pass, _ = _run(http, sana_server, tmp_path, req)
    np.testing.assert_array_equal(one_pass, frames)


@pytest.mark.parametrize(
    "overrides,field,words",
    [
        ({"control": {"kind": "tracks", "tracks": [[[1.0, 2.0]]] * 25}}, "control.kind", "no control kinds"),
        ({"camera_lora": "Dolly-In"}, "camera_lora", "no camera LoRAs"),
        ({"audio": True}, "audio", "makes no audio"),
        ({"conditions": []}, "conditions", "starts from a picture"),
        (
            {
                "conditions": [
                    {"frame_index": 0, "image": png_b64(448, 256)},
                    {"frame_index": 8, "image": png_b64()},
                ]
            },
            "conditions[1].frame_index",
            "only takes the first frame",
        ),
        ({"poses": {"scene_depth": -1.0}}, "poses.scene_depth", "greater than 0"),
        ({"poses": {"scale": 0}}, "poses.scale", "greater than 0"),
    ],
)
def test_what_the_family_lacks_is_refused_with_a_sentence(sana_server, http, overrides, field, words):
    r = http.post(sana_server.url + "/v1/jobs", json=_request(**overrides))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    text = detail if isinstance(detail, str) else str(detail)
    assert field in text and words in text, text


def test_an_orthographic_camera_is_refused(sana_server, http):
    traj = {**_trajectory(25), "camera_type": "ORTHO", "ortho_scale": [6.0] * 25}
    r = http.post(sana_server.url + "/v1/jobs", json=_request(trajectory=traj))
    assert r.status_code == 422, r.text
    assert "trajectory.camera_type" in r.text and "Perspective" in r.text
