"""Camera samples per scene frame: world matrix, lens and sensor, exact and fast.

Three ways to get them, picked per camera (``mode="auto"``):

- ``fcurves``: when the camera's world matrix depends only on its own F-Curves and its parents'
  (no constraints, no drivers, no NLA, object parenting, no rigid body), the curves are evaluated directly
  and loc/rot/scale, delta transforms and the parent inverse composed in numpy, as Blender's
  ``BKE_object_to_mat4`` + ``solve_parenting`` do. No frame change at all.
- ``isolated``: anything else (Track To, Follow Path, drivers, ...) is evaluated by Blender, but in a
  temporary scene that links only those cameras: its depsgraph pulls in exactly what they depend on
  (constraint targets, parents, driver sources), so heavy scene content is not evaluated. One
  ``frame_set`` pass over the union of the frames all such cameras need. A check at the current frame
  against the real scene guards against anything scene-specific (it falls back to ``scene``).
- ``scene``: ``frame_set`` on the real scene, one pass over the union of frames; used when the scene has
  a rigid body world (simulations belong to their scene) or the isolated check disagrees. The user's
  current frame, subframe and scene camera are restored afterwards, also on error.

Not seen by the F-Curve path: Python frame-change handlers that move a camera (force ``mode="scene"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from ..addon import compat

#: Per-frame camera data read next to the matrix (sensor_fit is an enum: read once, not per frame; the
#: camera type is read per frame as text).
DATA_PROPS = ("lens", "sensor_width", "sensor_height", "shift_x", "shift_y", "ortho_scale")
_DATA_DEFAULTS = {
    "lens": 50.0,
    "sensor_width": 36.0,
    "sensor_height": 24.0,
    "shift_x": 0.0,
    "shift_y": 0.0,
    "ortho_scale": 6.0,
}
#: What an object that is not a camera is taken as.
_DEFAULT_TYPE = "PERSP"

MODES = ("auto", "fcurves", "isolated", "scene")
_EULER_ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")
_CHECK_TOL = 1e-5


@dataclass
class CameraSamples:
    frames: np.ndarray  # (N,) int scene frames
    matrix_world: np.ndarray  # (N, 4, 4) float64
    data: dict[str, np.ndarray]  # DATA_PROPS -> (N,)
    camera_type: np.ndarray  # (N,) str: Camera.type (PERSP, ORTHO, PANO, ...) per frame
    sensor_fit: str
    method: str  # fcurves | isolated | scene


# --- which cameras can be read from their F-Curves ----------------------------------------------


def _anim_blocker(id_data, what: str) -> str | None:
    ad = getattr(id_data, "animation_data", None)
    if ad is None:
        return None
    if len(ad.drivers):
        return f"{what} has drivers"
    if len(ad.nla_tracks) or ad.use_tweak_mode:
        return f"{what} has NLA tracks"
    if ad.action is not None and (ad.action_influence != 1.0 or ad.action_blend_type != "REPLACE"):
        return f"{what} blends its action"
    return None


def fcurve_blocker(obj) -> str | None:
    """Why ``obj``'s world matrix and lens cannot be read from F-Curves alone (None when they can)."""
    chain = obj
    while chain is not None:
        what = f"object {chain.name!r}"
        if len(chain.constraints):
            return f"{what} has constraints"
        if chain.rigid_body is not None:
            return f"{what} is a rigid body"
        if chain.parent is not None:
            if chain.parent_type != "OBJECT":
                return f"{what} has {chain.parent_type} parenting"
            if chain.parent.type == "CURVE" and chain.parent.data.use_path:
                return f"{what} follows its parent curve's path"
        reason = _anim_blocker(chain, what)
        if reason:
            return reason
        if any(fc.data_path == "rotation_mode" for fc in compat.anim_fcurves(chain)):
            return f"{what} animates its rotation mode"
        chain = chain.parent
    if obj.type == "CAMERA":
        what = f"camera data {obj.data.name!r}"
        reason = _anim_blocker(obj.data, what)
        if reason:
            return reason
        if any(fc.data_path == "type" for fc in compat.anim_fcurves(obj.data)):
            return f"{what} animates its type"  # an enum curve; Blender's evaluation says what it shows
    return None


# --- F-Curve path ------------------------------------------------------------------------------


