"""Generation over Ray: jobs per minute with 1 and 2 replicas, and the dispatch overhead per job against
the single-process server, measured in one run on the same model and jobs.

    .venvs/bl45/bin/python bench/bench_ray.py                  # tiny model, CPU
    python bench/bench_ray.py --model DIR --device cuda --jobs 8  # real weights, one replica per GPU

Each configuration is a real server process (``python -m server``, with ``--ray --replicas N`` or
without), given the same batch of jobs at once over HTTP; the clock runs from the first POST to the last
job final. The per-job overhead compares the server's own ``generate_s`` (which, under Ray, includes the
round trip to the replica and the clip's way back through the object store) with the single-process
server's on the same job.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from support.server import job_request, start_server, wait_for  # noqa: E402


def run_batch(model: str, data_dir: Path, extra: list[str], jobs: int, job: dict) -> dict:
    srv = start_server(data_dir, model, extra, timeout=600)
    try:
        http = requests.Session()
        wait_for(
            http, srv.url, http.post(srv.url + "/v1/jobs", json=job).json()["id"], timeout=600
        )  # warm-up
        t0 = time.perf_counter()
        ids = [http.post(srv.url + "/v1/jobs", json={**job, "seed": i}).json()["id"] for i in range(jobs)]
        finals = [wait_for(http, srv.url, job_id, timeout=1800) for job_id in ids]
        wall = time.perf_counter() - t0
    finally:
        srv.stop()
    assert all(f["status"] == "succeeded" for f in finals), finals
    return {
        "wall_s": wall,
        "jobs_per_min": 60.0 * jobs / wall,
        "generate_s": statistics.median(f["timings"]["generate_s"] for f in finals),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.add_argument("--jobs", type=int, default=6)
    p.add_argument("--frames", type=int, default=49)
    p.add_argument("--size", default="384x256")
    p.add_argument("--steps", type=int, default=4)
    args = p.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    job = job_request(num_frames=args.frames, width=width, height=height, num_inference_steps=args.steps)
    base = ["--device", args.device]
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model == "tiny":
            from server.backends.tiny import make_tiny_model

            model = str(make_tiny_model(Path(tmp) / "tiny-model"))
        rows = {
            "single process": run_batch(model, Path(tmp) / "one", base, args.jobs, job),
            "ray, 1 replica": run_batch(
                model, Path(tmp) / "r1", base + ["--ray", "--replicas", "1"], args.jobs, job
            ),
            "ray, 2 replicas": run_batch(
                model, Path(tmp) / "r2", base + ["--ray", "--replicas", "2"], args.jobs, job
            ),
        }
    single = rows["single process"]["generate_s"]
    print(
        f"\nmodel={args.model} device={args.device} {args.jobs} jobs of "
        f"{args.frames}x{args.size}, {args.steps} steps"
    )
    print(f"{'server':<18} {'wall s':>8} {'jobs/min':>9} {'generate s/job':>15} {'overhead s/job':>15}")
    for name, r in rows.items():
        print(
            f"{name:<18} {r['wall_s']:>8.1f} {r['jobs_per_min']:>9.2f} {r['generate_s']:>15.3f} "
            f"{r['generate_s'] - single:>15.3f}"
        )


if __name__ == "__main__":
    main()
