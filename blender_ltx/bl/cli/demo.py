"""The demo: a gray-box previs with three shots, generated on the tiny model and cut in the VSE.

``python -m blender_ltx demo --out DIR`` (``make demo``) builds the scene, starts the tiny server from
this interpreter, makes one look frame per shot (the tiny look model), generates every shot from its look,
saves ``DIR/demo.blend`` with the edit (clips in ``DIR/ltx/demo/``) and renders the cut to
``DIR/preview.mp4`` as previs | look | take. The tiny models' random weights make noise: the demo shows
the round trip, not the picture quality (point the server at real weights for that, see the README).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from types import SimpleNamespace

import bpy
from mathutils import Euler, Vector

from ...core.takes import blend_stem
from ..addon import compat

FPS = 24
#: (marker/shot name, camera, first frame, last frame, shot prompt)
SHOTS = (
    ("SH010", "CamDolly", 1, 48, "A lone figure waits beside the monolith; the camera pushes in slowly."),
    ("SH020", "CamOrbit", 49, 96, "The camera circles the figure and the tall columns around it."),
    ("SH030", "CamCrane", 97, 144, "Rising and turning away, the camera reveals the empty plaza."),
)
STYLE = "Cinematic 35mm film still, overcast morning light, stone plaza, muted colors."
#: Small generation size and few steps: the demo should finish in about a minute on a laptop CPU.
DEMO_PIXEL_BUDGET = 384 * 224
DEMO_STEPS = 2
#: The server model the demo starts: the tiny LTX-2 (audio, camera LoRAs), about as fast as the tiny
#: LTX-Video ("tiny") on a CPU; see README "Quick start" for the measured times.
DEMO_MODEL = "tiny-ltx2"
#: Look frames made per shot before the takes (the first is the shot's look).
DEMO_LOOK_COUNT = 1
#: The preview's size in percent of the scene's, by its column count (see ``render_preview``).
PREVIEW_PERCENTAGE = {2: 50, 3: 30}


def _box(scene, name: str, size, location, rotation_z: float = 0.0):
    sx, sy, sz = (s / 2 for s in size)
    verts = [(x, y, z) for x in (-sx, sx) for y in (-sy, sy) for z in (0.0, 2 * sz)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts, [], faces)
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    obj.location = location
    obj.rotation_euler = (0.0, 0.0, rotation_z)
    scene.collection.objects.link(obj)
    return obj


def _camera(scene, name: str, location, rotation, lens: float = 35.0):
    data = bpy.data.cameras.new(name)
    data.lens = lens
    cam = bpy.data.objects.new(name, data)
    cam.location = location
    cam.rotation_euler = Euler(rotation)
    scene.collection.objects.link(cam)
    return cam


def _look(yaw_deg: float, pitch_deg: float = 0.0) -> tuple[float, float, float]:
    """Euler of a camera looking along +Y turned left by ``yaw`` and up by ``pitch`` (degrees)."""
    return (math.radians(90 + pitch_deg), 0.0, math.radians(yaw_deg))


def _key(obj, path: str, frame: int, value) -> None:
    setattr(obj, path, value)
    obj.keyframe_insert(path, frame=frame)


def build_set(scene) -> None:
    """The gray-box plaza: floor, a monolith, columns, a figure made of boxes."""
    _box(scene, "Floor", (40, 40, 0.1), (0, 0, -0.1))
    _box(scene, "Monolith", (1.2, 0.6, 4.0), (1.8, 1.5, 0), rotation_z=0.3)
    for i in range(6):
        a = 2 * math.pi * i / 6
        _box(scene, f"Column{i + 1}", (0.6, 0.6, 3.5), (6 * math.cos(a), 6 * math.sin(a) + 2, 0))
    _box(scene, "FigureLegs", (0.35, 0.25, 0.9), (0, 0.5, 0))
    _box(scene, "FigureBody", (0.5, 0.3, 0.75), (0, 0.5, 0.9))
    _box(scene, "FigureHead", (0.25, 0.25, 0.3), (0, 0.5, 1.65))
    _box(scene, "Wall", (16, 0.5, 5), (0, 12, 0))


def build_cameras(scene) -> dict[str, object]:
    """Three cameras, three moves: a dolly in, an orbit around the figure, a pan with a pedestal up."""
    dolly = _camera(scene, "CamDolly", (0, -9, 1.6), _look(0, -3))
    _key(dolly, "location", 1, Vector((0, -9, 1.6)))
    _key(dolly, "location", 48, Vector((0, -4, 1.6)))

    pivot = bpy.data.objects.new("OrbitPivot", None)
    pivot.location = (0, 0.5, 1.2)
    scene.collection.objects.link(pivot)
    orbit = _camera(scene, "CamOrbit", (0, -6, 0.6), _look(0, -4))
    orbit.parent = pivot
    _key(pivot, "rotation_euler", 49, Euler((0, 0, 0)))
    _key(pivot, "rotation_euler", 96, Euler((0, 0, math.radians(-70))))

    crane = _camera(scene, "CamCrane", (4, -6, 1.0), _look(20, 0), lens=28.0)
    _key(crane, "location", 97, Vector((4, -6, 1.0)))
    _key(crane, "rotation_euler", 97, Euler(_look(20, 0)))
    _key(crane, "location", 144, Vector((4, -6, 3.5)))
    _key(crane, "rotation_euler", 144, Euler(_look(45, -10)))
    return {"CamDolly": dolly, "CamOrbit": orbit, "CamCrane": crane}


def build_scene(scene=None, *, pixel_budget: int = DEMO_PIXEL_BUDGET, steps: int = DEMO_STEPS):
    """Fill ``scene`` (default: the context scene) with the demo previs; returns the scene."""
    from ..addon import props

    scene = scene or bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    scene.render.resolution_x, scene.render.resolution_y = 1280, 720
    scene.frame_start, scene.frame_end = SHOTS[0][2], SHOTS[-1][3]
    build_set(scene)
    cams = build_cameras(scene)
    scene.camera = cams[SHOTS[0][1]]
    for name, cam, first, _last, _prompt in SHOTS:
        marker = scene.timeline_markers.new(name, frame=first)
        marker.camera = cams[cam]
    st = props.scene_settings(scene)
    st.style_prompt = STYLE
    st.pixel_budget = pixel_budget
    for name, _cam, _first, _last, prompt in SHOTS:
        ss = props.shot_settings(scene, name)
        ss.prompt = prompt
        ss.steps = steps
        ss.seed = 1000 + int(name[2:])
        ss.seed_lock = True
    return scene


def _chosen_look_names(scene) -> set[str]:
    from ..edit import look_strips

    return set(dict(scene.get(look_strips.CHOSEN_KEY, {})).values())


def preview_columns(scene) -> list[str]:
    """The preview's columns: previs | look | take, or previs | take where no shot has a look strip."""
    sed, chosen = scene.sequence_editor, _chosen_look_names(scene)
    has_look = sed is not None and any(s.name in chosen for s in compat.strips_all(sed))
    return ["previs", "look", "take"] if has_look else ["previs", "take"]


