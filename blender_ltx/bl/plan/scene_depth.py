"""How deep the scene is in front of a shot's camera: the measure behind ``core.poses.pose_scale``.

A small grid of rays through the camera's frame at one scene frame, cast into the evaluated scene; the
median distance of the hits along the view axis. Self-contained (bpy and mathutils only).
"""

from __future__ import annotations

import statistics

import bpy
from mathutils import Vector

#: Rays across and down the frame: 16 x 9 = 144 casts, a millisecond or two on a previs set.
DEFAULT_SAMPLES = (16, 9)


def _depsgraph(scene):
    if bpy.context.scene == scene and bpy.context.view_layer is not None:
        return bpy.context.evaluated_depsgraph_get()
    return scene.view_layers[0].depsgraph


def _frame_corners(camera_eval, scene) -> tuple[Vector, Vector]:
    """Top-right and bottom-left corners of the camera's frame in its local space (Camera.view_frame)."""
    if camera_eval.type == "CAMERA":
        top_right, _bottom_right, bottom_left, _top_left = camera_eval.data.view_frame(scene=scene)
        return top_right, bottom_left
    # An object used as the camera: the plan takes it as a 50 mm lens on a 36 mm sensor, fitted AUTO.
    r = scene.render
    aspect = (r.resolution_x * r.pixel_aspect_x) / (r.resolution_y * r.pixel_aspect_y)
    half = 18.0 / 50.0
    hx, hy = (half, half / aspect) if aspect >= 1.0 else (half * aspect, half)
    return Vector((hx, hy, -1.0)), Vector((-hx, -hy, -1.0))


def _rays(camera_eval, scene, samples: tuple[int, int]):
    """The camera's position and view axis, and (start, direction) in world space per grid cell centre,
    rows top to bottom."""
    mw = camera_eval.matrix_world.normalized()  # Blender's own projection drops the scale this way
    rot = mw.to_3x3()
    forward = (rot @ Vector((0.0, 0.0, -1.0))).normalized()
    top_right, bottom_left = _frame_corners(camera_eval, scene)
    ortho = camera_eval.type == "CAMERA" and camera_eval.data.type == "ORTHO"
    nx, ny = samples
    rays = []
    for j in range(ny):
        b = 1.0 - (j + 0.5) / ny
        for i in range(nx):
            a = (i + 0.5) / nx
            local = Vector(
                (
                    bottom_left.x + a * (top_right.x - bottom_left.x),
                    bottom_left.y + b * (top_right.y - bottom_left.y),
                    top_right.z,
                )
            )
            if ortho:  # parallel rays from the camera's plane
                rays.append((mw.translation + rot @ Vector((local.x, local.y, 0.0)), forward))
            else:
                rays.append((mw.translation.copy(), (rot @ local).normalized()))
    return mw.translation.copy(), forward, rays


def _median_depth(scene, depsgraph, camera, samples: tuple[int, int]) -> float | None:
    origin, forward, rays = _rays(camera.evaluated_get(depsgraph), scene, samples)
    depths = []
    for start, direction in rays:
        hit, location, *_ = scene.ray_cast(depsgraph, start, direction)
        if hit:
            depths.append((location - origin).dot(forward))
    return float(statistics.median(depths)) if depths else None


def first_frame_depths(
    scene, requests: list[tuple[object, int]], samples: tuple[int, int] = DEFAULT_SAMPLES
) -> list[float | None]:
    """``first_frame_depth`` of each ``(camera, frame)``, in order, with one frame change per distinct
    frame (and one back): what a many-shot plan calls."""
    nx, ny = samples
    if nx < 1 or ny < 1:
        raise ValueError(f"samples must be at least 1 x 1 rays, not {nx} x {ny}.")
    current, subframe = scene.frame_current, scene.frame_subframe
    out: list[float | None] = [None] * len(requests)
    moved = False
    try:
        for frame in sorted({int(f) for _cam, f in requests}):
            if moved or frame != current or subframe != 0.0:
                scene.frame_set(frame)
                moved = True
            depsgraph = _depsgraph(scene)
            for k, (camera, f) in enumerate(requests):
                if f == frame:
                    out[k] = _median_depth(scene, depsgraph, camera, (nx, ny))
        return out
    finally:
        if moved:
            scene.frame_set(current, subframe=subframe)


def first_frame_depth(scene, camera, frame: int, samples: tuple[int, int] = DEFAULT_SAMPLES) -> float | None:
    """Median depth (scene units, along the view axis) of what ``camera`` sees at ``frame``, from a
    ``samples`` (across, down) grid of rays; None when no ray hits anything. The scene's current frame
    (and subframe) is restored; at the current frame nothing is re-evaluated."""
    return first_frame_depths(scene, [(camera, frame)], samples)[0]


def metres_per_unit(scene) -> float:
    """How many metres one scene unit is (the scene's Unit Scale; 1 when units are off)."""
    units = scene.unit_settings
    return 1.0 if units.system == "NONE" else float(units.scale_length)
