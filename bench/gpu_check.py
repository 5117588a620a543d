"""One GPU check (run by bench/gpu_check.sh): each family built at its real configuration with random weights
directly on the GPU in bf16 (or, when fit says the card is too small for that, on the CPU and then placed in
fit's mode), one job timed at the published setting, the peak GPU memory recorded next to fit's prediction,
all inside a time budget, and one table printed.

    bash bench/gpu_check.sh                           # every known release, 121 x 768 x 512, 8 steps
    bash bench/gpu_check.sh --model ltx-2-19b --steps 30
    python bench/gpu_check.py --dry-run               # CPU: the plan only (configs built on the meta device)
    python bench/gpu_check.py --model DIR --device cpu --frames 17 --width 96 --height 64 --steps 2

No hub is needed: the configurations are the ones server/fit/configs keeps (or a folder's), and the
tokenizers are the tiny hub-free ones of the test models (a prompt's token ids only need to be in range).
The job runs with classifier-free guidance (guidance 3.0) and, for LTX-2, STG off: the two passes a step
fit's formula assumes. SANA-WM's job is image-to-video along a dolly-in (per-frame poses and intrinsics,
as the server sends a shot's camera), stage 1 only. FLUX.2 klein's job is one look frame conditioned on two
reference pictures (continuity across cuts), at the clip's width and height.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DRIVEN = {
    "ltx2": "LTX2InContextPipeline",
    "ltx-video": "LTXConditionPipeline",
    "sana-wm": "SanaWMPipeline",
    "flux2": "Flux2KleinPipeline",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from server.fit import plan

    p = argparse.ArgumentParser(prog="bench/gpu_check.sh", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model",
        action="append",
        default=None,
        help="a known release or a checkpoint folder "
        f"(repeatable; default every known release: {', '.join(plan.releases())})",
    )
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--vram", default="auto", help="GiB fit plans for (auto: the card's)")
    p.add_argument("--memory-mode", default="auto", help="force a memory mode instead of fit's choice")
    p.add_argument("--frames", type=int, default=plan.PUBLISHED_JOB["frames"])
    p.add_argument("--width", type=int, default=plan.PUBLISHED_JOB["width"])
    p.add_argument("--height", type=int, default=plan.PUBLISHED_JOB["height"])
    p.add_argument("--steps", type=int, default=8, help="denoising steps (8: the distilled setting)")
    p.add_argument("--budget-s", type=float, default=450.0, help="start no release after this many seconds")
    p.add_argument("--dry-run", action="store_true", help="plan only: build on the meta device, run nothing")
    p.add_argument("--json", type=Path, default=None, metavar="OUT")
    a = p.parse_args(argv)
    from server.fit.modes import check_mode, check_vram

    bad = check_mode(a.memory_mode) or check_vram(a.vram)
    if bad:
        p.error(bad)
    if (a.frames - 1) % 8 or a.width % 32 or a.height % 32:
        p.error(f"frames must be 8k+1 and width/height multiples of 32, not {a.frames} {a.width}x{a.height}")
    a.model = a.model or list(plan.releases())
    return a


@contextlib.contextmanager
def building_on(device: str, dtype):
    """New modules get their random weights on ``device`` in ``dtype`` (no full-precision copy first)."""
    import torch

    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(before)


def build_pipeline(folder: Path, family: str, device: str, dtype):
    """The family's server pipeline from ``folder``'s configurations with random weights."""
    import diffusers

    from server.backends import tiny, tiny_look, tiny_ltx2
    from server.fit.plan import build

    index = json.loads((folder / "model_index.json").read_text())
    parts: dict[str, Any] = {}
    with building_on(device, dtype):
        for name, spec in index.items():
            if name.startswith("_") or not isinstance(spec, list) or spec[0] is None:
                continue
            library, cls = spec
            if cls.endswith(("Tokenizer", "TokenizerFast")):
                # Gemma tokenizers for LTX-2 and SANA-WM, T5 for LTX-Video, Qwen for FLUX.2
                makers = {"ltx-video": tiny._tokenizer, "flux2": tiny_look._tokenizer}
                parts[name] = makers.get(family, tiny_ltx2.make_tokenizer)()
            elif cls.endswith("Scheduler") and family == "flux2":  # its shift follows the image size
                parts[name] = diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True)
            elif cls.endswith("Scheduler"):
                parts[name] = diffusers.FlowMatchEulerDiscreteScheduler()
            elif (folder / name / "config.json").is_file():
                config = json.loads((folder / name / "config.json").read_text())
                parts[name] = build(library, cls, config).eval()
    # the pipeline's own settings (FLUX.2 klein's is_distilled)
    parts.update({k: v for k, v in index.items() if not k.startswith("_") and isinstance(v, bool)})
    return getattr(diffusers, DRIVEN[family])(**parts)


def run_job(pipe, family: str, a: argparse.Namespace) -> float:
    """One job of ``family`` at ``a``'s setting, timed (seconds, the GPU synchronised)."""
    import torch

    kwargs = job_kwargs(family, a)
    pipe.set_progress_bar_config(disable=True)
    t0 = time.perf_counter()
    with torch.no_grad():
        pipe(**kwargs, generator=torch.Generator("cpu").manual_seed(0), output_type="np")
    if a.device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def job_kwargs(family: str, a: argparse.Namespace) -> dict[str, Any]:
    """The pipeline call of one job of ``family``: LTX text-to-video with guidance; SANA-WM image-to-video
    along a dolly-in; FLUX.2 klein one look frame from two references."""
    import numpy as np
    from PIL import Image

    size = dict(width=a.width, height=a.height, num_inference_steps=a.steps)
    if family == "flux2":
        grey = [Image.fromarray(np.full((a.height, a.width, 3), v, np.uint8)) for v in (96, 160)]
        prompt = "a rainy neon street at night, the same detective in a grey coat"
        return dict(size, image=grey, prompt=prompt, guidance_scale=1.0)
    video = dict(size, num_frames=a.frames, negative_prompt="blurry", guidance_scale=3.0)
    if family == "sana-wm":
        c2w, intrinsics = dolly_in(a.frames, a.width, a.height)
        picture = Image.fromarray(np.full((a.height, a.width, 3), 128, np.uint8))
        return dict(
            video,
            image=picture,
            prompt="a red cube on a wooden table",
            c2w=c2w,
            intrinsics=intrinsics,
            fps=16,
            max_sequence_length=300,
        )
    video["prompt"] = "a red cube slides across a wooden table, the camera dollies in"
    if family == "ltx2":
        video.update(stg_scale=0.0, spatio_temporal_guidance_blocks=[0], audio_guidance_scale=3.0)
        video["max_sequence_length"] = 1024 if a.device == "cuda" else 128
    else:
        video["max_sequence_length"] = 256 if a.device == "cuda" else 128
    return video


