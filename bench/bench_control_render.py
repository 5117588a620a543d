"""Main-thread cost of a control render (depth + beauty frames in a background process).

    .venvs/bl45/bin/python bench/bench_control_render.py
    .venvs/bl50/bin/python bench/bench_control_render.py --frames 121

Builds the demo previs, plans it, and renders the first shot's control frames with
``control_frames.start_control_render``, polling it every 100 ms as a click's staged shot is polled
on the courier's timer tick (``bl/flow/staged.py``). Prints the main-thread time of the start (saving a
copy of the file and spawning the process) and of each poll (longest and mean), and the wall time of
the background render.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402

import blender_ltx  # noqa: E402
from blender_ltx import plan_scene  # noqa: E402
from blender_ltx.bl.render import control_frames  # noqa: E402
from blender_ltx.bl.cli import demo  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=0, help="render only this many clip frames (0: all)")
    args = ap.parse_args()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    blender_ltx.register()
    scene = demo.build_scene()
    shot = plan_scene(scene).shots[0]
    if args.frames:
        shot.generation.num_frames = min(args.frames, shot.generation.num_frames)
    with tempfile.TemporaryDirectory(prefix="ltx_bench_ctl_") as out:
        t0 = time.perf_counter()
        render = control_frames.start_control_render(scene, shot, out)
        start_ms = (time.perf_counter() - t0) * 1000.0
        ticks = []
        while True:
            time.sleep(0.1)
            t = time.perf_counter()
            result = render.poll()
            ticks.append((time.perf_counter() - t) * 1000.0)
            if result is not None:
                break
        wall = time.perf_counter() - t0
    w, h = result["width"], result["height"]
    print(f"Blender {bpy.app.version_string}: {len(result['frames'])} frames at {w}x{h} (depth + beauty)")
    print(f"  start on the main thread (save copy + spawn): {start_ms:.1f} ms")
    print(f"  poll ticks: {len(ticks)}, longest {max(ticks):.2f} ms, mean {statistics.mean(ticks):.2f} ms")
    print(f"  background render wall time: {wall:.1f} s ({wall / len(result['frames']) * 1000:.0f} ms/frame)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
