"""Textured gray-box sets and clip renders for the motion meter's tests and benchmark (real bpy).

The set is a closed room (so any turn still sees texture) with boxes at several depths (parallax, so
a dolly differs from a zoom and a truck from a pan), all carrying a blocky noise texture rendered by
Workbench in texture color mode with flat light (the picture does not change as the camera turns).
Cameras follow tests/blender/scenes.py: at rest at REST_POS looking along +Y.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import bpy
import numpy as np

from server.generation.video import write_mp4


def _noise_image(name: str = "LtxNoise", size: int = 512, seed: int = 7):
    rng = np.random.default_rng(seed)
    # Blocks at two scales: strong corners at any distance the camera sees them from.
    coarse = np.kron(rng.random((16, 16)), np.ones((size // 16, size // 16)))
    fine = np.kron(rng.random((64, 64)), np.ones((size // 64, size // 64)))
    gray = 0.15 + 0.7 * (0.55 * coarse + 0.45 * fine)
    img = bpy.data.images.new(name, size, size)
    rgba = np.ones((size, size, 4), np.float32)
    rgba[..., :3] = gray[..., None]
    img.pixels.foreach_set(rgba.ravel())
    return img


def _material(img, name: str = "LtxTextured"):
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:  # Blender 5 makes materials with nodes and deprecates use_nodes
        mat.use_nodes = True
    nodes = mat.node_tree.nodes
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = img
    tex.interpolation = "Linear"
    nodes.active = tex
    bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
    mat.node_tree.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def _box(scene, name: str, location, size, mat, uv_scale: float):
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=location)
    obj = bpy.context.active_object
    obj.name = name
    obj.scale = size
    for loop in obj.data.uv_layers.active.data:
        loop.uv = (loop.uv[0] * uv_scale, loop.uv[1] * uv_scale)
    obj.data.materials.append(mat)
    return obj


def textured_set(scene, seed: int = 7) -> None:
    """Room 36 x 36 x 16 (walls 8 to 26 units from a camera at rest, floor 5.5 below it, so a pedestal
    down stays above it), and boxes between 9 and 24 units in front of REST_POS (a dolly in never ends
    against a face filling the view), some floating, so every part of the view has depth to it."""
    mat = _material(_noise_image(seed=seed))
    _box(scene, "Room", (0, 2, 4), (36, 36, 16), mat, uv_scale=8.0)
    rng = np.random.default_rng(seed)
    for i in range(24):
        x, y = rng.uniform(-12, 12), rng.uniform(-1, 14)
        s = rng.uniform(0.8, 2.2)
        _box(scene, f"Box{i}", (x, y, rng.uniform(-3.0, 6.0)), (s, s, s * rng.uniform(0.6, 1.6)), mat, 1.5)


def render_clip(scene, out: str | Path, width: int, height: int, fps: float | None = None) -> Path:
    """Render the scene's frame range through its camera with Workbench (texture colors, flat light)
    and encode it as H.264 the way the server writes clips."""
    import cv2

    scene.render.engine = "BLENDER_WORKBENCH"
    shading = scene.display.shading
    shading.light = "FLAT"
    shading.color_type = "TEXTURE"
    scene.display.render_aa = "8"
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    with tempfile.TemporaryDirectory() as tmp:
        scene.render.filepath = str(Path(tmp) / "f_")
        bpy.ops.render.render(animation=True, scene=scene.name)
        files = sorted(Path(tmp).glob("f_*.png"))
        frames = np.stack([cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files])
    rate = fps or scene.render.fps / scene.render.fps_base
    return write_mp4(frames, out, rate)


def set_move(scene, move: str, frames: int):
    """The scene camera doing ``move`` over frames 1..frames: a scenes.MOVES name, several joined by '+'
    (at once), several joined by '>' (one after the other, equal parts), or orbit_left / orbit_right."""
    import scenes

    if move.startswith("orbit"):
        cam, _ = scenes.orbit_rig(scene, move.split("_")[1], 1, frames, degrees=40.0)
        return cam
    cam = scenes.add_camera(scene)
    parts = move.split(">")
    bounds = [1 + round(i * (frames - 1) / len(parts)) for i in range(len(parts) + 1)]
    for part, f0, f1 in zip(parts, bounds[:-1], bounds[1:], strict=True):
        scenes.add_move(cam, part, f0, f1)
    return cam


def render_move(
    move: str,
    out: str | Path,
    width: int = 256,
    height: int = 160,
    frames: int = 25,
    fps: int = 24,
    textured: bool = True,
):
    """Render ``move`` (see set_move) in a fresh textured set (or, textured=False, in front of a flat
    gray wall); returns (clip path, the scene's shot plan)."""
    import scenes

    from blender_ltx.bl.plan.scene import plan_scene

    scene = scenes.reset()
    scenes.set_range(scene, 1, frames)
    scenes.set_fps(scene, fps)
    if textured:
        textured_set(scene)
    else:
        bpy.ops.mesh.primitive_plane_add(size=400.0, location=(0, 20, 0), rotation=(1.5708, 0, 0))
    set_move(scene, move, frames)
    scene.render.resolution_x, scene.render.resolution_y = width, height
    path = render_clip(scene, out, width, height, fps)
    return path, plan_scene(scene)