@contextlib.contextmanager
def side_by_side(scene):
    """The edit shown as columns while rendering: previs | the shot's chosen look | take, each at the
    scene's size in a render widened to hold them (previs | take where no shot has a look), so the
    preview shows what drove the model. The Looks channel and the previs strips are unmuted meanwhile;
    every strip's mute and transform, the channel's mute and the resolution are put back."""
    from ..edit import look_strips
    from ..edit.previs_strip import ROLE_PREVIS

    sed = scene.sequence_editor
    strips = list(compat.strips_all(sed)) if sed else []
    chosen = _chosen_look_names(scene)
    columns = preview_columns(scene)
    width = scene.render.resolution_x
    saved, saved_channels = [], []
    for s in strips:
        role = getattr(getattr(s, "ltx", None), "role", "")
        if s.name in chosen:
            column = "look"
        elif role and not s.get("ltx_look_shot"):
            column = "previs" if role == ROLE_PREVIS else "take"
        else:
            continue
        if not hasattr(s, "transform"):
            continue
        saved.append((s, s.mute, s.transform.offset_x))
        s.transform.offset_x = (columns.index(column) - (len(columns) - 1) / 2) * width
        if column != "take":
            s.mute = False
    for ch in sed.channels if sed else []:
        if ch.name == look_strips.LOOKS_CHANNEL_NAME and ch.mute:
            saved_channels.append(ch)
            ch.mute = False
    scene.render.resolution_x = width * len(columns)
    try:
        yield
    finally:
        scene.render.resolution_x = width
        for ch in saved_channels:
            ch.mute = True
        for s, mute, ox in saved:
            s.mute, s.transform.offset_x = mute, ox