def _curves(id_data) -> dict[tuple[str, int], object]:
    out = {}
    for fc in compat.anim_fcurves(id_data):
        if fc.mute or (fc.group is not None and fc.group.mute):
            continue
        out[(fc.data_path, fc.array_index)] = fc
    return out


def _channel(id_data, curves, path: str, times: list[float], size: int = 0) -> np.ndarray:
    """``id_data.path`` at each time, shape (N,) or (N, size); stored as float32 like Blender does."""
    current = getattr(id_data, path)
    values = np.empty((len(times), max(size, 1)), dtype=np.float64)
    for i in range(max(size, 1)):
        fc = curves.get((path, i))
        if fc is None:
            values[:, i] = current[i] if size else current
        else:
            values[:, i] = [fc.evaluate(t) for t in times]
    values = values.astype(np.float32).astype(np.float64)
    return values if size else values[:, 0]


def _axis_rotations(angles: np.ndarray) -> dict[str, np.ndarray]:
    n = len(angles)
    out = {}
    for k, axis in enumerate("XYZ"):
        c, s = np.cos(angles[:, k]), np.sin(angles[:, k])
        m = np.zeros((n, 3, 3))
        i, j = [a for a in range(3) if a != k]
        m[:, k, k] = 1.0
        m[:, i, i] = c
        m[:, j, j] = c
        # Right-handed rotation about axis k: the (i, j) entry is -sin for X and Z, +sin for Y.
        sign = -1.0 if axis != "Y" else 1.0
        m[:, i, j] = sign * s
        m[:, j, i] = -sign * s
        out[axis] = m
    return out


def _euler_to_mat3(angles: np.ndarray, order: str) -> np.ndarray:
    r = _axis_rotations(angles)
    # Blender's order names the axis applied first: "XYZ" is Rz @ Ry @ Rx.
    return r[order[2]] @ r[order[1]] @ r[order[0]]


def _quat_to_mat3(q: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    # Blender's normalize_qt turns a zero quaternion into (0, 1, 0, 0).
    zero = norm[:, 0] == 0.0
    q = np.where(zero[:, None], np.array([0.0, 1.0, 0.0, 0.0]), q / np.where(norm == 0.0, 1.0, norm))
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
        ],
        axis=1,
    )


def _axis_angle_to_mat3(aa: np.ndarray) -> np.ndarray:
    angle, axis = aa[:, 0], aa[:, 1:]
    norm = np.linalg.norm(axis, axis=1)
    # A zero axis means no rotation (axis_angle_to_mat3).
    axis = np.where(norm[:, None] == 0.0, 0.0, axis / np.where(norm == 0.0, 1.0, norm)[:, None])
    angle = np.where(norm == 0.0, 0.0, angle)
    x, y, z = axis.T
    c, s = np.cos(angle), np.sin(angle)
    t = 1 - c
    return np.stack(
        [
            np.stack([t * x * x + c, t * x * y - s * z, t * x * z + s * y], axis=-1),
            np.stack([t * x * y + s * z, t * y * y + c, t * y * z - s * x], axis=-1),
            np.stack([t * x * z - s * y, t * y * z + s * x, t * z * z + c], axis=-1),
        ],
        axis=1,
    )


def _rotation(obj, curves, times) -> np.ndarray:
    mode = obj.rotation_mode
    if mode in _EULER_ORDERS:
        rot = _euler_to_mat3(_channel(obj, curves, "rotation_euler", times, 3), mode)
        drot = _euler_to_mat3(_channel(obj, curves, "delta_rotation_euler", times, 3), mode)
    elif mode == "QUATERNION":
        rot = _quat_to_mat3(_channel(obj, curves, "rotation_quaternion", times, 4))
        drot = _quat_to_mat3(_channel(obj, curves, "delta_rotation_quaternion", times, 4))
    else:  # AXIS_ANGLE; its delta rotation is not exposed and stays the identity.
        rot = _axis_angle_to_mat3(_channel(obj, curves, "rotation_axis_angle", times, 4))
        drot = np.broadcast_to(np.eye(3), rot.shape)
    return drot @ rot


