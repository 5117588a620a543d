"""Track points from the scene: points on the surfaces in view (rays through the first frame), visible
mesh vertices (occluded ones left out), or a collection's empties."""

from __future__ import annotations

import bpy
import numpy as np
import scenes

from blender_ltx import plan_scene
from blender_ltx.bl.render.track_points import candidate_points, shot_tracks
from blender_ltx.core.tracks import in_frame, project_points, to_json_tracks


def _scene(scene):
    """A camera at rest (looking along +Y from y=-10) trucking right; a cube in view, and a cube hidden
    behind a wall."""
    scenes.set_range(scene, 1, 12)
    cam = scenes.add_camera(scene, "Cam")
    scenes.add_move(cam, "truck_right", 1, 12)
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=(-1.5, 0.0, 1.5))
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=(1.5, 4.0, 1.5))
    hidden = bpy.context.active_object
    bpy.ops.mesh.primitive_plane_add(size=3.0, location=(1.5, 2.0, 1.5), rotation=(np.pi / 2, 0.0, 0.0))
    return plan_scene(scene).shots[0], hidden


def test_visible_vertices_are_candidates_and_occluded_ones_are_not(scene):
    shot, hidden = _scene(scene)
    scene.frame_set(7)
    pts = candidate_points(scene, shot)
    assert scene.frame_current == 7  # the current frame is put back
    assert len(pts) > 0
    hidden_box = np.array(hidden.location)
    assert not (np.abs(pts - hidden_box).max(axis=1) <= 0.5 + 1e-6).any()  # no vertex of the hidden cube
    near_cube = (np.abs(pts - np.array([-1.5, 0.0, 1.5])).max(axis=1) <= 0.5 + 1e-6).sum()
    assert near_cube >= 4  # the front face of the visible cube at least
    wall = bpy.data.objects["Plane"]
    wall.hide_render = True  # not rendered: neither a candidate nor an occluder...
    wall.hide_viewport = True  # ...once it is out of the depsgraph's view too
    unwalled = candidate_points(scene, shot)
    assert (np.abs(unwalled - hidden_box).max(axis=1) <= 0.5 + 1e-6).sum() >= 4  # the wall was what hid it
    wall.hide_render = wall.hide_viewport = False

    tracks = shot_tracks(scene, shot, count=8)
    assert tracks.shape[0] == shot.generation.num_frames and 0 < tracks.shape[1] <= 8 and tracks.shape[2] == 2
    assert np.isfinite(tracks[0]).all()  # every chosen point is in the first frame
    # The camera trucks right, so the points move left in the image.
    live = np.isfinite(tracks[shot.length - 1, :, 0])
    assert live.any() and (tracks[shot.length - 1, live, 0] < tracks[0, live, 0]).all()
    assert len(to_json_tracks(tracks)) == shot.generation.num_frames


def test_empties_of_a_named_collection(scene):
    shot, _ = _scene(scene)
    coll = bpy.data.collections.new("Tracks")
    scene.collection.children.link(coll)
    for i, loc in enumerate([(0.0, 0.0, 1.0), (1.0, 2.0, 2.0)]):
        empty = bpy.data.objects.new(f"T{i}", None)
        empty.location = loc
        coll.objects.link(empty)
    pts = candidate_points(scene, shot, collection="Tracks")
    np.testing.assert_allclose(sorted(pts.tolist()), [[0.0, 0.0, 1.0], [1.0, 2.0, 2.0]])


def test_a_ground_plane_filling_the_frame_gives_points_on_it(scene):
    """Issue 15 #11: four vertices, all outside the frame, used to leave nothing to track."""
    scenes.grey_box(scene)
    shot = plan_scene(scene).shots[0]
    pts = candidate_points(scene, shot)
    g = shot.generation
    np.testing.assert_allclose(pts[:, 2], 0.0, atol=1e-4)  # all on the plane
    px = project_points(shot.trajectory.slice(shot.frame_start, shot.frame_start), pts, g.width, g.height)[0]
    assert in_frame(px, g.width, g.height).sum() >= 50  # most of the 16 x 9 rays meet the ground
    tracks = shot_tracks(scene, shot)
    assert tracks.shape[1] >= 16 and np.isfinite(tracks[0]).all()
    live = np.isfinite(tracks[shot.length - 1, :, 0])  # trucking right: the ground slides left
    assert live.any() and (tracks[shot.length - 1, live, 0] < tracks[0, live, 0]).all()


def test_a_surface_hidden_from_render_gives_no_points(scene):
    scenes.grey_box(scene)
    bpy.data.objects["Ground"].hide_render = True
    assert len(candidate_points(scene, plan_scene(scene).shots[0])) == 0