def render_preview(scene, filepath: str, *, percentage: int | None = None) -> str:
    """Render the VSE cut to an H.264 mp4 (previs | look | take, see ``side_by_side``) at ``percentage``
    of each column's size (default: 50 for two columns, 30 for three, about the same pixels, so the
    same render time); the user's output settings are restored afterwards."""
    if percentage is None:
        percentage = PREVIEW_PERCENTAGE[len(preview_columns(scene))]
    r = scene.render
    saved = {
        "filepath": r.filepath,
        "use_sequencer": r.use_sequencer,
        "resolution_percentage": r.resolution_percentage,
    }
    # In order: 5.0's media_type must be set back before file_format accepts an image format again.
    fmt_attrs = compat.image_format_attrs(r.image_settings)
    saved_fmt = [(a, getattr(r.image_settings, a)) for a in fmt_attrs]
    ff = r.ffmpeg
    saved_ff = {k: getattr(ff, k) for k in ("format", "codec", "constant_rate_factor", "audio_codec")}
    try:
        compat.set_movie_format(r.image_settings)
        # The takes' sound strips (LTX-2) go into the preview too.
        sed = scene.sequence_editor
        sounds = sed is not None and any(s.type == "SOUND" and not s.mute for s in compat.strips_all(sed))
        audio = "AAC" if sounds else "NONE"
        ff.format, ff.codec, ff.constant_rate_factor, ff.audio_codec = "MPEG4", "H264", "MEDIUM", audio
        r.use_sequencer = True
        r.resolution_percentage = percentage
        r.filepath = filepath
        with _quiet_stdout(), side_by_side(scene):  # quiet: Blender prints two lines per frame
            bpy.ops.render.render(animation=True, scene=scene.name)
    finally:
        for k, v in saved_ff.items():
            setattr(ff, k, v)
        for attr, value in saved_fmt:
            setattr(r.image_settings, attr, value)
        r.filepath, r.use_sequencer = saved["filepath"], saved["use_sequencer"]
        r.resolution_percentage = saved["resolution_percentage"]
    return filepath


@contextlib.contextmanager
def _quiet_stdout():
    """Silence stdout at the file-descriptor level (Blender's C code writes there directly)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield saved
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _previs_for_every_shot(scene) -> None:
    """Every shot's previs strip, also for shots generated without control (a server without
    IC-LoRAs), so the preview shows previs beside take on every model family. A take with control
    replaces the strip's frames in place (same channel)."""
    from ..flow.control import render_previs
    from ..flow.submit import refresh_plan

    for shot in refresh_plan(scene).shots:
        render_previs(scene, shot)


def make_looks(scene, server_url: str, *, report=print, count: int = DEMO_LOOK_COUNT) -> dict:
    """One look per shot (the ``looks`` command's path, waited for): each becomes its shot's look, so
    the scene's Auto look makes the takes start from it. A server without a look model makes none."""
    from ...core.client import Client
    from ...core.looks import CAPABILITY_LOOK_FRAMES
    from ..flow import looks

    client = Client(server_url)
    if CAPABILITY_LOOK_FRAMES not in client.health().get("capabilities", []):
        report("The server makes no looks (no --look-model): the takes start from the previs.")
        return {"shots": {}, "failed": []}
    # Quiet: the layout render prints its file name; the report's lines still reach the terminal.
    with _quiet_stdout() as terminal:

        def say(line: str) -> None:
            sys.stdout.flush()
            quiet = os.dup(1)
            os.dup2(terminal, 1)
            try:
                report(line)
                sys.stdout.flush()
            finally:
                os.dup2(quiet, 1)
                os.close(quiet)

        result = looks.make_looks(scene, client, count=count, report=say, timeout=600)
    if result["failed"]:
        raise RuntimeError(f"The look jobs of {', '.join(result['failed'])} failed; see the lines above.")
    return result


def run(
    out_dir: str, *, report=print, server_url: str | None = None, model: str = DEMO_MODEL
) -> dict[str, str]:
    """Build, generate (starting a server on the tiny ``model`` unless ``server_url``), save and render
    the preview."""
    from ..flow import generate
    from ..link import server_process
    from ..addon.prefs import DEFAULTS

    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = build_scene(bpy.context.scene)
    blend = os.path.join(out_dir, "demo.blend")
    bpy.ops.wm.save_as_mainfile(filepath=blend)
    started = False
    if not server_url:
        data = os.path.join(out_dir, "server")
        prefs = SimpleNamespace(**{**DEFAULTS, "server_model": model, "server_data_dir": data})
        report(f"Starting the {model} server (data in {prefs.server_data_dir}) ...")
        server_url = server_process.start(prefs, port=0, wait_s=180)
        started = True
    _previs_for_every_shot(scene)  # first, so the previs strips sit below the takes
    generate.set_server(server_url)
    try:
        make_looks(scene, server_url, report=report)
        result = generate.run_sync(scene, None, force=True, report=report)
    finally:
        generate.set_server(None)
        if started:
            server_process.stop()
    bpy.ops.wm.save_as_mainfile(filepath=blend)
    preview = render_preview(scene, os.path.join(out_dir, "preview.mp4"))
    report(result["message"])
    clips = os.path.join(out_dir, "ltx", blend_stem(blend))
    return {"blend": blend, "preview": preview, "clips": clips}