def _world_from_fcurves(obj, times: list[float]) -> np.ndarray:
    curves = _curves(obj)
    loc = _channel(obj, curves, "location", times, 3) + _channel(obj, curves, "delta_location", times, 3)
    scale = _channel(obj, curves, "scale", times, 3) * _channel(obj, curves, "delta_scale", times, 3)
    mat = np.zeros((len(times), 4, 4))
    mat[:, :3, :3] = _rotation(obj, curves, times) * scale[:, None, :]
    mat[:, :3, 3] = loc
    mat[:, 3, 3] = 1.0
    if obj.parent is not None:
        parentinv = np.array(obj.matrix_parent_inverse, dtype=np.float64)
        mat = _world_from_fcurves(obj.parent, times) @ parentinv @ mat
    return mat


def _data_from_fcurves(obj, times: list[float]) -> dict[str, np.ndarray]:
    if obj.type != "CAMERA":
        return {p: np.full(len(times), _DATA_DEFAULTS[p]) for p in DATA_PROPS}
    curves = _curves(obj.data)
    return {p: _channel(obj.data, curves, p, times) for p in DATA_PROPS}


def _type_from_fcurves(obj, count: int) -> np.ndarray:
    # fcurve_blocker sends cameras with an animated type to the evaluated paths: here it is constant.
    return np.full(count, obj.data.type if obj.type == "CAMERA" else _DEFAULT_TYPE, dtype=object)


def _frame_times(scene, frames: np.ndarray) -> list[float]:
    # Animation is evaluated at scene time, which time remapping (frame_map_new / frame_map_old) scales.
    framelen = scene.render.frame_map_new / scene.render.frame_map_old
    return [float(f) * framelen for f in frames]


def sample_fcurves(scene, obj, frames) -> CameraSamples:
    """Samples of ``obj`` read from F-Curves; only valid when ``fcurve_blocker(obj)`` is None."""
    frames = np.asarray(frames, dtype=np.int64)
    times = _frame_times(scene, frames)
    return CameraSamples(
        frames=frames,
        matrix_world=_world_from_fcurves(obj, times),
        data=_data_from_fcurves(obj, times),
        camera_type=_type_from_fcurves(obj, len(frames)),
        sensor_fit=_sensor_fit(obj),
        method="fcurves",
    )


# --- Evaluated paths ------------------------------------------------------------------------------


def _sensor_fit(obj) -> str:
    return obj.data.sensor_fit if obj.type == "CAMERA" else "AUTO"


def _read(obj_eval) -> tuple[np.ndarray, list[float], str]:
    mat = np.array(obj_eval.matrix_world, dtype=np.float64)
    if obj_eval.type == "CAMERA":
        data = obj_eval.data
        return mat, [float(getattr(data, p)) for p in DATA_PROPS], data.type
    return mat, [_DATA_DEFAULTS[p] for p in DATA_PROPS], _DEFAULT_TYPE


def _evaluate_pass(eval_scene, depsgraph_of, requests: dict[int, tuple[object, np.ndarray]], method: str):
    """One ``frame_set`` per frame in the union of all requests; each frame reads the cameras needing it."""
    wanted: dict[int, list[int]] = {}
    for key, (_obj, frames) in requests.items():
        for f in frames.tolist():
            wanted.setdefault(f, []).append(key)
    rows: dict[int, dict[int, tuple]] = {key: {} for key in requests}
    dg = None
    for f in sorted(wanted):
        eval_scene.frame_set(f)
        dg = dg or depsgraph_of()  # the same depsgraph every frame; asking again may re-evaluate
        for key in wanted[f]:
            rows[key][f] = _read(requests[key][0].evaluated_get(dg))
    out = {}
    for key, (obj, frames) in requests.items():
        got = [rows[key][f] for f in frames.tolist()]
        out[key] = CameraSamples(
            frames=frames,
            matrix_world=np.array([g[0] for g in got]).reshape(len(frames), 4, 4),
            data={p: np.array([g[1][i] for g in got], dtype=np.float64) for i, p in enumerate(DATA_PROPS)},
            camera_type=np.array([g[2] for g in got], dtype=object),
            sensor_fit=_sensor_fit(obj),
            method=method,
        )
    return out


def _scene_depsgraph(scene):
    ctx_layer = bpy.context.view_layer
    if bpy.context.scene == scene and ctx_layer is not None:
        return bpy.context.evaluated_depsgraph_get()
    return scene.view_layers[0].depsgraph


