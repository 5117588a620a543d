"""Scene builders for the Blender tests and benchmarks (real bpy; import after bpy is importable).

Conventions: a camera "at rest" stands at REST_POS and looks along +Y (world), its right is +X and its
up +Z, so a move's direction in the camera's own frame is easy to read off world axes. Keys are linear
unless said otherwise, so motion is even between keys.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import bpy
from mathutils import Euler, Matrix, Vector

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from blender_ltx.bl.addon import compat  # noqa: E402

REST_POS = Vector((0.0, -10.0, 1.5))
TARGET = Vector((0.0, 0.0, 1.5))  # what a camera at rest looks at, 10 units ahead

# Per move: (location delta, (yaw, pitch, roll) delta in degrees, lens end) over the move.
# yaw > 0 turns the view to the left (about +Z), pitch > 0 looks up, roll > 0 turns counterclockwise as
# seen by the camera, i.e. about the view axis pointing back at the camera (local +Z).
MOVES = {
    "static": ((0, 0, 0), (0, 0, 0), None),
    "dolly_in": ((0, 4, 0), (0, 0, 0), None),
    "dolly_out": ((0, -4, 0), (0, 0, 0), None),
    "truck_left": ((-4, 0, 0), (0, 0, 0), None),
    "truck_right": ((4, 0, 0), (0, 0, 0), None),
    "pedestal_up": ((0, 0, 3), (0, 0, 0), None),
    "pedestal_down": ((0, 0, -3), (0, 0, 0), None),
    "pan_left": ((0, 0, 0), (30, 0, 0), None),
    "pan_right": ((0, 0, 0), (-30, 0, 0), None),
    "tilt_up": ((0, 0, 0), (0, 20, 0), None),
    "tilt_down": ((0, 0, 0), (0, -20, 0), None),
    "roll_left": ((0, 0, 0), (0, 0, 20), None),
    "roll_right": ((0, 0, 0), (0, 0, -20), None),
    "zoom_in": ((0, 0, 0), (0, 0, 0), 85.0),
    "zoom_out": ((0, 0, 0), (0, 0, 0), 24.0),
}


def reset():
    """Factory settings, empty scene; returns the scene."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def set_range(scene, start: int, end: int):
    scene.frame_start, scene.frame_end = start, end
    return scene


def set_fps(scene, fps: int, fps_base: float = 1.0):
    """E.g. set_fps(scene, 24000, 1001) for 23.976."""
    scene.render.fps, scene.render.fps_base = fps, fps_base
    return scene


def look_euler(yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0, previous=None) -> Euler:
    """XYZ Euler of a camera looking along +Y turned by yaw (left +), pitch (up +) and roll."""
    m = (
        Matrix.Rotation(math.radians(yaw_deg), 3, "Z")
        @ Matrix.Rotation(math.radians(90 + pitch_deg), 3, "X")
        @ Matrix.Rotation(math.radians(roll_deg), 3, "Z")
    )
    return m.to_euler("XYZ", previous) if previous is not None else m.to_euler("XYZ")


def add_camera(
    scene,
    name: str = "Cam",
    location=REST_POS,
    yaw=0.0,
    pitch=0.0,
    roll=0.0,
    lens=50.0,
    make_active: bool | None = None,
):
    """A camera object at rest (see module doc); the scene camera if there is none yet."""
    data = bpy.data.cameras.new(name)
    data.lens = lens
    cam = bpy.data.objects.new(name, data)
    scene.collection.objects.link(cam)
    cam.location = Vector(location)
    cam.rotation_euler = look_euler(yaw, pitch, roll)
    if make_active or (make_active is None and scene.camera is None):
        scene.camera = cam
    return cam


def key(id_data, path: str, frame: int, value, interpolation: str = "LINEAR"):
    """Set ``id_data.path = value`` and key it at ``frame`` (all indices), with ``interpolation``."""
    setattr(id_data, path, value)
    id_data.keyframe_insert(path, frame=frame)
    for fc in compat.anim_fcurves(id_data):
        if fc.data_path == path:
            for kp in fc.keyframe_points:
                if int(round(kp.co[0])) == frame:
                    kp.interpolation = interpolation


