"""The README's picture: previs (left) beside take (right), one row per shot, from a demo run.

Usage::

    python -m blender_ltx demo --out /tmp/demo
    python scripts/previs_take_picture.py /tmp/demo docs/img/previs-and-take.png

Takes the middle frame of each shot's previs beauty frames (``ltx/demo/SHOT/previs/beauty_*.png``) and the
same frame of its first take (``take_1.mp4``); a palette keeps the PNG small (the tiny model's noise does
not compress).
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
from PIL import Image, ImageDraw

CELL_WIDTH = 320
PAD, LABEL = 6, 18


def frame_of(clip: Path, index: int) -> Image.Image:
    with av.open(str(clip)) as box:
        for i, frame in enumerate(box.decode(video=0)):
            if i == index:
                return frame.to_image().convert("RGB")
    raise SystemExit(f"{clip} has fewer than {index + 1} frames; run the demo again")


def rows(demo_dir: Path) -> list[tuple[str, int, Image.Image, Image.Image]]:
    root = demo_dir / "ltx" / "demo"
    if not root.is_dir():
        raise SystemExit(f"no demo takes under {root}; run `python -m blender_ltx demo --out {demo_dir}`")
    out = []
    for shot in sorted(p for p in root.iterdir() if p.is_dir()):
        beauty = sorted((shot / "previs").glob("beauty_*.png"))
        if not beauty:
            raise SystemExit(f"{shot} has no previs frames; run the demo with an LTX-2 server (the default)")
        index = len(beauty) // 2
        previs = Image.open(beauty[index]).convert("RGB")
        size = (CELL_WIDTH, round(CELL_WIDTH * previs.height / previs.width))
        take = frame_of(shot / "take_1.mp4", index)
        out.append((shot.name, index, previs.resize(size, Image.LANCZOS), take.resize(size, Image.LANCZOS)))
    return out


def compose(demo_dir: Path, out: Path) -> Path:
    shots = rows(demo_dir)
    h = shots[0][2].height
    img = Image.new("RGB", (2 * CELL_WIDTH + 3 * PAD, LABEL + len(shots) * (h + LABEL + PAD) + PAD), "white")
    draw = ImageDraw.Draw(img)
    draw.text((PAD, 3), "previs (Workbench)", fill="black")
    draw.text((2 * PAD + CELL_WIDTH, 3), "take (built-in tiny model: noise)", fill="black")
    y = LABEL
    for name, index, previs, take in shots:
        draw.text((PAD, y + 2), f"{name}, frame {index}", fill="black")
        y += LABEL
        img.paste(previs, (PAD, y))
        img.paste(take, (2 * PAD + CELL_WIDTH, y))
        y += h + PAD
    out.parent.mkdir(parents=True, exist_ok=True)
    img.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python scripts/previs_take_picture.py DEMO_DIR OUT.png")
    path = compose(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{path} ({path.stat().st_size // 1024} KB)")
