"""Which scene points become Motion-Track tracks: points on the surfaces the shot's first frame sees
(rays cast through a grid over the frame) and the vertices of the meshes it sees, or the empties of a
collection the user names. The projection and the choice among candidates are pure (core/tracks.py);
this module only reads the scene.

The rays are what make a grey-box set trackable: a ground plane or a wall filling the frame has four
vertices, all outside the frame, but every ray that meets it gives a point on it.

Points are taken where they are on the shot's first frame and stay fixed in the world: the tracks
describe the camera's motion over the set (animated objects would need per-frame positions).
"""

from __future__ import annotations

import numpy as np

from ...core import tracks
from .guides import preserved_render_state

#: Vertices per object considered at most (evenly strided), so a dense mesh costs little.
MAX_VERTS_PER_OBJECT = 4000
#: Rays cast through the first frame (columns, rows), one through each cell's centre: 144 casts.
RAY_GRID = (16, 9)


def _mesh_vertices(scene, depsgraph) -> np.ndarray:
    pts = []
    for obj in scene.objects:
        if obj.type != "MESH" or obj.hide_render or not obj.visible_get():
            continue
        ev = obj.evaluated_get(depsgraph)
        mesh = ev.to_mesh()
        try:
            n = len(mesh.vertices)
            if n == 0:
                continue
            co = np.empty(n * 3, np.float64)
            mesh.vertices.foreach_get("co", co)
            co = co.reshape(n, 3)[:: max(1, n // MAX_VERTS_PER_OBJECT)]
            m = np.array(ev.matrix_world, dtype=float)
            pts.append(co @ m[:3, :3].T + m[:3, 3])
        finally:
            ev.to_mesh_clear()
    return np.concatenate(pts) if pts else np.zeros((0, 3))


def _empties(collection) -> np.ndarray:
    locs = [
        np.array(o.matrix_world.translation, dtype=float) for o in collection.all_objects if o.type == "EMPTY"
    ]
    return np.array(locs) if locs else np.zeros((0, 3))


def _frame_rays(camera, scene, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(origins, directions), (N, 3) each in camera space, of rays through the centres of a ``grid``
    of cells over the camera's frame (Blender's own frame: sensor fit, shift and aspect included)."""
    corners = np.array([tuple(v) for v in camera.data.view_frame(scene=scene)], dtype=float)
    top_right, bottom_right, bottom_left, top_left = corners
    nx, ny = grid
    fx = (np.arange(nx) + 0.5) / nx
    fy = (np.arange(ny) + 0.5) / ny
    u, v = np.meshgrid(fx, fy)  # u: left to right, v: top to bottom
    u, v = u.reshape(-1, 1), v.reshape(-1, 1)
    top = top_left + u * (top_right - top_left)
    bottom = bottom_left + u * (bottom_right - bottom_left)
    on_frame = top + v * (bottom - top)
    if camera.data.type == "ORTHO":  # parallel rays from the frame's plane
        origins = on_frame * np.array([1.0, 1.0, 0.0])
        return origins, np.repeat([[0.0, 0.0, -1.0]], len(on_frame), axis=0)
    return np.zeros_like(on_frame), on_frame / np.linalg.norm(on_frame, axis=1, keepdims=True)


def _surface_points(scene, depsgraph, camera, matrix: np.ndarray, grid=RAY_GRID) -> np.ndarray:
    """The first rendered surface along each ray through ``grid`` over the frame of ``camera`` posed
    at ``matrix`` (4x4 world): (N, 3) world points, none where a ray meets nothing."""
    from mathutils import Vector

    if camera is None or camera.type != "CAMERA":
        return np.zeros((0, 3))
    rot = matrix[:3, :3] / np.linalg.norm(matrix[:3, :3], axis=0)  # the camera's axes; scale is no zoom
    origins, dirs = _frame_rays(camera, scene, grid)
    origins = origins @ matrix[:3, :3].T + matrix[:3, 3]
    dirs = dirs @ rot.T
    pts = []
    for o, d in zip(origins, dirs, strict=True):
        hit, loc, _normal, _index, obj, _m = scene.ray_cast(depsgraph, Vector(o), Vector(d))
        if hit and not getattr(obj, "original", obj).hide_render:
            pts.append(tuple(loc))
    return np.array(pts, dtype=float).reshape(-1, 3)


def _unoccluded(scene, depsgraph, origin: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Mask of points the camera at ``origin`` sees: the first surface along the ray is the point's own."""
    from mathutils import Vector

    keep = np.zeros(len(pts), dtype=bool)
    o = Vector(origin)
    for i, p in enumerate(pts):
        d = p - origin
        dist = float(np.linalg.norm(d))
        if dist < 1e-9:
            continue
        hit, loc, *_ = scene.ray_cast(depsgraph, o, Vector(d / dist), distance=dist)
        keep[i] = not hit or (Vector(loc) - o).length >= dist - 1e-3 * max(1.0, dist)
    return keep


def candidate_points(scene, shot, collection: str | None = None) -> np.ndarray:
    """World points (N, 3) to choose tracks from, on the shot's first frame: the empties of
    ``collection`` when named, else points on the surfaces the camera sees there (``RAY_GRID``) and
    the vertices of renderable meshes that it sees."""
    import bpy

    with preserved_render_state(scene):
        scene.frame_set(shot.frame_start)
        depsgraph = _depsgraph(scene)
        if collection:
            coll = bpy.data.collections.get(collection)
            if coll is None:
                raise ValueError(
                    f"There is no collection {collection!r} for the track points: name one holding empties."
                )
            return _empties(coll)
        matrix = np.array(shot.trajectory.matrix_world[0], dtype=float).reshape(4, 4)
        surface = _surface_points(scene, depsgraph, bpy.data.objects.get(shot.camera), matrix)
        verts = _mesh_vertices(scene, depsgraph)
        if len(verts):
            verts = verts[_unoccluded(scene, depsgraph, matrix[:3, 3], verts)]
        return np.concatenate([verts, surface])


def _depsgraph(scene):
    import bpy

    return (
        bpy.context.evaluated_depsgraph_get()
        if bpy.context.scene == scene
        else scene.view_layers[0].depsgraph
    )


def shot_tracks(
    scene, shot, collection: str | None = None, count: int = tracks.DEFAULT_TRACK_COUNT
) -> np.ndarray:
    """The request's tracks (num_frames, M, 2) in generation-frame pixels, NaN where a track has ended.
    A clip longer than the shot (num_frames is 8k+1) holds the last sampled positions to its end."""
    g = shot.generation
    out = tracks.tracks_for(
        shot.trajectory, candidate_points(scene, shot, collection), g.width, g.height, count
    )
    if len(out) < g.num_frames and len(out):
        out = np.concatenate([out, np.repeat(out[-1:], g.num_frames - len(out), axis=0)])
    return out[: g.num_frames]
