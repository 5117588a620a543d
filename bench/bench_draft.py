"""Draft, then final: the draft (first stage at half size; SANA-WM: stage 1 at its canvas), its finalize
(LTX-2: latent upsample x2 + refine; LTX-2.5: upsample x2, DFR refine, temporal round, diffusion decode;
SANA-WM: its LTX-2 refiner) and a single pass at the final size (SANA-WM: the one job that runs both stages),
timed in this process on the same loaded model, in one run, with ratios.

    .venvs/bl45/bin/python bench/bench_draft.py                                   # tiny LTX-2, CPU
    .venvs/bl45/bin/python bench/bench_draft.py --model tiny-ltx25 --width 384 --height 256 --frames 49
    .venvs/bl45/bin/python bench/bench_draft.py --model tiny-sana-wm --width 448 --height 256 --frames 25
    python bench/bench_draft.py --model DIR --device cuda --width 1280 --height 704 --frames 121 \
        --steps 8                                                                 # real weights, GPU

Each figure is the median of ``--repeats`` runs after a warm-up of each kind. The single pass uses the
draft's steps at the final size (what a take costs today); a finalize refines with the recipe's 3 steps.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument(
        "--model", default="tiny-ltx2", help="an LTX-2, LTX-2.5 or SANA-WM checkpoint (default: tiny LTX-2)"
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--width", type=int, default=768)
    p.add_argument("--height", type=int, default=512)
    p.add_argument("--frames", type=int, default=121)
    p.add_argument("--steps", type=int, default=None, help="first-stage steps (default: the profile's)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (steadier timings with 1)")
    a = p.parse_args()

    import torch

    torch.set_num_threads(a.threads)
    from server.backends import model_family
    from server.backends.base import GenerateRequest, Keyframe

    family = model_family(a.model)
    if family == "ltx2.5":
        from server.backends.ltx25 import LTX25Backend as backend_class
    elif family == "ltx2":
        from server.backends.ltx2 import LTX2Backend as backend_class
    elif family == "sana-wm":
        from server.backends.sana_wm import SanaWMBackend as backend_class
    else:
        raise SystemExit(f"{a.model} is {family}; this bench times the LTX-2, LTX-2.5 and SANA-WM recipes.")

    backend = backend_class(a.model, device=a.device, data_dir=Path(tempfile.mkdtemp(prefix="bench-draft-")))
    backend.load()
    if backend.recipe()["why_not"]:
        raise SystemExit(f"No draft recipe here: {backend.recipe()['why_not']}.")
    profile = backend.profile()
    steps = a.steps or profile.num_inference_steps
    request = GenerateRequest(
        prompt="a red car drives down a city street at night, the camera dollies in",
        negative_prompt="",
        seed=7,
        num_frames=a.frames,
        width=a.width,
        height=a.height,
        frame_rate=24.0,
        num_inference_steps=steps,
        guidance_scale=profile.guidance_scale,
    )
    if family == "sana-wm":  # image-to-video: the shot's first frame as its picture
        from PIL import Image

        grey = Image.new("RGB", (a.width, a.height), (128, 120, 110))
        request = replace(request, keyframes=[Keyframe(image=grey, frame_index=0, strength=1.0)])

    def quiet(_p: float) -> None:
        pass

    def never() -> bool:
        return False

    def timed(fn, *args):
        if a.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn(*args, quiet, never)
        if a.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0, out

    draft_req = replace(request, stage="draft")
    runs = {"draft": [], "finalize": [], "single": []}
    peaks = {}
    for i in range(a.repeats + 1):  # the first round warms up
        t_draft, draft = timed(backend.generate, draft_req)
        t_final, final = timed(backend.finalize, request, draft.latents)
        # LTX-2.5 runs its recipe unless asked for one pass; LTX-2's plain take is one pass anyway
        t_single, single = timed(backend.generate, replace(request, single_pass=True))
        if i:
            runs["draft"].append(t_draft)
            runs["finalize"].append(t_final)
            runs["single"].append(t_single)
        peaks = {"draft": draft.peak_gpu_mb, "finalize": final.peak_gpu_mb, "single": single.peak_gpu_mb}
    med = {k: statistics.median(v) for k, v in runs.items()}
    dw, dh = backend.draft_size(a.width, a.height)
    first = draft.applied["stages"][0]
    print(
        f"model {a.model} ({family}) on {a.device}, final {a.frames} frames {a.width}x{a.height}, "
        f"draft {first['num_frames']} frames {dw}x{dh}"
    )
    stages = ", ".join(s["stage"] for s in final.applied["stages"])
    print(f"first stage {first['steps']} steps; finalize: {stages}")
    for name, label in (("draft", "draft"), ("finalize", "finalize"), ("single", "single pass")):
        peak = f", peak {peaks[name]:.0f} MiB" if peaks[name] else ""
        print(f"  {label:12s} {med[name]:7.3f} s (median of {a.repeats}){peak}")
    print(f"  draft / single pass            {med['draft'] / med['single']:.2f}")
    print(f"  draft + finalize / single pass {(med['draft'] + med['finalize']) / med['single']:.2f}")
    print(f"  finalize / draft               {med['finalize'] / med['draft']:.2f}")


if __name__ == "__main__":
    main()
