"""Pose conversion cost: a shot's trajectory to OpenCV poses and intrinsics (core.poses), per 1,000 frames.

    .venvs/bl45/bin/python bench/bench_poses.py                 # 1,000 frames, best of 20
    .venvs/bl45/bin/python bench/bench_poses.py --frames 5000

A zooming, turning camera with a scaled matrix (so the scale removal does its work). Times, each the
best of ``--repeats`` runs, scaled to 1,000 frames: ``camera_poses`` (the conversion),
``relative_poses``, and ``resample`` of the path at 16 fps from 24 fps (``retime``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blender_ltx.core.poses import camera_poses, relative_poses, resample, retime  # noqa: E402
from blender_ltx.core.shots import Trajectory  # noqa: E402
from blender_ltx.core.trajectory import look_at_matrix  # noqa: E402


def trajectory(frames: int) -> Trajectory:
    t = np.linspace(0.0, 1.0, frames)
    mats = []
    for k in t:
        m = look_at_matrix((10 * np.cos(k), 10 * np.sin(k), 1.5 + k), (0, 0, 1), roll=0.2 * k)
        m[:3, :3] = m[:3, :3] @ np.diag([1.2, 0.8, 1.0])
        mats.append(m.reshape(-1).tolist())
    return Trajectory(
        frames=list(range(frames)), matrix_world=mats, lens_mm=(35 + 50 * t).tolist(), shift_x=0.05
    )


def best_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    traj = trajectory(args.frames)
    c2w, intr = camera_poses(traj, 1280, 704)
    times = retime(args.frames, 24.0, 16.0)
    per = 1000.0 / args.frames
    rows = {
        "camera_poses": best_ms(lambda: camera_poses(traj, 1280, 704, scale=0.3), args.repeats),
        "relative_poses": best_ms(lambda: relative_poses(c2w), args.repeats),
        f"resample 24 -> 16 fps ({len(times)} frames)": best_ms(
            lambda: resample(c2w, intr, times), args.repeats
        ),
    }
    print(f"{args.frames} frames, best of {args.repeats}; ms per 1,000 frames:")
    for name, ms in rows.items():
        print(f"  {name:<36} {ms * per:8.2f}")


if __name__ == "__main__":
    main()