def key_pose(cam, frame: int, location=None, yaw=0.0, pitch=0.0, roll=0.0, lens=None):
    if location is not None:
        key(cam, "location", frame, Vector(location))
    key(cam, "rotation_euler", frame, look_euler(yaw, pitch, roll, previous=cam.rotation_euler.copy()))
    if lens is not None:
        key(cam.data, "lens", frame, lens)


def add_move(cam, move: str, f0: int, f1: int, base_lens: float = 50.0):
    """Key ``cam`` to do ``move`` (a MOVES name, or several joined by '+') from frame f0 to f1."""
    dloc, drot, lens = Vector(), [0.0, 0.0, 0.0], None
    for part in move.split("+"):
        d, r, zoom = MOVES[part]
        dloc += Vector(d)
        drot = [a + b for a, b in zip(drot, r, strict=True)]
        lens = zoom if zoom is not None else lens
    start = cam.location.copy()
    yaw0, pitch0, roll0 = _ypr(cam)
    key_pose(cam, f0, start, yaw0, pitch0, roll0, lens=base_lens if lens is not None else None)
    key_pose(cam, f1, start + dloc, yaw0 + drot[0], pitch0 + drot[1], roll0 + drot[2], lens=lens)
    return cam


def _ypr(cam) -> tuple[float, float, float]:
    # Recover yaw/pitch/roll of look_euler from the current rotation (for chaining moves).
    m = cam.rotation_euler.to_matrix()
    fwd = m @ Vector((0, 0, -1))
    yaw = math.degrees(math.atan2(-fwd.x, fwd.y))
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, fwd.z))))
    base = Matrix.Rotation(math.radians(yaw), 3, "Z") @ Matrix.Rotation(math.radians(90 + pitch), 3, "X")
    local = base.transposed() @ m
    roll = math.degrees(math.atan2(local[1][0], local[0][0]))
    return yaw, pitch, roll


def orbit_rig(
    scene, direction: str = "left", f0: int = 1, f1: int = 48, degrees: float = 60.0, name: str = "Orbit"
):
    """A camera parented to an empty at TARGET; the empty turns so the camera orbits, always looking at it.

    Turning the empty by +angle about Z moves a camera at rest toward its right, so orbit_left is -angle.
    """
    pivot = bpy.data.objects.new(f"{name}Pivot", None)
    scene.collection.objects.link(pivot)
    pivot.location = TARGET
    cam = add_camera(scene, name)
    cam.parent = pivot
    cam.location = REST_POS - TARGET  # parent inverse stays identity: location is relative to the pivot
    sign = -1.0 if direction == "left" else 1.0
    key(pivot, "rotation_euler", f0, Euler((0, 0, 0)))
    key(pivot, "rotation_euler", f1, Euler((0, 0, sign * math.radians(degrees))))
    return cam, pivot


def parented_camera(scene, name: str = "Rig", f0: int = 1, f1: int = 40):
    """A camera under a two-level rig with delta transforms, a parent inverse, non-XYZ rotation modes."""
    root = bpy.data.objects.new(f"{name}Root", None)
    arm = bpy.data.objects.new(f"{name}Arm", None)
    scene.collection.objects.link(root)
    scene.collection.objects.link(arm)
    arm.parent = root
    root.rotation_mode = "ZXY"
    root.delta_location = (1.0, 0.5, 0.0)
    root.delta_scale = (1.2, 1.2, 1.2)
    arm.rotation_mode = "QUATERNION"
    arm.delta_rotation_quaternion = Euler((0.0, 0.0, 0.3)).to_quaternion()
    arm.location = (0.0, -3.0, 0.0)
    cam = add_camera(scene, name)
    cam.parent = arm
    cam.matrix_parent_inverse = Matrix.Translation((0.2, 0.0, -0.1)) @ Matrix.Rotation(0.1, 4, "Z")
    cam.rotation_mode = "YZX"
    cam.rotation_euler = (math.radians(85), 0.05, 0.1)
    key(root, "location", f0, Vector((0, 0, 0)))
    key(root, "location", f1, Vector((2, 3, 1)), interpolation="BEZIER")
    key(root, "rotation_euler", f0, Euler((0, 0, 0)))
    key(root, "rotation_euler", f1, Euler((0.1, 0.2, 0.8)))
    key(arm, "rotation_quaternion", f0, Euler((0, 0, 0)).to_quaternion())
    key(arm, "rotation_quaternion", f1, Euler((0.2, 0.0, -0.5)).to_quaternion())
    key(cam, "scale", f0, Vector((1, 1, 1)))
    key(cam, "scale", f1, Vector((1.0, 1.5, 1.0)))
    key(cam, "delta_location", f0, Vector((0, 0, 0)))
    key(cam, "delta_location", f1, Vector((0, 0, 0.5)))
    key(cam.data, "lens", f0, 35.0, interpolation="BEZIER")
    key(cam.data, "lens", f1, 70.0, interpolation="BEZIER")
    key(cam.data, "shift_x", f0, 0.1)
    return cam


