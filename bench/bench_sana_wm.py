"""SANA-WM: end-to-end time through the server (submit -> mp4 downloaded) against the same generation in
this process (the backend's stage 1 + refiner on the same model dir, seed, picture and camera path), one
run each after a warm-up, and the pose conversion's cost per 1,000 frames.

    .venvs/bl45/bin/python bench/bench_sana_wm.py                            # tiny SANA-WM, CPU
    python bench/bench_sana_wm.py --model DIR --device cuda --frames 241     # real weights on a GPU
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import requests  # noqa: E402
from PIL import Image  # noqa: E402
from support.server import job_request, png_b64, start_server, wait_for  # noqa: E402


def trajectory(n: int) -> dict:
    """A dolly forward with a slow pan, one sample per scene frame."""
    mats = []
    for i in range(n):
        a = np.radians(0.5 * i)
        m = np.eye(4)
        yaw = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        m[:3, :3] = yaw @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], dtype=float)
        m[:3, 3] = (0.0, -10 + 0.05 * i, 1.6)
        mats.append(m.ravel().tolist())
    return {"frames": list(range(1, n + 1)), "matrix_world": mats, "lens_mm": [35.0] * n}


def pose_cost_per_1000() -> float:
    """Seconds to turn 1,000 trajectory samples into poses and resample them to the model's rate."""
    from blender_ltx.core import poses
    from blender_ltx.core.shots import Trajectory

    traj = Trajectory.from_dict(trajectory(1000))
    t0 = time.perf_counter()
    c2w, intr = poses.camera_poses(traj, 1280, 704)
    poses.resample(poses.relative_poses(c2w), intr, poses.retime(1000, 24.0, 16.0))
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=None, help="a SANA-WM checkpoint (default: the tiny one, built here)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--frames", type=int, default=25)
    p.add_argument("--width", type=int, default=448)
    p.add_argument("--height", type=int, default=256)
    p.add_argument("--steps", type=int, default=3)
    a = p.parse_args()

    import torch

    from server.api.settings import Settings
    from server.backends import load_backend
    from server.generation import conditioning

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        model = a.model
        if model is None:
            from server.backends.tiny_sana_wm import make_tiny_sana_wm_model

            model = str(make_tiny_sana_wm_model(Path(tmp) / "tiny-sana-wm-model"))
        req = job_request(
            num_frames=a.frames,
            width=a.width,
            height=a.height,
            num_inference_steps=a.steps,
            seed=5,
            conditions=[{"frame_index": 0, "image": png_b64(a.width, a.height, seed=1)}],
            trajectory=trajectory(a.frames),
        )

        backend = load_backend(Settings(model=model, device=a.device, data_dir=Path(tmp)))
        backend.load()
        picture = Image.open(io.BytesIO(base64.b64decode(req["conditions"][0]["image"]))).convert("RGB")
        applied = conditioning.apply(req, None, backend).to_dict()  # what submit records
        gen = conditioning.generate_request(req, applied, [picture])
        backend.generate(gen, lambda p: None, lambda: False)  # warm-up
        t0 = time.perf_counter()
        clip = backend.generate(gen, lambda p: None, lambda: False)
        in_process = time.perf_counter() - t0
        del backend

        server = start_server(Path(tmp) / "srv", model, ["--device", a.device], env={"OMP_NUM_THREADS": "1"})
        try:
            with requests.Session() as http:
                times = []
                for _ in range(2):  # the first is the warm-up
                    t0 = time.perf_counter()
                    job = http.post(server.url + "/v1/jobs", json=req).json()
                    done = wait_for(http, server.url, job["id"], timeout=600)
                    assert done["status"] == "succeeded", done
                    video = http.get(server.url + done["video_url"]).content
                    assert video, "the mp4 came back empty"
                    times.append(time.perf_counter() - t0)
                end_to_end = times[-1]
        finally:
            server.stop()

    print(
        f"SANA-WM {a.frames} frames {a.width}x{a.height}, {a.steps} steps, {a.device}, stages {clip.applied}"
    )
    print(f"{'in-process s':>12} {'end-to-end s':>12} {'ratio':>6}")
    print(f"{in_process:12.3f} {end_to_end:12.3f} {end_to_end / in_process:6.2f}")
    print(f"server breakdown: {done['timings']}")
    print(f"pose conversion: {pose_cost_per_1000() * 1000:.2f} ms per 1,000 frames")


if __name__ == "__main__":
    main()
