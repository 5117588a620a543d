"""``python -m server analyze-motion CLIP.mp4 --lens-mm L --sensor-width-mm S [--fps F]
[--trajectory PLAN.json --shot NAME] [--json OUT]``: the meter on one clip, from the command line.

Prints the summary line (and the mismatch, if any) and writes the full result as JSON to ``--json``
(``-`` for stdout). Exit codes: 0 measured (measurable or not), 1 bad input, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import math
import os
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


def _check_number(name: str, value: float | None, unit: str) -> None:
    """A given --lens-mm, --sensor-width-mm or --fps must be a positive finite number (0 used to mean
    "the default" without a word, inf and nan failed deep inside the measurement)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} is {value:g}; pass a positive number of {unit} (or leave it out)")


def _check_clip(path: Path) -> None:
    """The clip exists and PyAV finds a video stream in it: checked from its header before measuring."""
    import av

    if not path.is_file():
        raise ValueError(f"no clip at {path}; pass the path of an mp4")
    try:
        with av.open(str(path)) as box:
            has_video = bool(box.streams.video)
    except Exception as exc:  # PyAV raises many types for broken files; all mean the same to a user
        raise ValueError(
            f"{path} is not a video PyAV can read ({str(exc)[:80]}); pass the mp4 of the take"
        ) from None
    if not has_video:
        raise ValueError(f"{path} has no video stream (audio only?); pass the mp4 of the take")


def _check_json_target(target: str | None) -> None:
    """--json can be written, before the measurement runs (it used to fail after it)."""
    if target is None or target == "-":
        return
    path = Path(target)
    folder = path.parent
    if path.is_dir():
        raise ValueError(f"--json {target} is a folder; pass a file name (or '-' for stdout)")
    if not folder.is_dir():
        raise ValueError(f"--json {target}: the folder {folder} does not exist; create it or pick another")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"--json {target} cannot be written here; pick a writable folder")


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
        _check_number("--lens-mm", a.lens_mm, "millimetres")
        _check_number("--sensor-width-mm", a.sensor_width_mm, "millimetres")
        _check_number("--fps", a.fps, "frames per second")
        _check_json_target(a.json)
        _check_clip(a.clip)
        plan, fps = None, a.fps
        if a.trajectory is not None:
            plan, plan_fps = _plan_trajectory(a.trajectory, a.shot)
            fps = fps if fps is not None else plan_fps
        elif a.shot is not None:
            raise ValueError("--shot names a shot of --trajectory PLAN.json; pass the plan too")
        if plan is None and (a.lens_mm is None or a.sensor_width_mm is None):
            raise ValueError("pass --lens-mm and --sensor-width-mm (or --trajectory PLAN.json)")
        lens = 50.0 if a.lens_mm is None else a.lens_mm
        sensor = 36.0 if a.sensor_width_mm is None else a.sensor_width_mm
        result = measure_clip(a.clip, lens_mm=lens, sensor_width_mm=sensor, fps=fps, plan=plan)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result["summary"])
    if result.get("mismatch"):
        print(result["mismatch"])
    if a.json == "-":
        print(json.dumps(result, indent=2))
    elif a.json:
        try:
            Path(a.json).write_text(json.dumps(result, indent=2))
        except OSError as exc:
            print(
                f"error: --json {a.json} could not be written ({exc.strerror}); pick another file",
                file=sys.stderr,
            )
            return 1
    return 0
