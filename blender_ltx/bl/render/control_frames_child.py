"""Runs in the background Blender process that control_frames.py starts (never in the user's session):
a shot's control frames, or (a job with ``"task": "guides"``) a click's guide frames (``guides.py``).

    blender -b COPY.blend --python control_frames_child.py -- JOB.json      (a Blender binary)
    python control_frames_child.py JOB.json                                 (bpy as a Python module)

It works on a saved copy of the user's file, so it may change any setting. For each scene frame of the
job it renders the shot's camera with Workbench at the reference size, keeps the Z pass (through an
uncompressed multilayer EXR, read by core/exr.py) and the beauty image (PNG), then writes the depth
normalized once for the whole shot (core/depth.py) as grey PNGs. Progress goes to a small file the
session polls; the result (paths, near/far) to result.json; an error to error.txt, as one sentence.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # the folder holding the blender_ltx package
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

from blender_ltx.bl.addon import compat  # noqa: E402
from blender_ltx.core.depth import depth_range, normalize_depth  # noqa: E402
from blender_ltx.core.exr import read_depth  # noqa: E402


def _job_path(argv: list[str]) -> str:
    return argv[argv.index("--") + 1] if "--" in argv else argv[-1]


def _setup(scene, job: dict) -> None:
    r = scene.render
    r.engine = "BLENDER_WORKBENCH"
    r.resolution_x, r.resolution_y, r.resolution_percentage = job["width"], job["height"], 100
    r.pixel_aspect_x = r.pixel_aspect_y = 1.0
    r.use_border = r.use_crop_to_border = False
    r.use_sequencer = r.use_compositing = r.use_stamp = False
    r.film_transparent = False
    scene.camera = bpy.data.objects[job["camera"]]
    # Flat grey previs has little contrast between objects, so canny would miss most silhouettes: an
    # object outline and a colour per object give every object edge full contrast.
    shading = scene.display.shading
    shading.light = "STUDIO"
    shading.color_type = "RANDOM"
    shading.show_object_outline = True
    for layer in scene.view_layers:
        layer.use_pass_z = True


def _save(img, scene, path: str, fmt: str) -> None:
    s = scene.render.image_settings
    if fmt == "EXR":
        compat.set_multilayer_exr_format(s)
        s.color_depth = "32"
        s.exr_codec = "NONE"
    else:
        compat.set_png_format(s)
        s.color_mode = "RGB"
        s.color_depth = "8"
    img.save_render(path, scene=scene)


def _write_grey_png(grey: np.ndarray, path: str) -> None:
    """An 8-bit RGB PNG of the grey levels, written directly: the levels are data, and a Blender image
    would pass them through colour management on the way out."""
    h, w = grey.shape
    rgb = np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)
    rows = b"".join(b"\0" + rgb[y].tobytes() for y in range(h))  # filter type 0 per row

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 6))
    Path(path).write_bytes(png + chunk(b"IEND", b""))


def _tracks(scene, asked: dict) -> list:
    """The shot's track numbers (``track_points.shot_tracks``, as JSON), which a click left to this
    process: they cast a ray per mesh vertex in view, about 1 s a shot on a set of dense meshes."""
    from blender_ltx.bl.render.track_points import shot_tracks
    from blender_ltx.core.shots import Shot
    from blender_ltx.core.tracks import to_json_tracks

    return to_json_tracks(shot_tracks(scene, Shot.from_dict(asked["shot"]), asked.get("collection")))


def run(job: dict) -> dict:
    if os.path.abspath(bpy.data.filepath or "") != os.path.abspath(job["blend"]):
        bpy.ops.wm.open_mainfile(filepath=job["blend"])
    scene = bpy.data.scenes[job["scene"]]
    tracks = _tracks(scene, job["tracks"]) if job.get("tracks") else None
    if tracks is not None:  # kept apart too: a set the depth pass cannot see still says it has no tracks
        Path(job["out_dir"], "tracks.json").write_text(json.dumps(tracks))
    _setup(scene, job)
    out = job["out_dir"]
    clip_end = scene.camera.data.clip_end if scene.camera.type == "CAMERA" else 1e30
    depths, beauty = [], []
    for i, frame in enumerate(job["frames"]):
        scene.frame_set(frame)
        with bpy.context.temp_override(scene=scene):
            bpy.ops.render.render()
        result = bpy.data.images["Render Result"]
        exr = os.path.join(out, "tmp_depth.exr")
        _save(result, scene, exr, "EXR")
        depths.append(read_depth(exr))
        os.remove(exr)
        path = os.path.join(out, f"beauty_{i:04d}.png")
        _save(result, scene, path, "PNG")
        beauty.append(path)
        Path(out, "progress").write_text(f"{(i + 1) / (len(job['frames']) + 1):.4f}")
    stack = np.stack(depths)
    # Workbench writes the far clip (or a huge value) where no surface is hit.
    max_depth = clip_end * (1.0 - 1e-5)
    near, far = depth_range(stack, max_depth)
    grey = normalize_depth(stack, near, far, max_depth)
    np.save(os.path.join(out, "depth.npy"), stack)
    depth_paths = []
    for i, g in enumerate(grey):
        path = os.path.join(out, f"depth_{i:04d}.png")
        _write_grey_png(g, path)
        depth_paths.append(path)
    return {
        **({"tracks": tracks} if tracks is not None else {}),
        "frames": job["frames"],
        "width": job["width"],
        "height": job["height"],
        "near": near,
        "far": far,
        "depth": depth_paths,
        "beauty": beauty,
        "depth_raw": os.path.join(out, "depth.npy"),
    }


def run_guides(job: dict) -> dict:
    """A click's guide frames (``guides.guide_job``), rendered here instead of in the user's session."""
    from blender_ltx.bl.render import guides

    if os.path.abspath(bpy.data.filepath or "") != os.path.abspath(job["blend"]):
        bpy.ops.wm.open_mainfile(filepath=job["blend"])
    progress = Path(job["out_dir"], "progress")
    return guides.run_job(job, lambda done: progress.write_text(f"{done:.4f}"))


def main(argv: list[str], tasks: dict | None = None) -> int:
    """Run the job named in ``argv``: its ``task`` ("guides", else the control frames), or one of
    ``tasks`` ({task: (what, run(job) -> result)}: a caller's child adds its own)."""
    job = json.loads(Path(_job_path(argv)).read_text())
    task = job.get("task") or "control"
    runners = {"guides": ("guide render", run_guides), "control": ("control render", run), **(tasks or {})}
    what, runner = runners[task]
    try:
        result = runner(job)
    except Exception as exc:  # the session shows this sentence; the traceback goes to the log
        import traceback

        traceback.print_exc()
        Path(job["out_dir"], "error.txt").write_text(f"The {what} failed: {exc}")
        return 1
    tmp = Path(job["out_dir"], "result.json.tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, Path(job["out_dir"], "result.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
