"""Guide frames on real bpy: size, frames, the user's settings untouched (also after a failure)."""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest

pytestmark = pytest.mark.blender
bpy = pytest.importorskip("bpy")

from blender_ltx.bl.addon import compat  # noqa: E402
from blender_ltx.bl.render import guides  # noqa: E402
from blender_ltx.core.shots import GenerationGrid, Shot, Trajectory  # noqa: E402

W, H = 96, 64


def make_shot(start: int = 1, end: int = 20, camera: str = "ShotCam", motion=()) -> Shot:
    grid = GenerationGrid(num_frames=25, width=W, height=H, frame_rate=24.0)
    return Shot(
        name="sh010",
        camera=camera,
        frame_start=start,
        frame_end=end,
        generation=grid,
        trajectory=Trajectory(),
        motion=list(motion),
    )


@pytest.fixture
def scene():
    """A camera dollying past three cubes, plus a second camera the user has active, and user render
    settings that differ from everything a guide render needs."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    sc = bpy.context.scene
    for i, x in enumerate((-2.0, 0.0, 2.0)):
        bpy.ops.mesh.primitive_cube_add(size=1.0, location=(x, 0.0, 0.5 * i))
    cam = bpy.data.objects.new("ShotCam", bpy.data.cameras.new("ShotCam"))
    sc.collection.objects.link(cam)
    cam.rotation_euler = (1.5708, 0.0, 0.0)
    for frame, x in ((1, -3.0), (20, 3.0)):
        cam.location = (x, -8.0, 0.5)
        cam.keyframe_insert("location", frame=frame)
    user_cam = bpy.data.objects.new("UserCam", bpy.data.cameras.new("UserCam"))
    sc.collection.objects.link(user_cam)
    sc.camera = user_cam
    r = sc.render
    r.engine = "CYCLES"
    r.resolution_x, r.resolution_y, r.resolution_percentage = 1920, 1080, 50
    r.pixel_aspect_x = 2.0
    r.use_border, r.use_sequencer, r.film_transparent, r.use_stamp = True, True, True, True
    r.filepath = "//renders/final_####"
    if hasattr(r.image_settings, "media_type"):
        r.image_settings.media_type = "VIDEO"
    r.image_settings.file_format = "FFMPEG"
    sc.frame_set(7)
    return sc


def snapshot(sc) -> dict:
    r, fmt = sc.render, sc.render.image_settings
    names = [n for _, n in guides._SETTINGS if n != "camera"]
    state = {n: getattr(r, n) for n in names}
    state.update({a: getattr(fmt, a) for a in compat.image_format_attrs(fmt)})
    state.update({n: getattr(fmt, n) for _, n in guides._FORMAT_DETAILS})
    state.update(camera=sc.camera.name, frame=sc.frame_current, subframe=sc.frame_subframe)
    return state


def load_pixels(path: str) -> tuple[tuple[int, int], np.ndarray]:
    img = bpy.data.images.load(path, check_existing=False)
    try:
        size = tuple(img.size)
        px = np.empty(size[0] * size[1] * 4, np.float32)
        img.pixels.foreach_get(px)
    finally:
        bpy.data.images.remove(img)
    return size, px.reshape(size[1], size[0], 4)


def test_first_frame_only_by_default(scene, tmp_path):
    before = snapshot(scene)
    out = guides.render_guides(scene, make_shot(), str(tmp_path / "g"))
    assert [i for i, _ in out] == [0]
    size, px = load_pixels(out[0][1])
    assert size == (W, H)
    assert px[..., :3].std() > 0.01  # cubes in front of the world, not a blank frame
    assert snapshot(scene) == before


def test_every_n_renders_along_the_move_and_restores(scene, tmp_path):
    before = snapshot(scene)
    out = guides.render_guides(scene, make_shot(), str(tmp_path / "g"), every_n=5)
    assert [i for i, _ in out] == [0, 5, 10, 15]
    assert all(os.path.basename(p) == f"guide_{i:04d}.png" for i, p in out)
    first, last = load_pixels(out[0][1])[1], load_pixels(out[-1][1])[1]
    assert np.abs(first - last).max() > 0.1  # the camera moved between them
    assert snapshot(scene) == before


def test_settings_restored_when_a_render_fails(scene, tmp_path):
    out_dir = tmp_path / "g"
    os.makedirs(out_dir / "guide_0005.png")  # a folder where the second frame must go: that write fails
    before = snapshot(scene)
    with pytest.raises(RuntimeError, match="guide_0005.png"):
        guides.render_guides(scene, make_shot(), str(out_dir), every_n=5)
    assert os.path.isfile(out_dir / "guide_0000.png")  # it failed half-way, after changing settings
    assert snapshot(scene) == before


def test_bad_camera_and_engine_are_clear_errors(scene, tmp_path):
    with pytest.raises(ValueError, match="'Nope'.*refresh the shot plan"):
        guides.render_guides(scene, make_shot(camera="Nope"), str(tmp_path))
    before = snapshot(scene)
    with pytest.raises(ValueError, match="'NOT_AN_ENGINE' is not available.*BLENDER_WORKBENCH"):
        guides.render_guides(scene, make_shot(), str(tmp_path), engine="NOT_AN_ENGINE")
    assert snapshot(scene) == before


def test_first_frame_from_image_fills_and_crops_centre(tmp_path):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    img = bpy.data.images.new("pick", 200, 100, alpha=False)
    px = np.zeros((100, 200, 4), np.float32)
    px[..., 3] = 1.0
    px[:, :100, 0] = 1.0  # left half red
    px[:, 100:, 2] = 1.0  # right half blue
    px[:, :20, 1] = 1.0  # a green band at the far left: cropped away when filling a square
    img.pixels.foreach_set(px.ravel())
    src = str(tmp_path / "pick.png")
    img.filepath_raw, img.file_format = src, "PNG"
    img.save()
    out = guides.first_frame_from_image(src, 64, 64, str(tmp_path / "first.png"))
    size, got = load_pixels(out)
    assert size == (64, 64)
    assert got[32, 10, :3].round(2).tolist() == [1.0, 0.0, 0.0]
    assert got[32, 54, :3].round(2).tolist() == [0.0, 0.0, 1.0]
    assert got[..., 1].max() < 0.05  # the green band was outside the centre crop
    with pytest.raises(FileNotFoundError, match="pick another image"):
        guides.first_frame_from_image(str(tmp_path / "none.png"), 64, 64, str(tmp_path / "x.png"))


def test_last_frame_of_clip_reads_the_final_frame(tmp_path):
    av = pytest.importorskip("av")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    clip = str(tmp_path / "take_1.mp4")
    with av.open(clip, "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(24))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(9):
            frame = np.full((48, 64, 3), 20 * i, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    scenes, frame = len(bpy.data.scenes), bpy.context.scene.frame_current
    path = guides.last_frame_of_clip(clip, str(tmp_path / "last.png"))
    size, px = load_pixels(path)
    assert size == (64, 48)
    assert px[..., 0].mean() * 255 == pytest.approx(160, abs=4)  # frame 8, not frame 7 (140)
    assert len(bpy.data.scenes) == scenes and bpy.context.scene.frame_current == frame
