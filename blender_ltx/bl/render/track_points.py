"""Which scene points become Motion-Track tracks: vertices of the meshes the shot's first frame sees,
or the empties of a collection the user names. The projection and the choice among candidates are
pure (core/tracks.py); this module only reads the scene.

Points are taken where they are on the shot's first frame and stay fixed in the world: the tracks
describe the camera's motion over the set (animated objects would need per-frame positions).
"""

from __future__ import annotations

import numpy as np

from ...core import tracks
from .guides import preserved_render_state

#: Vertices per object considered at most (evenly strided), so a dense mesh costs little.
MAX_VERTS_PER_OBJECT = 4000


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
    ``collection`` when named, else the vertices of renderable meshes that the camera sees there."""
    with preserved_render_state(scene):
        scene.frame_set(shot.frame_start)
        depsgraph = _depsgraph(scene)
        if collection:
            import bpy

            coll = bpy.data.collections.get(collection)
            if coll is None:
                raise ValueError(
                    f"There is no collection {collection!r} for the track points: name one holding empties."
                )
            return _empties(coll)
        pts = _mesh_vertices(scene, depsgraph)
        if len(pts) == 0:
            return pts
        origin = np.array(shot.trajectory.matrix_world[0], dtype=float).reshape(4, 4)[:3, 3]
        return pts[_unoccluded(scene, depsgraph, origin, pts)]


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
