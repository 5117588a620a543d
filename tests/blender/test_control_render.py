"""Control frames rendered in a background process: a real depth pass of a plane at known distances,
the clip's frame count at the reference size, and the user's settings left as they were."""

from __future__ import annotations

import time

import bpy
import numpy as np
import pytest

import scenes

from blender_ltx import plan_scene
from blender_ltx.bl.render.control_frames import (
    clip_frames,
    reference_size,
    render_control_frames,
    start_control_render,
)
from blender_ltx.core.depth import normalize_depth

pytestmark = pytest.mark.slow  # background Blender renders


def _plane_shot(scene):
    """A camera looking straight down at a large plane, rising from 5 to 6 units over frames 1..9."""
    scenes.set_range(scene, 1, 9)
    scene.render.resolution_x, scene.render.resolution_y = 640, 360
    bpy.ops.mesh.primitive_plane_add(size=200.0, location=(0.0, 0.0, 0.0))
    plane = bpy.context.active_object
    cam = scenes.add_camera(scene, "Down", location=(0.0, 0.0, 5.0))
    cam.rotation_euler = (0.0, 0.0, 0.0)  # local -Z is world -Z: straight down
    scenes.key(cam, "location", 1, (0.0, 0.0, 5.0))
    scenes.key(cam, "location", 9, (0.0, 0.0, 6.0))
    return plan_scene(scene).shots[0], plane, cam


def _grey(path: str) -> np.ndarray:
    img = bpy.data.images.load(path, check_existing=False)
    try:
        w, h = img.size
        px = np.empty(w * h * 4, np.float32)
        img.pixels.foreach_get(px)
        return np.rint(px.reshape(h, w, 4)[::-1, :, 0] * 255.0)
    finally:
        bpy.data.images.remove(img)


def _user_state(scene) -> dict:
    r = scene.render
    return {
        "engine": r.engine,
        "res": (r.resolution_x, r.resolution_y, r.resolution_percentage),
        "filepath": r.filepath,
        "format": r.image_settings.file_format,
        "pass_z": [vl.use_pass_z for vl in scene.view_layers],
        "frame": scene.frame_current,
        "camera": scene.camera.name,
        "selected": sorted(o.name for o in scene.objects if o.select_get()),
        "active": bpy.context.view_layer.objects.active.name,
        "file": bpy.data.filepath,
        "images": sorted(i.name for i in bpy.data.images),
    }


def test_depth_and_beauty_frames_of_a_plane_leave_the_user_state_alone(scene, tmp_path):
    shot, plane, cam = _plane_shot(scene)
    scene.render.engine = "CYCLES"
    scene.render.resolution_percentage = 50
    scene.render.filepath = "//user_output/"
    scene.frame_set(4)
    for o in scene.objects:
        o.select_set(o is plane)
    bpy.context.view_layer.objects.active = plane
    before = _user_state(scene)

    result = render_control_frames(scene, shot, str(tmp_path / "control"), timeout=300)

    assert _user_state(scene) == before
    n = shot.generation.num_frames
    assert result["frames"] == clip_frames(shot) and len(result["frames"]) == n
    w, h = reference_size(shot)
    assert (
        (result["width"], result["height"])
        == (w, h)
        == (shot.generation.width // 2, shot.generation.height // 2)
    )
    assert len(result["depth"]) == len(result["beauty"]) == n

    # The real Z pass: the plane is 5 units away on frame 1, 6 on frame 9 (linear keys), everywhere.
    raw = np.load(result["depth_raw"])
    assert raw.shape == (n, h, w)
    want = 5.0 + np.arange(n) / (n - 1)
    np.testing.assert_allclose(raw.reshape(n, -1).mean(axis=1), want, atol=1e-3)
    assert np.ptp(raw, axis=(1, 2)).max() < 1e-3
    assert (result["near"], result["far"]) == pytest.approx((5.0, 6.0), abs=1e-3)

    # Normalized once for the shot: near (frame 1) white, far (frame 9) black, between in 1/depth.
    greys = [_grey(p) for p in result["depth"]]
    assert greys[0].shape == (h, w)
    expected = normalize_depth(want, result["near"], result["far"])
    assert [int(g.mean()) for g in greys] == [int(e) for e in expected]
    assert greys[0].min() == 255 and greys[-1].max() == 0 and 100 < greys[4].mean() < 130

    beauty = _grey(result["beauty"][0])
    assert beauty.shape == (h, w) and beauty.mean() > 0  # Workbench's lit plane, not an empty frame


def test_a_failed_render_ends_with_one_sentence(scene, tmp_path):
    # Only a camera: the depth pass hits nothing, which the background render reports as a sentence.
    scenes.set_range(scene, 1, 9)
    scenes.add_camera(scene, "Empty")
    shot = plan_scene(scene).shots[0]
    render = start_control_render(scene, shot, str(tmp_path / "control"))
    progress = []
    deadline = time.monotonic() + 300
    with pytest.raises(RuntimeError) as failed:
        while render.poll() is None:
            progress.append(render.progress())
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert str(failed.value).startswith("The control render failed:") and "hits nothing" in str(failed.value)
    assert all(0.0 <= p <= 1.0 for p in progress)
