"""Plan benchmark: plan_scene against the naive frame_set loop on a long, heavy timeline.

    .venvs/bl45/bin/python bench/bench_plan.py            # 10,000 frames, 40 shots
    .venvs/bl50/bin/python bench/bench_plan.py --frames 2000 --shots 8   # quicker

The scene: ``--shots`` bound markers cycling over 8 cameras (5 keyframed, 1 parented rig, 1 Track To,
1 Follow Path: a quarter of the frames need Blender's own evaluation), ``--heavy`` subdivided grids with a
time-dependent Wave modifier and ``--crowd`` small animated objects, so one frame_set costs what a real
previs frame does. Prints, measured in the same run: plan_scene (auto); the part of it that needs
Blender's evaluation (the constrained shots), read in the isolated depsgraph and, for comparison, with
frame_set on the scene; the naive loop (frame_set on every frame, read the scene camera's matrix_world);
the naive time divided by each; and the largest difference between the plan and the naive loop.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "blender"))
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402
import numpy as np  # noqa: E402
import scenes  # noqa: E402
from mathutils import Vector  # noqa: E402

from blender_ltx import plan_scene  # noqa: E402
from blender_ltx.bl.plan import sampling  # noqa: E402


def build(frames: int, shots: int, heavy: int, crowd: int, seed: int = 7):
    rng = random.Random(seed)
    scene = scenes.reset()
    scenes.set_range(scene, 1, frames)
    cams = []
    for i in range(5):
        cam = scenes.add_camera(scene, f"Cam{i}", location=(i * 3.0 - 6.0, -12.0, 1.6))
        for f in range(1, frames + 1, 48):  # a new pose every 2 s, bezier in between
            pos = Vector((rng.uniform(-8, 8), rng.uniform(-14, -6), rng.uniform(0.5, 4)))
            scenes.key_pose(
                cam, f, pos, yaw=rng.uniform(-40, 40), pitch=rng.uniform(-15, 10), lens=rng.uniform(24, 85)
            )
        cams.append(cam)
    cams.append(scenes.parented_camera(scene, "Rig", 1, frames))
    cams.append(scenes.track_to_camera(scene, "Tracker", 1, frames)[0])
    cams.append(scenes.follow_path_camera(scene, "Rail", 1, frames)[0])
    step = frames // shots
    for i in range(shots):
        scenes.add_marker(scene, f"S{i:02d}", 1 + i * step, cams[i % len(cams)])
    scenes.add_heavy_objects(scene, count=heavy, levels=1)
    for i in range(crowd):
        obj = bpy.data.objects.new(f"Prop{i}", bpy.data.meshes.new(f"Prop{i}"))
        scenes.bpy_mesh_grid(obj.data, 2, size=0.5)
        scene.collection.objects.link(obj)
        a = rng.uniform(0, 2 * math.pi)
        scenes.key(obj, "location", 1, Vector((math.cos(a) * 6, math.sin(a) * 6, 0)), "BEZIER")
        scenes.key(obj, "location", frames, Vector((math.cos(a) * 6, math.sin(a) * 6, 3)), "BEZIER")
        obj.constraints.new("TRACK_TO").target = cams[i % 5]
    scene.frame_set(1)
    return scene


def naive(scene):
    """frame_set on every frame, then the scene camera's matrix_world (the loop the plan replaces)."""
    mats = []
    for f in range(scene.frame_start, scene.frame_end + 1):
        scene.frame_set(f)
        mats.append(np.array(scene.camera.matrix_world).reshape(16))
    scene.frame_set(scene.frame_start)
    return np.array(mats)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--shots", type=int, default=40)
    ap.add_argument("--heavy", type=int, default=2, help="subdivided grids with a Wave modifier")
    ap.add_argument("--crowd", type=int, default=300, help="small animated, constrained objects")
    ap.add_argument("--all-in-scene", action="store_true", help="also time plan_scene(sampling='scene')")
    args = ap.parse_args()

    t_build, scene = timed(lambda: build(args.frames, args.shots, args.heavy, args.crowd))
    t_one, _ = timed(lambda: [scene.frame_set(f) for f in range(2, 22)])
    print(
        f"bpy {bpy.app.version_string}: {args.frames} frames, {args.shots} shots, "
        f"{len(bpy.data.objects)} objects "
        f"(built in {t_build:.1f} s, one frame_set {1000 * t_one / 20:.1f} ms)"
    )
    scene.frame_set(1)

    t_plan, plan = timed(lambda: plan_scene(scene))
    rows = [("plan_scene (auto)", t_plan)]
    # The shots whose cameras need Blender's evaluation, read the two ways auto can pick from.
    fallback = [
        (bpy.data.objects[s.camera], s.trajectory.frames)
        for s in plan.shots
        if sampling.fcurve_blocker(bpy.data.objects[s.camera])
    ]
    n_fb = sum(len(f) for _c, f in fallback)
    t_iso, _ = timed(lambda: sampling.sample_cameras(scene, fallback, mode="isolated"))
    t_in, _ = timed(lambda: sampling.sample_cameras(scene, fallback, mode="scene"))
    rows.append((f"  its {n_fb} constrained frames, isolated", t_iso))
    rows.append(("  the same in the scene (frame_set)", t_in))
    if args.all_in_scene:
        t_scene, _ = timed(lambda: plan_scene(scene, sampling="scene"))
        rows.append(("plan_scene (sampling='scene')", t_scene))
    t_naive, ref = timed(lambda: naive(scene))
    rows.append(("naive frame_set loop", t_naive))

    got = np.concatenate([np.array(s.trajectory.matrix_world) for s in plan.shots])
    err = float(np.abs(got - ref).max())
    for name, t in rows:
        print(f"  {name:<40} {t:8.2f} s   {t_naive / t:7.1f}x")
    print(f"  max |plan - naive| matrix_world: {err:.1e} over {len(ref)} frames, {len(plan.shots)} shots")
    return 0 if err < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
