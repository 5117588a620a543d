"""The README's picture: previs | look | take, one row per shot, from a demo run.

Usage::

    python -m blender_ltx demo --out /tmp/demo
    python scripts/previs_look_take_picture.py /tmp/demo docs/img/previs-look-take.png

Takes the middle frame of each shot's previs beauty frames (``ltx/demo/SHOT/previs/beauty_*.png``), the
shot's look frame (``ltx/demo/SHOT/looks/look_*.png``, the one the demo made) and the same frame of its
first take (``take_1.mp4``); a palette keeps the PNG small (the tiny models' noise does not compress).
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


def rows(demo_dir: Path) -> list[tuple[str, int, list[Image.Image]]]:
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
        looks = sorted((shot / "looks").glob("look_*.png"))
        if not looks:
            raise SystemExit(f"{shot} has no look frame; run the demo on a server with a look model")
        look = Image.open(looks[0]).convert("RGB")
        take = frame_of(shot / "take_1.mp4", index)
        out.append((shot.name, index, [im.resize(size, Image.LANCZOS) for im in (previs, look, take)]))
    return out


COLUMNS = ("previs (Workbench)", "look (tiny look model: noise)", "take (tiny video model: noise)")


def compose(demo_dir: Path, out: Path) -> Path:
    shots = rows(demo_dir)
    h = shots[0][2][0].height
    n = len(COLUMNS)
    img = Image.new(
        "RGB", (n * CELL_WIDTH + (n + 1) * PAD, LABEL + len(shots) * (h + LABEL + PAD) + PAD), "white"
    )
    draw = ImageDraw.Draw(img)
    for i, title in enumerate(COLUMNS):
        draw.text((PAD + i * (CELL_WIDTH + PAD), 3), title, fill="black")
    y = LABEL
    for name, index, cells in shots:
        draw.text((PAD, y + 2), f"{name}, frame {index} (the look is the take's first frame)", fill="black")
        y += LABEL
        for i, cell in enumerate(cells):
            img.paste(cell, (PAD + i * (CELL_WIDTH + PAD), y))
        y += h + PAD
    out.parent.mkdir(parents=True, exist_ok=True)
    img.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python scripts/previs_look_take_picture.py DEMO_DIR OUT.png")
    path = compose(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{path} ({path.stat().st_size // 1024} KB)")
