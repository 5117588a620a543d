"""Server overhead: end-to-end time per job (submit -> mp4 downloaded) against the pipeline's own time
for the same work, measured in the same run.

    .venvs/bl45/bin/python bench/bench_server.py                      # tiny model, CPU
    .venvs/bl45/bin/python bench/bench_server.py --family ltx2        # tiny LTX-2 (with audio), CPU
    python bench/bench_server.py --model DIR --device cuda --repeats 3   # real weights on a GPU
    .venvs/bl45/bin/python bench/bench_server.py --chain            # long shots: chained vs one generation

For each workload: the same pipeline call (LTXConditionPipeline, or LTX2InContextPipeline for LTX-2;
same model dir, device, seed, keyframes) is timed in this process first, then the real server is started
as a subprocess and the job is submitted over HTTP, polled every 20 ms and its mp4 downloaded. Prints
both times, their ratio, and the server's own breakdown (queued / generate / encode), so the overhead
can be attributed.
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from PIL import Image  # noqa: E402
from support.server import job_request, png_b64, start_server, wait_for  # noqa: E402

from server.generation import conditioning  # noqa: E402
from server.backends import load_backend  # noqa: E402
from server.backends.base import GenerateRequest  # noqa: E402
from server.api.settings import Settings  # noqa: E402

WORKLOADS = {
    # name: (num_frames, width, height, steps, keyframe indices)
    "small 17x96x64": (17, 96, 64, 4, [0]),
    "shot 121x768x512": (121, 768, 512, 4, [0, 120]),
}

#: name: (num_frames, width, height, steps, --segment-frames of the chained server)
CHAIN_WORKLOADS = {
    "65x96x64 by 17": (65, 96, 64, 4, 17),
    "121x384x256 by 49": (121, 384, 256, 4, 49),
}


def _request(num_frames, width, height, steps, keys) -> dict:
    conds = [{"frame_index": k, "image": png_b64(width, height, seed=k)} for k in keys]
    return job_request(
        num_frames=num_frames, width=width, height=height, num_inference_steps=steps, seed=5, conditions=conds
    )


def _pipeline_request(req: dict, backend) -> GenerateRequest:
    images = [Image.open(io.BytesIO(base64.b64decode(c["image"]))).convert("RGB") for c in req["conditions"]]
    return conditioning.generate_request(req, conditioning.apply(req, None, backend).to_dict(), images)


def time_pipeline(args, model: str, requests_: dict[str, dict], data_dir: Path) -> dict[str, list[float]]:
    backend = load_backend(Settings(model=model, device=args.device, dtype=args.dtype, data_dir=data_dir))
    backend.load()
    print(f"pipeline: {backend.info()}")
    out = {}
    for name, req in requests_.items():
        gen = _pipeline_request(req, backend)
        backend.generate(gen, lambda p: None, lambda: False)  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            backend.generate(gen, lambda p: None, lambda: False)
            times.append(time.perf_counter() - t0)
        out[name] = times
    del backend
    return out


def time_server(args, model: str, requests_: dict[str, dict], data_dir: Path) -> dict[str, tuple]:
    extra = ["--device", args.device] + (["--dtype", args.dtype] if args.dtype else [])
    srv = start_server(data_dir, model, extra)
    out = {}
    try:
        http = requests.Session()
        for name, req in requests_.items():
            wait_for(http, srv.url, http.post(srv.url + "/v1/jobs", json=req).json()["id"])  # warm-up
            times, breakdown = [], []
            for i in range(args.repeats):
                t0 = time.perf_counter()
                job = http.post(srv.url + "/v1/jobs", json=req).json()
                done = wait_for(http, srv.url, job["id"])
                assert done["status"] == "succeeded", done
                video = http.get(srv.url + done["video_url"]).content
                (data_dir / f"bench_{i}.mp4").write_bytes(video)
                times.append(time.perf_counter() - t0)
                breakdown.append(done["timings"])
            out[name] = (times, breakdown)
    finally:
        srv.stop()
    return out


def time_chain(args, model: str, data_dir: Path) -> None:
    """The same long job end to end on a server that makes it in one generation and on one that chains
    it in segments of ``--segment-frames`` (each conditioned on the previous one's last frames)."""
    extra = ["--device", args.device] + (["--dtype", args.dtype] if args.dtype else [])
    print(f"\nmodel={args.model} device={args.device} repeats={args.repeats} (medians)")
    print(
        f"{'workload':<20} {'one gen s':>9} {'chained s':>9} {'ratio':>6} {'segments':>8} {'frames made':>11}"
    )
    for name, (n, w, h, steps, seg) in CHAIN_WORKLOADS.items():
        if args.only and args.only not in name:
            continue
        req = _request(n, w, h, steps, [0])
        medians, applied = [], None
        for seg_frames in (n, seg):
            srv = start_server(
                data_dir / f"{name}-{seg_frames}".replace(" ", "_"),
                model,
                extra + ["--segment-frames", str(seg_frames)],
            )
            try:
                http = requests.Session()
                wait_for(http, srv.url, http.post(srv.url + "/v1/jobs", json=req).json()["id"])  # warm-up
                times = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    done = wait_for(http, srv.url, http.post(srv.url + "/v1/jobs", json=req).json()["id"])
                    assert done["status"] == "succeeded", done
                    assert http.get(srv.url + done["video_url"]).content
                    times.append(time.perf_counter() - t0)
                medians.append(statistics.median(times))
                applied = done["applied"]
            finally:
                srv.stop()
        segments = applied["segments"] or []
        made = sum(s["num_frames"] for s in segments)
        print(
            f"{name:<20} {medians[0]:>9.3f} {medians[1]:>9.3f} {medians[1] / medians[0]:>6.2f} "
            f"{len(segments):>8} {made:>11}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", default="ltx", choices=("ltx", "ltx2"), help="for the tiny model")
    p.add_argument("--model", default="tiny", help="'tiny': the tiny model of --family")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.add_argument("--dtype", default=None)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--only", default=None, help="run only workloads whose name contains this")
    p.add_argument("--chain", action="store_true", help="long shots: chained against one generation")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model == "tiny" and args.family == "ltx2":
            from server.backends.tiny_ltx2 import make_tiny_ltx2_model

            model = str(make_tiny_ltx2_model(Path(tmp) / "tiny-ltx2-model"))
        elif model == "tiny":
            from server.backends.tiny import make_tiny_model

            model = str(make_tiny_model(Path(tmp) / "tiny-model"))
        if args.chain:
            return time_chain(args, model, Path(tmp))
        reqs = {n: _request(*w) for n, w in WORKLOADS.items() if not args.only or args.only in n}
        pipe = time_pipeline(args, model, reqs, Path(tmp))
        srv = time_server(args, model, reqs, Path(tmp) / "srv")
    print(f"\nmodel={args.model} family={args.family} device={args.device} repeats={args.repeats} (medians)")
    print(
        f"{'workload':<20} {'pipeline s':>10} {'end-to-end s':>12} {'ratio':>6}"
        "   server: queued/generate/encode s"
    )
    for name in reqs:
        pm = statistics.median(pipe[name])
        times, breakdown = srv[name]
        em = statistics.median(times)
        parts = [statistics.median(b[k] for b in breakdown) for k in ("queued_s", "generate_s", "encode_s")]
        print(
            f"{name:<20} {pm:>10.3f} {em:>12.3f} {em / pm:>6.2f}   " + " / ".join(f"{x:.3f}" for x in parts)
        )


if __name__ == "__main__":
    main()
