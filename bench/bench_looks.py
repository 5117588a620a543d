"""A look job's time against a video job's, on the same server (tiny models on the CPU by default).

    .venvs/bl45/bin/python bench/bench_looks.py                         # tiny LTX + tiny klein, CPU
    .venvs/bl45/bin/python bench/bench_looks.py --width 768 --height 512 --count 4
    python bench/bench_looks.py --model DIR --look-model KLEIN_DIR --device cuda --width 1024 --height 576

Starts the real server, then for ``--repeats`` rounds submits a look job (``--count`` stills of the
shot's size from a depth layout and two references, the model's default steps) and a video job (the
shot's size and ``--frames``, the profile's default steps, the first still as its look frame) over HTTP
and waits for each. Prints each job's wall time (submit to done), the server's generate time, and for
the look job its device record (a swap on a GPU, the first load of the look model).
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from support.server import job_request, png_b64, start_server, wait_for  # noqa: E402

from blender_ltx.core.client import Client  # noqa: E402
from blender_ltx.core.looks import look_request  # noqa: E402


def _timed(http, url: str, request: dict) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = http.post(url + "/v1/jobs", json=request)
    r.raise_for_status()
    done = wait_for(http, url, r.json()["id"], timeout=3600)
    if done["status"] != "succeeded":
        raise SystemExit(f"job {done['id']} {done['status']}: {done['error']}")
    return time.perf_counter() - t0, done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--look-model", default="tiny-look")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--height", type=int, default=512)
    ap.add_argument("--frames", type=int, default=121)
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    png = [base64.b64decode(png_b64(a.width, a.height, s)) for s in range(3)]
    with tempfile.TemporaryDirectory(prefix="ltx_bench_looks_") as tmp:
        args = ["--look-model", a.look_model, "--device", a.device]
        srv = start_server(Path(tmp), a.model, args, timeout=1800)
        try:
            http = requests.Session()
            looks, videos = [], []
            for i in range(a.repeats):
                req, _ = look_request(
                    Client(srv.url),
                    prompt="a woman in a red coat beside a blue car on a wet street at night",
                    width=a.width,
                    height=a.height,
                    count=a.count,
                    seed=i,
                    layout=("depth", png[0]),
                    references=[
                        {"name": "the woman", "kind": "character", "png": png[1]},
                        {"name": "the car", "kind": "prop", "png": png[2]},
                    ],
                )
                wall, look = _timed(http, srv.url, req)
                looks.append((wall, look))
                still = look["applied"]["stills"][0]["asset"]
                video = job_request(
                    seed=i,
                    width=a.width,
                    height=a.height,
                    num_frames=a.frames,
                    num_inference_steps=None,
                    guidance_scale=None,
                    look="frame",
                    conditions=[{"frame_index": 0, "image": {"asset": still}}],
                )
                videos.append(_timed(http, srv.url, video))
                device = look["applied"]["device"]
                print(f"round {i + 1}: look {wall:.2f} s ({device}); video {videos[-1][0]:.2f} s", flush=True)
        finally:
            srv.stop()
    lw = [w for w, _ in looks[1:] or looks]  # the first look job also loads the look model
    vw = [w for w, _ in videos[1:] or videos]
    steps = looks[0][1]["applied"]["num_inference_steps"]
    look_s = statistics.median(lw)
    print(
        f"\nlook job: {a.count} stills {a.width}x{a.height}, {steps} steps: median {look_s:.2f} s "
        f"({look_s / a.count:.2f} s per still); first (with load) {looks[0][0]:.2f} s"
    )
    vsteps = videos[0][1]["request"]["num_inference_steps"]
    generate = statistics.median(v["timings"]["generate_s"] for _, v in videos)
    print(
        f"video job: {a.frames} frames {a.width}x{a.height}, {vsteps} steps: median "
        f"{statistics.median(vw):.2f} s (generate {generate:.2f} s)"
    )
    print(f"look / video: {statistics.median(lw) / statistics.median(vw):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