def sample_in_scene(scene, requests: dict[int, tuple[object, np.ndarray]]) -> dict[int, CameraSamples]:
    """Evaluate ``requests`` (key -> (camera, frames)) with ``frame_set`` on ``scene`` itself."""
    frame, subframe, camera = scene.frame_current, scene.frame_subframe, scene.camera
    try:
        return _evaluate_pass(scene, lambda: _scene_depsgraph(scene), requests, "scene")
    finally:
        scene.frame_set(frame, subframe=subframe)
        if scene.camera != camera:
            scene.camera = camera


def _isolated_scene(scene, objects):
    tmp = bpy.data.scenes.new(f".ltx_plan_{scene.name}")
    try:
        for obj in objects:
            if tmp.collection.objects.get(obj.name) is not obj:
                tmp.collection.objects.link(obj)
        r, tr = scene.render, tmp.render
        tr.fps, tr.fps_base = r.fps, r.fps_base
        tr.frame_map_old, tr.frame_map_new = r.frame_map_old, r.frame_map_new
        tmp.frame_start, tmp.frame_end = scene.frame_start, scene.frame_end
        tmp.camera = objects[0] if objects else None  # for frame-change handlers that expect one
    except Exception:
        bpy.data.scenes.remove(tmp)
        raise
    return tmp


def _same_cameras(dg_a, dg_b, objects) -> bool:
    for obj in objects:
        a_mat, a_data, a_type = _read(obj.evaluated_get(dg_a))
        b_mat, b_data, b_type = _read(obj.evaluated_get(dg_b))
        if a_type != b_type or not np.allclose(a_mat, b_mat, rtol=0.0, atol=_CHECK_TOL):
            return False
        if not np.allclose(a_data, b_data, rtol=0.0, atol=_CHECK_TOL):
            return False
    return True


def _agrees_with_scene(scene, tmp, objects) -> bool:
    """At the current frame, the isolated evaluation must give what the scene itself shows."""
    if bpy.context.scene != scene:
        return True  # nothing evaluated to compare against; trust the isolated depsgraph
    frame, subframe = scene.frame_current, scene.frame_subframe
    tmp.frame_set(frame, subframe=subframe)
    tmp_dg = tmp.view_layers[0].depsgraph
    if _same_cameras(bpy.context.evaluated_depsgraph_get(), tmp_dg, objects):
        return True
    # The scene may just be stale (edited by a script since its last frame change): evaluate its current
    # frame once, for real, and compare again.
    scene.frame_set(frame, subframe=subframe)
    return _same_cameras(bpy.context.evaluated_depsgraph_get(), tmp_dg, objects)


def sample_isolated(scene, requests: dict[int, tuple[object, np.ndarray]], check: bool = True):
    """Evaluate ``requests`` in a temporary scene holding only those cameras (None if the check fails)."""
    objects = list({obj.as_pointer(): obj for obj, _f in requests.values()}.values())
    tmp = _isolated_scene(scene, objects)
    try:
        if check and not _agrees_with_scene(scene, tmp, objects):
            return None
        return _evaluate_pass(tmp, lambda: tmp.view_layers[0].depsgraph, requests, "isolated")
    finally:
        bpy.data.scenes.remove(tmp)


# --- Entry point ---------------------------------------------------------------------------------


def sample_cameras(
    scene, requests: list[tuple[object, list[int]]], mode: str = "auto"
) -> list[CameraSamples]:
    """Samples for each ``(camera object, scene frames)`` request, in order.

    ``mode`` forces a method for every request ("fcurves" raises ValueError where it would not be exact);
    "auto" picks per camera as the module docstring says.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    out: dict[int, CameraSamples] = {}
    evaluate: dict[int, tuple[object, np.ndarray]] = {}
    for i, (obj, frames) in enumerate(requests):
        frames = np.asarray(frames, dtype=np.int64)
        blocker = fcurve_blocker(obj) if mode in ("auto", "fcurves") else "forced"
        if blocker is None:
            out[i] = sample_fcurves(scene, obj, frames)
        elif mode == "fcurves":
            raise ValueError(f"camera {obj.name!r} cannot be read from F-Curves alone: {blocker}")
        else:
            evaluate[i] = (obj, frames)
    if evaluate:
        got = None
        rigid = scene.rigidbody_world is not None and scene.rigidbody_world.enabled
        if mode == "isolated" or (mode == "auto" and not rigid):
            got = sample_isolated(scene, evaluate, check=(mode == "auto"))
        if got is None:
            got = sample_in_scene(scene, evaluate)
        out.update(got)
    return [out[i] for i in range(len(requests))]