def track_to_camera(scene, name: str = "Tracker", f0: int = 1, f1: int = 48):
    """A camera trucking right with a Track To constraint on a target that rises (fallback path)."""
    target = bpy.data.objects.new(f"{name}Target", None)
    scene.collection.objects.link(target)
    key(target, "location", f0, TARGET)
    key(target, "location", f1, TARGET + Vector((0, 0, 2)))
    cam = add_camera(scene, name)
    key(cam, "location", f0, REST_POS)
    key(cam, "location", f1, REST_POS + Vector((5, 0, 0)))
    con = cam.constraints.new("TRACK_TO")
    con.target = target
    con.track_axis = "TRACK_NEGATIVE_Z"
    con.up_axis = "UP_Y"
    return cam, target


def follow_path_camera(scene, name: str = "Rail", f0: int = 1, f1: int = 48):
    """A camera on a Follow Path constraint along a bezier circle, animated through the path's offset."""
    bpy.ops.curve.primitive_bezier_circle_add(radius=8.0, location=(0, 0, 2))
    curve = bpy.context.active_object
    curve.name = f"{name}Path"
    cam = add_camera(scene, name)
    cam.location = (0, 0, 0)
    con = cam.constraints.new("FOLLOW_PATH")
    con.target = curve
    con.use_curve_follow = True
    con.forward_axis = "TRACK_NEGATIVE_Z"
    con.up_axis = "UP_Y"
    key(con, "offset", f0, 0.0)
    key(con, "offset", f1, -40.0)
    return cam, curve


def _driven_camera(scene, name: str, prop: str, z0: float, z1: float, f0: int, f1: int):
    """A camera whose data ``prop`` follows another object's Z (keyed z0 at f0 to z1 at f1) by a driver."""
    ctrl = bpy.data.objects.new(f"{name}Ctrl", None)
    scene.collection.objects.link(ctrl)
    key(ctrl, "location", f0, Vector((0, 0, z0)))
    key(ctrl, "location", f1, Vector((0, 0, z1)))
    cam = add_camera(scene, name)
    fc = cam.data.driver_add(prop)
    var = fc.driver.variables.new()
    var.name = "z"
    var.targets[0].id = ctrl
    var.targets[0].data_path = "location.z"
    fc.driver.expression = "z"
    return cam


def driven_lens_camera(scene, name: str = "Driven", f0: int = 1, f1: int = 40):
    """A camera whose lens follows another object's Z through a driver (fallback path)."""
    return _driven_camera(scene, name, "lens", 30.0, 90.0, f0, f1)


def add_marker(scene, name: str, frame: int, camera=None):
    m = scene.timeline_markers.new(name, frame=frame)
    m.camera = camera
    return m


