"""Runs in the background process a click starts (never in the user's session): a shot's guide frames
(``render/guides.py``) and, for a server that takes the exact camera path, the first frame's median depth
(``plan/scene_depth.py``: the ray casts that cost the click 44 ms a shot, up to 1.4 s when the frame had to
change), or the depth alone where the shot renders no guide. The copy of the file is the click's, so the
frame may change freely here.

    blender -b COPY.blend --python depth_child.py -- JOB.json      (a Blender binary)
    python depth_child.py JOB.json                                 (bpy as a Python module)

The job is a guide job (``guides.guide_job``) or ``{"task": "depth", "blend", "scene", "out_dir"}``, with
``depth_at`` = [camera name, scene frame]; the result (``result.json``) adds ``depth`` (None: no ray hit).
It lives on the flow floor because it joins two lower ones (render and plan); ``control_frames_child.main``
runs it, so files, progress and errors are those of every background render.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # the folder holding the blender_ltx package
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402

from blender_ltx.bl.plan import scene_depth  # noqa: E402
from blender_ltx.bl.render import control_frames_child  # noqa: E402

SCRIPT = Path(__file__).resolve()


def run(job: dict) -> dict:
    """The job's guides (a guide job) and then its depth; the guide render puts the frame back."""
    if job.get("task") == "guides":
        result = control_frames_child.run_guides(job)
    else:
        if os.path.abspath(bpy.data.filepath or "") != os.path.abspath(job["blend"]):
            bpy.ops.wm.open_mainfile(filepath=job["blend"])
        result = {}
    camera, frame = job["depth_at"]
    scene = bpy.data.scenes[job["scene"]]
    result["depth"] = scene_depth.first_frame_depth(scene, bpy.data.objects[camera], int(frame))
    Path(job["out_dir"], "progress").write_text("1.0")
    return result


def main(argv: list[str]) -> int:
    return control_frames_child.main(argv, {"guides": ("guide render", run), "depth": ("depth measure", run)})


if __name__ == "__main__":
    sys.exit(main(sys.argv))
