"""Motion meter benchmark: clips rendered by Workbench from known camera moves, measured by the meter.

    .venvs/bl45/bin/python bench/bench_motion.py                          # 512x320, 49 frames
    .venvs/bl45/bin/python bench/bench_motion.py --width 768 --height 512 --frames 121

The set (tests/blender/textured.py): a textured room with boxes at several depths. One clip per motion
kind (the 16 moves and static), plus combinations: at once (dolly in + pan left), one after the other
(dolly in, then pan left; truck right, then tilt up). Each clip is measured against the plan of the scene
it was rendered from. Reports per clip the planned and measured kinds per segment and the agreement, then:

- kinds right: clips whose measured segments carry the planned kinds in the planned order (boundaries
  free), and the frame-weighted kinds match (agreement's ``kinds_matched``) averaged over clips;
- rotation error: the median over clips of the agreement's median rotation error per frame pair;
- meter time against generating the same clip (frames, size, 4 steps, first frame as the keyframe) with
  the built-in tiny model on this machine's CPU, in this process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "blender"))
sys.path.insert(0, str(ROOT))

import textured  # noqa: E402

from blender_ltx.core.shots import MOTION_KINDS  # noqa: E402
from server.meter import measure_clip  # noqa: E402

MOVES = [
    *MOTION_KINDS,  # one clip per motion kind, then combinations
    "dolly_in+pan_left",
    "dolly_in>pan_left",
    "truck_right>tilt_up",
]


def _sequence(segments: list[dict]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for seg in segments:
        kinds = tuple(sorted(seg["kinds"]))
        if not out or out[-1] != kinds:
            out.append(kinds)
    return out


def generation_seconds(clip: Path, frames: int, width: int, height: int, fps: float, repeats: int) -> float:
    """Median time of the tiny model making a clip of this size (one warm-up first)."""
    import io

    import av
    import torch
    from PIL import Image

    from server.generation import conditioning
    from server.backends.ltx import LTXBackend
    from server.backends.tiny import make_tiny_model

    torch.set_num_threads(1)
    with av.open(str(clip)) as c:
        first = next(c.decode(video=0)).to_image()
    buf = io.BytesIO()
    first.save(buf, format="PNG")
    with tempfile.TemporaryDirectory() as tmp:
        backend = LTXBackend(str(make_tiny_model(Path(tmp) / "tiny")), device="cpu")
        backend.load()
        req = {
            "prompt": "a gray-box set",
            "negative_prompt": "",
            "seed": 1,
            "num_frames": frames,
            "width": width,
            "height": height,
            "frame_rate": fps,
            "num_inference_steps": 4,
            "guidance_scale": 3.0,
            "conditions": [{"frame_index": 0, "strength": 1.0}],
        }
        gen = conditioning.generate_request(
            req, conditioning.apply(req).to_dict(), [Image.open(io.BytesIO(buf.getvalue())).convert("RGB")]
        )
        times = []
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            backend.generate(gen, lambda p: None, lambda: False)
            if i:
                times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--height", type=int, default=320)
    p.add_argument("--frames", type=int, default=49)
    p.add_argument("--fps", type=int, default=24)
    p.add_argument("--only", default=None, help="comma-separated moves")
    p.add_argument("--repeats", type=int, default=1, help="generation timings (after a warm-up)")
    p.add_argument("--no-generation", action="store_true", help="skip the tiny-model timing")
    a = p.parse_args()
    moves = a.only.split(",") if a.only else MOVES
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for move in moves:
            clip, plan = textured.render_move(
                move, Path(tmp) / f"{move}.mp4", a.width, a.height, a.frames, a.fps
            )
            traj = plan.shots[0].trajectory
            t0 = time.perf_counter()
            r = measure_clip(clip, lens_mm=traj.lens_mm[0], sensor_width_mm=traj.sensor_width_mm, plan=traj)
            seconds = time.perf_counter() - t0
            planned = _sequence([s.__dict__ for s in plan.shots[0].motion])
            measured = _sequence(r["segments"]) if r["measurable"] else []
            agree = r["agreement"] or {}
            rows.append((move, planned, measured, agree, seconds))
            print(
                f"{move:<22} planned {' > '.join('+'.join(k) for k in planned):<34} "
                f"measured {' > '.join('+'.join(k) for k in measured):<40} "
                f"score {agree.get('score', 0):.3f} "
                f"rot {agree.get('rotation_error_deg', float('nan')):.3f} deg "
                f"dir {agree.get('translation_direction_error_deg')} meter {seconds:.2f} s",
                flush=True,
            )
        gen = None
        if not a.no_generation:
            gen = generation_seconds(clip, a.frames, a.width, a.height, a.fps, a.repeats)
    right = sum(planned == measured for _, planned, measured, _, _ in rows)
    kinds = statistics.mean(r[3].get("kinds_matched", 0.0) for r in rows)
    rot = statistics.median(r[3].get("rotation_error_deg", float("nan")) for r in rows)
    worst = max(rows, key=lambda r: r[3].get("rotation_error_deg", 0.0))
    meter = statistics.median(r[4] for r in rows)
    print(f"\n{len(rows)} clips, {a.frames} frames {a.width}x{a.height} @ {a.fps} fps")
    print(
        f"kinds right: {right}/{len(rows)} clips ({100 * right / len(rows):.0f} %), "
        f"frames matched {kinds:.3f}"
    )
    print(
        f"rotation error per frame pair: median {rot:.3f} deg, worst clip {worst[0]} "
        f"{worst[3].get('rotation_error_deg', float('nan')):.3f} deg"
    )
    line = f"meter: median {meter:.2f} s per clip"
    if gen:
        line += f"; tiny-model generation of the same clip {gen:.2f} s; meter / generation {meter / gen:.1%}"
    print(line)


if __name__ == "__main__":
    main()
