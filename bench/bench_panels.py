"""Main-thread time of one redraw of the LTX panels (Shot and Takes) on an edit with many take strips.

    .venvs/bl45/bin/python bench/bench_panels.py
    .venvs/bl45/bin/python bench/bench_panels.py --shots 100 --takes 6 --repeats 200

Builds an edit of ``--shots`` shots with ``--takes`` takes each (colour strips carrying the take
metadata and a measured motion like the server's meter stores, a few KB of JSON each), selects one
shot and times what a redraw of its panels reads of the takes, interleaved:

- before: the path the panels took up to issue 15 #10, kept here as it was: the Shot panel asked for
  the active take's motion and its camera LoRA, the Takes panel for every take's row, each walking
  every strip of the VSE and parsing the stored JSON (three walks, a parse per take per redraw);
- after: ``panels.take_view`` once per panel (one walk each; the words cached on the values read).

Prints the median and 90th percentile per redraw, and the strips walked.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402

import blender_ltx  # noqa: E402
from blender_ltx.bl.addon import compat  # noqa: E402
from blender_ltx.bl.edit import vse  # noqa: E402
from blender_ltx.bl.ui import panels  # noqa: E402
from blender_ltx.core import take_choice  # noqa: E402
from blender_ltx.core.takes import camera_lora_text  # noqa: E402


def motion(score: float, frames: int = 48) -> dict:
    """A measured motion shaped like the meter's (server/meter/__init__.py ``measure``)."""
    seg = {"kinds": ["dolly_in", "pan_left"], "speed": "slow", "frame_start": 1, "frame_end": frames}
    part = {"planned": ["dolly_in"], "measured": ["dolly_in"], "score": score, "translation": 0.9}
    per = [{**part, "frame_start": f, "frame_end": f + 7} for f in range(1, frames, 8)]
    return {
        "measurable": True, "reason": None, "kinds": ["dolly_in", "pan_left"], "segments": [seg] * 4,
        "agreement": {"score": score, "segments": per, "translation": 0.9, "rotation": 0.8},
        "mismatch": None, "planned_kinds": ["dolly_in"], "summary": f"follows the plan {score:.2f}",
        "frames": frames, "fps": 24.0, "points_median": 180, "seconds": 1.234, "tracking_scale": 0.5,
    }  # fmt: skip


def build(shots: int, takes: int):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.frame_end = shots * 48
    sed = scene.sequence_editor_create()
    applied = json.dumps({"camera_lora": {"name": "Dolly-In", "scale": 1.0, "reason": "dolly in"}})
    for i in range(shots):
        name = f"SH{(i + 1) * 10:03d}"
        for t in range(1, takes + 1):
            s = compat.strips(sed).new_effect(
                name=f"{name} take {t}", type="COLOR", channel=t, frame_start=1 + i * 48, **_end(sed, i)
            )
            s.ltx.role, s.ltx.shot, s.ltx.take, s.ltx.segments = vse.ROLE_TAKE, name, t, 1
            s.ltx.motion = json.dumps(motion(0.5 + t / 20), sort_keys=True)
            s.ltx.applied = applied
            s.mute = t != takes
    return scene


def _end(sed, i: int) -> dict:
    params = compat.strips(sed).bl_rna.functions["new_effect"].parameters
    return {"length": 48} if "length" in params else {"frame_end": 1 + i * 48 + 48}


def redraw_before(scene, shot: str) -> None:
    """The three reads of a redraw before issue 15 #10 (motion_text, active_take_camera_lora, take_rows)."""
    strip = vse.active_take(scene, shot)
    first, *rest = take_choice.motion_lines(vse.take_motion(strip))
    strip = vse.active_take(scene, shot)
    camera_lora_text(json.loads(strip.ltx.applied or "{}"))
    rows = []
    for s in vse.takes(scene, shot):
        score = take_choice.score(vse.take_motion(s))
        rows.append((s.ltx.take, s.name if score is None else f"{s.name}  ({score:.2f})", s.mute))
    sorted(rows, reverse=True)


def redraw_after(scene, shot: str) -> None:
    panels.take_view(scene, shot)  # the Shot panel
    panels.take_view(scene, shot)  # the Takes panel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shots", type=int, default=50)
    ap.add_argument("--takes", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=100)
    args = ap.parse_args()
    blender_ltx.register()
    try:
        scene = build(args.shots, args.takes)
        shot = f"SH{(args.shots // 2) * 10:03d}"
        old, new = [], []
        before = (panels.motion_text(scene, shot), panels.take_rows(scene, shot))
        for _ in range(args.repeats):
            for fn, out in ((redraw_before, old), (redraw_after, new)):
                t0 = time.perf_counter()
                fn(scene, shot)
                out.append(time.perf_counter() - t0)
        assert (panels.motion_text(scene, shot), panels.take_rows(scene, shot)) == before
        n = len(compat.strips_all(scene.sequence_editor))
        print(f"{n} strips ({args.shots} shots x {args.takes} takes), {args.repeats} redraws of shot {shot}:")
        for label, xs in (("before (3 walks, JSON per take)", old), ("after (take_view, cached)", new)):
            xs = sorted(xs)
            p90 = xs[int(0.9 * (len(xs) - 1))]
            print(f"  {label:<34} median {statistics.median(xs) * 1e3:7.3f} ms   p90 {p90 * 1e3:7.3f} ms")
    finally:
        blender_ltx.unregister()


if __name__ == "__main__":
    main()
