"""``python -m server analyze-motion CLIP.mp4 --lens-mm L --sensor-width-mm S [--fps F]
[--trajectory PLAN.json --shot NAME] [--json OUT]``: the meter on one clip, from the command line.

Prints the summary line (and the mismatch, if any) and writes the full result as JSON to ``--json``
(``-`` for stdout). Exit codes: 0 measured (measurable or not), 1 bad input, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from blender_ltx.core.shots import ShotPlan, Trajectory


def _plan_trajectory(path: Path, shot: str | None) -> tuple[Trajectory, float]:
    """The named shot's trajectory (the only shot's when the plan has one) and the plan's fps."""
    try:
        plan = ShotPlan.from_json(path.read_text())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"cannot read the plan {path} ({exc}); pass what "
            "`python -m blender_ltx plan FILE.blend --json` writes"
        ) from None
    if shot is None:
        if len(plan.shots) != 1:
            raise ValueError(f"the plan has {len(plan.shots)} shots; name one with --shot")
        return plan.shots[0].trajectory, plan.fps
    try:
        return plan.shot(shot).trajectory, plan.fps
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]}; pass one of them with --shot") from None


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m server analyze-motion",
        description="Measure a clip's camera motion and, with a plan, how well it follows it.",
    )
    p.add_argument("clip", type=Path)
    p.add_argument("--lens-mm", type=float, default=None, help="focal length (default: the plan's, else 50)")
    p.add_argument("--sensor-width-mm", type=float, default=None, help="default: the plan's, else 36")
    p.add_argument("--fps", type=float, default=None, help="default: the plan's, else the clip's")
    p.add_argument("--trajectory", type=Path, default=None, help="shot plan JSON to compare against")
    p.add_argument("--shot", default=None, help="the plan's shot the clip was generated for")
    p.add_argument("--json", default=None, help="write the result here ('-': stdout)")
    a = p.parse_args(argv)
    from . import measure_clip

    try:
        if not a.clip.is_file():
            raise ValueError(f"no clip at {a.clip}; pass the path of an mp4")
        plan, fps = None, a.fps
        if a.trajectory is not None:
            plan, plan_fps = _plan_trajectory(a.trajectory, a.shot)
            fps = fps or plan_fps
        elif a.shot is not None:
            raise ValueError("--shot names a shot of --trajectory PLAN.json; pass the plan too")
        if plan is None and (a.lens_mm is None or a.sensor_width_mm is None):
            raise ValueError("pass --lens-mm and --sensor-width-mm (or --trajectory PLAN.json)")
        result = measure_clip(
            a.clip, lens_mm=a.lens_mm or 50.0, sensor_width_mm=a.sensor_width_mm or 36.0, fps=fps, plan=plan
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result["summary"])
    if result.get("mismatch"):
        print(result["mismatch"])
    if a.json == "-":
        print(json.dumps(result, indent=2))
    elif a.json:
        Path(a.json).write_text(json.dumps(result, indent=2))
    return 0
