"""``python -m server fit --model M [--components DIR] [--vram GB] [--json OUT]``: what a checkpoint needs
and how it runs on a card, from its configuration (or a single file's header) alone (plan.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import plan as fitplan


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m server fit",
        description="count a checkpoint's parameters on the meta device and choose a card's memory mode",
    )
    p.add_argument(
        "--model",
        required=True,
        help="a checkpoint folder, a hub id in the local Hugging Face cache, a single .safetensors or .gguf "
        "file (read from its header), or a known release: " + ", ".join(fitplan.releases()),
    )
    p.add_argument(
        "--components",
        default=None,
        metavar="DIR",
        help="for a single file: the diffusers-format folder the server takes its other parts from "
        "(default: the configuration kept for the file's family)",
    )
    p.add_argument(
        "--vram", type=float, default=None, help="the card's memory in GiB (default: 16, 24, 48, 80)"
    )
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the plan as JSON here")
    a = p.parse_args(argv)
    if a.components is not None and not fitplan.files.is_single_file(a.model):
        p.error("--components goes with a single .safetensors or .gguf --model file")
    if a.vram is not None and a.vram <= 0:
        p.error(f"--vram is the card's memory in GiB and must be above 0, but is {a.vram:g}")
    return a


def _job(job: dict[str, int]) -> str:
    return (
        f"{job['frames']} x {job['width']} x {job['height']}"
        if job["frames"] > 1
        else (f"one {job['width']} x {job['height']} still")
    )


def _mode(choice: dict[str, Any]) -> str:
    mode = choice["mode"] + (" + VAE tiling" if choice["vae_tiling"] else "")
    return mode if choice["fits"] else f"{mode} (does not fit)"


def _gguf(choice: dict[str, Any]) -> str:
    g = choice.get("gguf")
    if not g:
        return ""
    tiling = " + VAE tiling" if g["vae_tiling"] else ""
    return f"   or a {g['quant']} GGUF transformer: {g['mode']}{tiling} ({g['peak_gib']:.1f})"


def _stored(c: dict[str, Any]) -> str:
    kinds = sorted(c["stored"].items(), key=lambda kv: -kv[1]["params"])
    return ", ".join(
        f"{k} {v['params'] / 1e9:.3g} B params in {v['bytes'] / fitplan.GIB:.2f} GiB" for k, v in kinds
    )


def render(result: dict[str, Any]) -> str:
    lines = [f"{result['model']}  [{result['pipeline']}]  from {result['source']}", ""]
    lines.append(f"{'component':<14}{'class':<34}{'params':>10}{'bf16 GiB':>10}{'fp8/GGUF GiB':>14}")
    for name, c in result["components"].items():
        fp8 = f"{c['fp8_bytes'] / fitplan.GIB:.1f}" if name == "transformer" else "-"
        if c["quant"]:  # a GGUF transformer: no fp8 on top, its own bytes instead
            fp8 = f"{c['quant']} {c['quant_bytes'] / fitplan.GIB:.1f}"
        lines.append(
            f"{name:<14}{c['cls']:<34}{c['params'] / 1e9:>8.2f} B"
            f"{c['bf16_bytes'] / fitplan.GIB:>10.1f}{fp8:>14}"
        )
    for name, c in result["components"].items():
        if c["stored"]:
            lines.append(f"  {name} as stored in the file: {_stored(c)}")
    total = result["total_params"]
    lines.append(f"{'total':<48}{total / 1e9:>8.2f} B{2 * total / fitplan.GIB:>10.1f}")
    for note in result["notes"]:
        lines.append(f"note: {note}")
    jobs = result["jobs"]
    lines += ["", f"jobs: published {_job(jobs['published'])}; family default {_job(jobs['default'])}", ""]
    lines.append(
        f"{'card GiB':<10}{'mode (published job)':<38}{'peak GiB':>9}   {'mode (default job)':<38}{'peak':>6}"
    )
    for card, choice in result["cards"].items():
        pub, dft = choice["published"], choice["default"]
        lines.append(
            f"{card:<10}{_mode(pub):<38}{pub['peak_gib']:>9.1f}   {_mode(dft):<38}{dft['peak_gib']:>6.1f}"
            + _gguf(pub)
        )
    if len(result["cards"]) == 1:
        choice = next(iter(result["cards"].values()))["published"]
        lines += ["", f"why: {choice['why']}"]
    lines += [
        "",
        "peak = weights on the GPU in the mode + the largest phase's working set (encode, denoise, decode)"
        f" + {fitplan.RESERVE_GIB:g} GiB reserve; the formulas: server/fit/plan.py",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    a = parse_args(argv)
    cards = (a.vram,) if a.vram is not None else fitplan.CARDS_GIB
    try:
        result = fitplan.plan(a.model, cards, a.components)
    except fitplan.FitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render(result))
    if a.json is not None:
        a.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0
