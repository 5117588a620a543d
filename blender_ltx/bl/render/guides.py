"""Previs guide frames: the images the model is conditioned on, rendered through the shot's camera.

``render_guides`` renders the shot's first frame (clip index 0, the image-to-video image) and optional
keyframes along the shot at the generation size, then puts back every render setting it touched, the
scene camera and the current frame, also when a render fails. The alternatives for the first frame are
an image the user picked (``first_frame_from_image``) and the last frame of a previous take
(``last_frame_of_clip``); ``shot_guides`` does either. All image and movie reading goes through Blender
itself (no extra libraries).

Scripts render the guides here and wait (they wait for the take anyway). A click must not: the same
``shot_guides`` then runs in a background process on the file copy the click saves (``guide_job``,
``PendingGuides``; the process is ``control_frames_child.py``), and the paths it will write are known
up front (``planned_guides``), so the click checks and builds the requests without rendering.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import bpy
import numpy as np

from ...core.job_request import keyframe_indices
from ..addon import compat
from ..addon.blend_paths import abspath
from .control_frames import PendingRender

#: Render settings a guide render changes, as (path from the scene, attribute), restored in this order
#: (the file type before the color mode and depth that depend on it). The file type attributes come
#: from ``compat.image_format_attrs``.
_SETTINGS = (
    ("render", "engine"),
    ("render", "resolution_x"),
    ("render", "resolution_y"),
    ("render", "resolution_percentage"),
    ("render", "pixel_aspect_x"),
    ("render", "pixel_aspect_y"),
    ("render", "use_border"),
    ("render", "use_crop_to_border"),
    ("render", "use_sequencer"),
    ("render", "use_compositing"),
    ("render", "use_stamp"),
    ("render", "film_transparent"),
    ("render", "use_file_extension"),
    ("render", "filepath"),
    ("", "camera"),
)
#: Only valid for some file types: restored after the file type.
_FORMAT_DETAILS = (
    ("render.image_settings", "color_mode"),
    ("render.image_settings", "color_depth"),
    ("render.image_settings", "compression"),
)


def _owner(scene, path: str):
    obj = scene
    for part in filter(None, path.split(".")):
        obj = getattr(obj, part)
    return obj


@contextmanager
def preserved_render_state(scene) -> Iterator[None]:
    """Put back the settings in ``_SETTINGS`` and the current frame on exit, whatever happened."""
    saved: list[tuple[Any, str, Any]] = []
    fmt = [("render.image_settings", a) for a in compat.image_format_attrs(scene.render.image_settings)]
    for path, attr in (*_SETTINGS, *fmt, *_FORMAT_DETAILS):
        owner = _owner(scene, path)
        saved.append((owner, attr, getattr(owner, attr)))
    frame, subframe = scene.frame_current, scene.frame_subframe
    try:
        yield
    finally:
        for owner, attr, value in saved:
            if getattr(owner, attr) != value:
                setattr(owner, attr, value)
        scene.frame_set(frame, subframe=subframe)


def _set_engine(scene, engine: str) -> None:
    # The engine list is dynamic (add-on engines), so ask Blender by setting it; its message lists them.
    try:
        scene.render.engine = engine
    except TypeError as exc:
        msg = f"Render engine {engine!r} is not available here ({exc}); pick another one."
        raise ValueError(msg) from None


def _camera(shot):
    cam = bpy.data.objects.get(shot.camera)
    if cam is None or cam.type != "CAMERA":
        raise ValueError(
            f"Shot {shot.name!r} uses camera {shot.camera!r}, which is not a camera object in this "
            f".blend; refresh the shot plan."
        )
    return cam


def _render_still(scene, path: str) -> None:
    scene.render.filepath = path
    # The override makes the ``scene`` argument the one rendered (render.render(scene=...) ignores the
    # sequencer and frame of a scene that is not the window's).
    with bpy.context.temp_override(scene=scene):
        bpy.ops.render.render(write_still=True)
    if not os.path.isfile(path):
        raise RuntimeError(f"Blender did not write the guide frame {path!r}; check the output folder.")


def _set_png_output(scene) -> None:
    settings = scene.render.image_settings
    compat.set_png_format(settings)
    settings.color_mode = "RGB"  # an opaque image: the model has no alpha
    settings.color_depth = "8"
    settings.compression = 15
    scene.render.use_file_extension = True


def render_guides(
    scene,
    shot,
    out_dir: str,
    *,
    engine: str = "BLENDER_WORKBENCH",
    every_n: int = 0,
    at_motion_changes: bool = False,
    progress: Callable[[float], None] | None = None,
) -> list[tuple[int, str]]:
    """Render guide frames of ``shot`` (a :class:`~blender_ltx.core.shots.Shot`) into ``out_dir`` as
    ``guide_NNNN.png`` at ``shot.generation`` width x height. Returns ``[(clip frame index, path)]``,
    index 0 first. The user's render settings, scene camera and current frame are restored.
    ``progress`` is called with the fraction done after each frame."""
    cam = _camera(shot)
    indices = keyframe_indices(shot, every_n, at_motion_changes)
    out_dir = abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    results: list[tuple[int, str]] = []
    with preserved_render_state(scene):
        r = scene.render
        _set_engine(scene, engine)
        r.resolution_x, r.resolution_y = shot.generation.width, shot.generation.height
        r.resolution_percentage = 100
        r.pixel_aspect_x = r.pixel_aspect_y = 1.0  # the generation size already has the display aspect
        r.use_border = r.use_crop_to_border = False
        r.use_sequencer = False  # the 3D scene, not the edit (which may hold earlier takes)
        r.use_compositing = False
        r.use_stamp = False
        r.film_transparent = False
        _set_png_output(scene)
        scene.camera = cam
        for idx in indices:
            scene.frame_set(shot.frame_start + idx)
            path = os.path.join(out_dir, f"guide_{idx:04d}.png")
            _render_still(scene, path)
            results.append((idx, path))
            if progress is not None:
                progress(len(results) / len(indices))
    return results


#: Where the first frame comes from: rendered, the user's image, the last frame of a previous take.
FIRST_FRAME_SOURCES = ("RENDER", "IMAGE", "PREVIOUS_TAKE")


def planned_guides(
    shot, out_dir: str, every_n: int = 0, at_motion_changes: bool = False, first: str = "RENDER"
) -> list[tuple[int, str]]:
    """What ``shot_guides`` returns for these settings, without rendering anything: ``[(index, path)]``
    index 0 first (``out_dir`` absolute)."""
    indices = keyframe_indices(shot, every_n, at_motion_changes)
    guides = [(i, os.path.join(out_dir, f"guide_{i:04d}.png")) for i in indices]
    if first == "RENDER":
        return guides
    return [(0, os.path.join(out_dir, "first_frame.png"))] + [g for g in guides if g[0] != 0]


def shot_guides(
    scene,
    shot,
    out_dir: str,
    *,
    engine: str = "BLENDER_WORKBENCH",
    every_n: int = 0,
    at_motion_changes: bool = False,
    first: tuple[str, str] = ("RENDER", ""),
    progress: Callable[[float], None] | None = None,
) -> list[tuple[int, str]]:
    """The guide frames of a take of ``shot``: ``render_guides``, with the first frame taken from
    ``first`` = (source, absolute path): ("RENDER", ""), ("IMAGE", the image) or ("PREVIOUS_TAKE", the
    clip whose last frame continues)."""
    out_dir = abspath(out_dir)
    guides = render_guides(
        scene, shot, out_dir, engine=engine, every_n=every_n, at_motion_changes=at_motion_changes,
        progress=progress,
    )  # fmt: skip
    source, src = first
    if source == "RENDER":
        return guides
    png = os.path.join(out_dir, "first_frame.png")
    if source == "IMAGE":
        first_frame_from_image(src, shot.generation.width, shot.generation.height, png)
    else:
        last_frame_of_clip(src, png)
    return [(0, png)] + [g for g in guides if g[0] != 0]


# --- in the background (the click) -------------------------------------------------------------------


def guide_job(scene, shot, out_dir: str, blend: str, *, extra: dict | None = None, **options) -> dict:
    """The background process's job for ``shot_guides(scene, shot, out_dir, **options)`` on the saved
    copy ``blend`` (written to ``out_dir/job.json``, stale results there removed); checked first, so a
    click fails with the sentence a script would get. ``extra``: more of the job, for a higher floor's
    child script (``flow/depth.py``: ``depth_at`` and ``script``)."""
    from . import control_frames

    _camera(shot)
    out = abspath(out_dir)
    os.makedirs(out, exist_ok=True)
    for stale in ("result.json", "error.txt", "progress"):
        Path(out, stale).unlink(missing_ok=True)
    # The shot as its fields, written by json (``vars``): asdict's deep copy of the trajectory cost
    # about 10 ms a shot on the click.
    shot_fields = json.loads(json.dumps(shot, default=vars))
    job = {"task": "guides", "blend": blend, "scene": scene.name, "shot": shot_fields, "out_dir": out}
    job["options"] = {**options, "first": list(options.get("first", ("RENDER", "")))}
    job.update(extra or {})
    control_frames.write_job(job)
    return job


def run_job(job: dict, progress: Callable[[float], None]) -> dict:
    """In the background process: render a ``guide_job`` (the copy is open). Returns the result."""
    from ...core.shots import Shot

    shot = Shot.from_dict(job["shot"])
    options = {**job["options"], "first": tuple(job["options"]["first"])}
    guides = shot_guides(bpy.data.scenes[job["scene"]], shot, job["out_dir"], progress=progress, **options)
    return {"guides": [[i, p] for i, p in guides]}


class PendingGuides(PendingRender):
    """A (segment) shot's guide frames rendering in the background from the click's file copy:
    ``start`` launches the process, ``poll`` follows it (``finished`` once every planned frame is in),
    ``progress`` reads its progress file. Raises ValueError (one sentence) when the render failed."""

    #: (camera name, scene frame) where the job also measures the first frame's depth (a higher floor's
    #: child script does: ``flow/depth_child.py``), and the depth it measured (None: nothing was hit).
    depth_at: tuple[str, int] | None = None
    depth: float | None = None

    def __init__(self, shot_name: str, job: dict, planned: list[tuple[int, str]]) -> None:
        self.shot_name, self.job, self.planned = shot_name, job, planned
        self.render = None
        self.finished = False
        if job.get("depth_at"):
            self.depth_at = (str(job["depth_at"][0]), int(job["depth_at"][1]))

    def accept(self, done: dict) -> None:
        self.depth = done.get("depth")
        got = [(int(i), p) for i, p in done["guides"]]
        missing = [p for _i, p in self.planned if not os.path.isfile(p)]
        if sorted(got) != sorted(self.planned) or missing:
            raise ValueError(
                f"Shot {self.shot_name}: the guide render wrote {len(got)} frames, not the "
                f"{len(self.planned)} planned ({json.dumps(missing[:1])[1:-1] or 'others'} missing): "
                "generate it again."
            )
        self.finished = True


# --- first frames from elsewhere ---------------------------------------------------------------------


def _pixels(img) -> np.ndarray:
    w, h = img.size
    px = np.empty(w * h * 4, np.float32)
    img.pixels.foreach_get(px)
    return px.reshape(h, w, 4)


def _save_png(px: np.ndarray, out: str) -> str:
    """Write an (h, w, 4) float array (stored, display-referred values) as an RGB PNG."""
    h, w = px.shape[:2]
    img = bpy.data.images.new("ltx_tmp_out", w, h, alpha=False)
    try:
        img.pixels.foreach_set(np.ascontiguousarray(px, np.float32).ravel())
        img.filepath_raw = out
        img.file_format = "PNG"
        img.save()
    finally:
        bpy.data.images.remove(img)
    return out


def first_frame_from_image(path: str, width: int, height: int, out: str) -> str:
    """Scale the user's image to fill ``width`` x ``height`` (keeping its aspect) and crop the centre."""
    src = abspath(path)
    if not os.path.isfile(src):
        raise FileNotFoundError(f"The first-frame image {path!r} does not exist; pick another image.")
    img = bpy.data.images.load(src, check_existing=False)
    try:
        w, h = img.size
        if w == 0 or h == 0:
            raise ValueError(f"Blender could not read the image {path!r}; use a PNG or JPEG.")
        scale = max(width / w, height / h)
        sw, sh = max(width, round(w * scale)), max(height, round(h * scale))
        img.scale(sw, sh)
        px = _pixels(img)
        x0, y0 = (sw - width) // 2, (sh - height) // 2
        crop = px[y0 : y0 + height, x0 : x0 + width].copy()
        crop[..., 3] = 1.0
    finally:
        bpy.data.images.remove(img)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    return _save_png(crop, out)


def last_frame_of_clip(movie_path: str, out: str) -> str:
    """The last frame of a movie as a PNG, read by Blender's own decoder (the VSE of a temporary scene,
    with color management off so pixels come out as stored)."""
    src = abspath(movie_path)
    if not os.path.isfile(src):
        raise FileNotFoundError(f"The clip {movie_path!r} does not exist; generate that take again.")
    tmp = bpy.data.scenes.new("ltx_last_frame")
    try:
        sed = tmp.sequence_editor_create()
        strip = compat.strips(sed).new_movie(name="clip", filepath=src, channel=1, frame_start=1)
        width, height = strip.elements[0].orig_width, strip.elements[0].orig_height
        last = compat.content_length(strip)
        if not (last and width and height):
            raise ValueError(f"Blender could not read the clip {movie_path!r}; use an mp4 from the server.")
        r = tmp.render
        r.resolution_x, r.resolution_y, r.resolution_percentage = width, height, 100
        tmp.view_settings.view_transform = "Standard"
        tmp.view_settings.look = "None"
        _set_png_output(tmp)
        tmp.frame_start = tmp.frame_end = last
        tmp.frame_set(last)
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        _render_still(tmp, out)
    finally:
        bpy.data.scenes.remove(tmp)
    return out
