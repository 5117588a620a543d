"""Scene -> ShotPlan: shots from markers, camera trajectories, generation grids and motion scripts.

The shot rules live in ``core/cuts.py``, the camera reading (fast F-Curve path and evaluated
fallback) in ``sampling.py``; this module puts them together and turns scene problems into
``PlanError`` sentences.
"""

from __future__ import annotations

import numpy as np

from ...core.cuts import LastPlanned, MarkerInfo, cuts, lost_camera_text, lost_cameras, marker_camera
from ...core.grid import generation_grid, size_within_tolerance
from ...core.motion import analyze_motion, shot_script
from ...core.protocol import DEFAULT_MAX_FRAMES, DEFAULT_PIXEL_BUDGET
from ...core.shots import CAMERA_TYPES, Shot, ShotPlan, Trajectory
from ..addon import compat
from .sampling import CameraSamples, sample_cameras


class PlanError(ValueError):
    """The scene cannot be planned; the message is one sentence saying what to change."""


def markers_of(scene) -> tuple[list[MarkerInfo], list[str]]:
    """The scene's timeline markers in list order, with cameras hidden from render treated as unbound."""
    out: list[MarkerInfo] = []
    warnings: list[str] = []
    for m in scene.timeline_markers:
        cam = m.camera
        if cam is not None and cam.hide_render:
            warnings.append(
                f"Marker {m.name!r} is bound to camera {cam.name!r}, which is hidden from render, so Blender "
                "does not switch to it; the marker only splits the shot."
            )
            cam = None
        out.append(MarkerInfo(int(m.frame), m.name, cam))
    return out, warnings


def last_planned(scene) -> dict[str, LastPlanned]:
    """What the scene's last refreshed plan (``scene.ltx.plan_json``, written by ``sync_shots``) said
    of each shot's camera; empty where the add-on is not registered or the scene never planned."""
    text = getattr(getattr(scene, "ltx", None), "plan_json", "")
    if not text:
        return {}
    try:
        shots = ShotPlan.from_json(text).shots
    except (ValueError, KeyError, TypeError):  # a plan of an older add-on: nothing to compare with
        return {}
    return {s.name: LastPlanned(s.camera, s.marker_camera, s.lost_camera) for s in shots}


def frame_range(scene, use_preview_range: bool = True) -> tuple[int, int]:
    """The planned range (inclusive): the preview range when it is on, else the scene's."""
    if use_preview_range and scene.use_preview_range:
        return scene.frame_preview_start, scene.frame_preview_end
    return scene.frame_start, scene.frame_end


def render_aspect(scene) -> float:
    """Rendered width / height, pixel aspect included (the resolution percentage cancels out)."""
    r = scene.render
    return (r.resolution_x * r.pixel_aspect_x) / (r.resolution_y * r.pixel_aspect_y)


#: How the refusals name the projections Blender has.
_TYPE_NAMES = {"PERSP": "perspective", "ORTHO": "orthographic", "PANO": "panoramic", "CUSTOM": "custom"}


def _camera_type(samples: CameraSamples, camera: str, shot: str) -> str:
    """The shot's one projection; a PlanError for panoramic (or custom) cameras and mid-shot switches."""
    types = samples.camera_type
    for i, t in enumerate(types):
        if t not in CAMERA_TYPES:
            at = f" at frame {int(samples.frames[i])}" if i else ""
            raise PlanError(
                f"Camera {camera!r} of shot {shot!r} is {_TYPE_NAMES.get(t, t)}{at}, which the video model "
                "cannot follow: set its Type to Perspective (or Orthographic) in the camera's properties."
            )
        if t != types[0]:
            f = int(samples.frames[i])
            raise PlanError(
                f"Camera {camera!r} switches from {_TYPE_NAMES[types[0]]} to {_TYPE_NAMES[t]} at frame {f}, "
                f"inside shot {shot!r}: add a marker at frame {f} so each shot keeps one projection."
            )
    return str(types[0]) if len(types) else "PERSP"