def add_heavy_objects(scene, count: int = 4, levels: int = 3, wave: bool = True):
    """Subdivided, animated meshes with modifiers, so that evaluating a frame costs what real scenes do."""
    objs = []
    for i in range(count):
        mesh = bpy.data.meshes.new(f"Heavy{i}")
        bpy_mesh_grid(mesh, 48)
        obj = bpy.data.objects.new(f"Heavy{i}", mesh)
        scene.collection.objects.link(obj)
        obj.location = (i * 5.0, 20.0, 0.0)
        sub = obj.modifiers.new("Subsurf", "SUBSURF")
        sub.levels = levels
        if wave:
            obj.modifiers.new("Wave", "WAVE")  # time-dependent: forces re-evaluation every frame
        key(obj, "rotation_euler", scene.frame_start, Euler((0, 0, 0)))
        key(obj, "rotation_euler", scene.frame_end, Euler((0, 0, 6.28)))
        objs.append(obj)
    return objs


def bpy_mesh_grid(mesh, n: int, size: float = 4.0):
    """Fill ``mesh`` with an n x n quad grid (no operators: works on any scene)."""
    verts = [(size * (i / n - 0.5), size * (j / n - 0.5), 0.0) for j in range(n + 1) for i in range(n + 1)]
    faces = [
        (j * (n + 1) + i, j * (n + 1) + i + 1, (j + 1) * (n + 1) + i + 1, (j + 1) * (n + 1) + i)
        for j in range(n)
        for i in range(n)
    ]
    mesh.from_pydata(verts, [], faces)
    mesh.update()
    return mesh


def naive_samples(scene, camera, frames):
    """What the plan must match: frame_set(f) then camera.matrix_world (row-major 16) and its lens."""
    cur = scene.frame_current
    mats, lenses = [], []
    for f in frames:
        scene.frame_set(f)
        mats.append([v for row in camera.matrix_world for v in row])
        lenses.append(camera.data.lens if camera.type == "CAMERA" else 50.0)
    scene.frame_set(cur)
    return mats, lenses


def ortho_camera(scene, name: str = "Ortho", scales=(6.0, 3.0), f0: int = 1, f1: int = 48, **kw):
    """An orthographic camera at rest whose ortho scale is keyed from scales[0] at f0 to scales[1] at f1."""
    cam = add_camera(scene, name, **kw)
    cam.data.type = "ORTHO"
    key(cam.data, "ortho_scale", f0, scales[0])
    key(cam.data, "ortho_scale", f1, scales[1], interpolation="BEZIER")
    return cam


def driven_ortho_camera(scene, name: str = "OrthoDriven", f0: int = 1, f1: int = 40):
    """An orthographic camera whose ortho scale follows another object's Z through a driver."""
    cam = _driven_camera(scene, name, "ortho_scale", 8.0, 2.0, f0, f1)
    cam.data.type = "ORTHO"
    return cam


def evaluated_camera_data(scene, camera, frames, prop: str) -> list:
    """``prop`` of the camera's evaluated data after frame_set(f), per frame (what the plan must match)."""
    cur = scene.frame_current
    out = []
    for f in frames:
        scene.frame_set(f)
        out.append(getattr(camera.evaluated_get(bpy.context.evaluated_depsgraph_get()).data, prop))
    scene.frame_set(cur)
    return out


def grey_box(scene, *, sky_shot: bool = False, size: float = 200.0):
    """The plainest grey-box set: one big ground plane (four vertices, all far outside the frame) and
    shot "GROUND" (frames 1-24) of a camera at rest pitched down at it, trucking right. With
    ``sky_shot``, also shot "SKY" (frames 25-48) of a camera looking steeply up: nothing in view."""
    set_range(scene, 1, 48 if sky_shot else 24)
    mesh = bpy.data.meshes.new("Ground")
    h = size / 2
    mesh.from_pydata([(-h, -h, 0.0), (h, -h, 0.0), (h, h, 0.0), (-h, h, 0.0)], [], [(0, 1, 2, 3)])
    mesh.update()
    scene.collection.objects.link(bpy.data.objects.new("Ground", mesh))
    ground = add_camera(scene, "GroundCam", pitch=-20.0)
    add_move(ground, "truck_right", 1, 24)
    add_marker(scene, "GROUND", 1, ground)
    if sky_shot:
        add_marker(scene, "SKY", 25, add_camera(scene, "SkyCam", pitch=60.0))
    return scene