def dolly_in(frames: int, width: int, height: int):
    """Camera-to-world poses (OpenCV axes) moving 1 unit forward over the shot, and a 50 mm lens on a 36 mm
    sensor as [fx, fy, cx, cy] per frame: what the server sends SANA-WM for a plain dolly-in."""
    import numpy as np

    c2w = np.tile(np.eye(4, dtype=np.float32), (frames, 1, 1))
    c2w[:, 2, 3] = np.linspace(0.0, 1.0, frames, dtype=np.float32)
    focal = 50.0 / 36.0 * width
    intrinsics = np.tile(np.float32([focal, focal, (width - 1) / 2, (height - 1) / 2]), (frames, 1))
    return c2w, intrinsics


def card_gib(a: argparse.Namespace) -> float:
    """--vram, else the card's memory; 80 GiB where there is no card to ask (a CPU dry run)."""
    import torch

    if a.vram != "auto":
        return float(a.vram)
    if a.device == "cuda" and torch.cuda.is_available():
        return round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return 80.0


def check_one(model: str, a: argparse.Namespace) -> dict[str, Any]:
    import torch

    from server.fit import modes, plan

    folder, _, _ = plan.resolve(model)
    ckpt = plan.load_checkpoint(model)
    job = {"frames": 1 if ckpt.family == "flux2" else a.frames, "width": a.width, "height": a.height}
    vram = card_gib(a)
    choice = plan.choose_mode(ckpt, vram, job)
    mode = choice["mode"] if a.memory_mode == "auto" else a.memory_mode
    tiling = choice["vae_tiling"] if a.memory_mode == "auto" else False
    row: dict[str, Any] = {
        "model": ckpt.name,
        "params_b": round(ckpt.total_params() / 1e9, 2),
        "mode": mode + (" + VAE tiling" if tiling else ""),
        "predicted_gib": plan.predict_peak(ckpt, mode, job, tiling)["peak_gib"],
    }
    if a.dry_run or ckpt.family not in DRIVEN:
        row["status"] = "plan only" if a.dry_run else f"no job driver for {ckpt.family} yet: plan only"
        return row
    dtype = torch.bfloat16 if a.device == "cuda" else torch.float32
    if a.device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    on_device = mode == "resident"
    pipe = build_pipeline(folder, ckpt.family, a.device if on_device else "cpu", dtype)
    decision = modes.MemoryDecision(mode, "gpu_check", forced=True, vae_tiling=tiling)
    modes.apply(pipe, decision, a.device, dtype)
    row["build_s"] = round(time.perf_counter() - t0, 1)
    try:
        row["job_s"] = round(run_job(pipe, ckpt.family, a), 1)
        row["s_per_step"] = round(row["job_s"] / a.steps, 2)  # decode included: an upper bound
        row["status"] = "ok"
    except torch.OutOfMemoryError as exc:
        row["status"] = f"out of memory: {str(exc).splitlines()[0][:80]}"
    if a.device == "cuda":
        row["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    del pipe
    gc.collect()
    if a.device == "cuda":
        torch.cuda.empty_cache()
    return row


def table(rows: list[dict[str, Any]], a: argparse.Namespace) -> str:
    head = (
        f"job: {a.frames} x {a.width} x {a.height}, {a.steps} steps, guidance 3.0, device {a.device}, "
        f"modes planned for {card_gib(a):g} GiB"
    )
    cols = (
        "model",
        "params_b",
        "mode",
        "build_s",
        "job_s",
        "s_per_step",
        "peak_gib",
        "predicted_gib",
        "status",
    )
    lines = [head, "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "-")) for c in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.device == "cuda" and not a.dry_run:
        import torch

        if not torch.cuda.is_available():
            print("error: torch sees no CUDA GPU; run with --dry-run or --device cpu.", file=sys.stderr)
            return 2
    t0 = time.perf_counter()
    rows = []
    for model in a.model:
        if time.perf_counter() - t0 > a.budget_s:
            rows.append({"model": model, "status": f"skipped: past the {a.budget_s:g} s budget"})
            continue
        try:
            rows.append(check_one(model, a))
        except Exception as exc:  # one family's failure must not hide the others' rows
            rows.append({"model": model, "status": f"failed: {type(exc).__name__}: {str(exc)[:100]}"})
        print(f"[{time.perf_counter() - t0:.0f} s] {rows[-1]['model']}: {rows[-1]['status']}", flush=True)
    print(table(rows, a))
    print(f"total {time.perf_counter() - t0:.0f} s")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["status"] in ("ok", "plan only") or "plan only" in r["status"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