def _trajectory(samples: CameraSamples, aspect: float, camera_type: str) -> Trajectory:
    # Sensor and shift are one value per shot: the shot's first frame decides.
    d = samples.data
    return Trajectory(
        frames=[int(f) for f in samples.frames],
        matrix_world=samples.matrix_world.reshape(len(samples.frames), 16).tolist(),
        lens_mm=d["lens"].tolist(),
        sensor_width_mm=float(d["sensor_width"][0]),
        sensor_height_mm=float(d["sensor_height"][0]),
        sensor_fit=samples.sensor_fit,
        shift_x=float(d["shift_x"][0]),
        shift_y=float(d["shift_y"][0]),
        aspect=aspect,
        camera_type=camera_type,
        ortho_scale=d["ortho_scale"].tolist() if camera_type == "ORTHO" else [],
    )


def _motion(traj: Trajectory, fps: float):
    segments = analyze_motion(traj, fps)
    return segments, shot_script(segments, fps)


def plan_scene(
    scene,
    *,
    pixel_budget: int = DEFAULT_PIXEL_BUDGET,
    max_frames: int = DEFAULT_MAX_FRAMES,
    use_preview_range: bool = True,
    sampling: str = "auto",
) -> ShotPlan:
    """Read ``scene`` as a ShotPlan (see ``core/cuts.py`` for the rules).

    ``sampling`` picks how cameras are read ("auto", or for tests and benchmarks "fcurves", "isolated",
    "scene"; see ``sampling.py``). Raises PlanError when a shot has no camera or a panoramic one.
    A shot whose camera was deleted since the scene's last refreshed plan is named in the warnings
    (and its ``lost_camera`` set; ``core.cuts.lost_cameras``).
    """
    start, end = frame_range(scene, use_preview_range)
    if end < start:
        raise PlanError(
            f"Scene {scene.name!r} has an empty frame range ({start} to {end}): set the end after the start."
        )
    markers, warnings = markers_of(scene)
    shot_cuts, cut_warnings = cuts(markers, scene.camera, start, end)
    warnings += cut_warnings
    if any(c.camera is None for c in shot_cuts):
        raise PlanError(
            f"Scene {scene.name!r} has no camera: set one in Scene Properties > Camera "
            "or bind one to a marker."
        )
    for cam in {c.camera.name: c.camera for c in shot_cuts}.values():
        if cam.type != "CAMERA":
            warnings.append(
                f"Object {cam.name!r} is used as the camera but is not a camera: its lens is taken as 50 mm."
            )

    import bpy

    last = last_planned(scene)
    lost = lost_cameras(shot_cuts, last, lambda name: name in bpy.data.objects)
    for cut in shot_cuts:
        if cut.name in lost:
            warnings.append(lost_camera_text(cut.name, cut.frame_start, lost[cut.name], cut.camera.name))

    fps = compat.scene_fps(scene)
    aspect = render_aspect(scene)
    requests = [(c.camera, np.arange(c.frame_start, c.frame_end + 1)) for c in shot_cuts]
    samples = sample_cameras(scene, requests, mode=sampling)

    shots = []
    for cut, smp in zip(shot_cuts, samples, strict=True):
        traj = _trajectory(smp, aspect, _camera_type(smp, cut.camera.name, cut.name))
        motion, script = _motion(traj, fps)
        grid = generation_grid(
            cut.frame_end - cut.frame_start + 1,
            aspect,
            fps,
            cut.frame_start,
            pixel_budget=pixel_budget,
            max_frames=max_frames,
        )
        shots.append(
            Shot(
                name=cut.name,
                camera=cut.camera.name,
                frame_start=cut.frame_start,
                frame_end=cut.frame_end,
                generation=grid,
                trajectory=traj,
                motion=motion,
                script=script,
                marker_camera=marker_camera(cut, last.get(cut.name), lost.get(cut.name, "")),
                lost_camera=lost.get(cut.name, ""),
            )
        )
    if shots and not size_within_tolerance(shots[0].generation.width, shots[0].generation.height, aspect):
        g = shots[0].generation
        warnings.append(
            f"The render aspect {aspect:.3g}:1 is too extreme for the pixel budget: the clips are {g.width}x"
            f"{g.height} ({g.width / g.height:.3g}:1) and will be stretched in the edit; change the render "
            "resolution or raise the pixel budget."
        )
    return ShotPlan(scene=scene.name, fps=fps, shots=shots, warnings=warnings)
