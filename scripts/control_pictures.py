"""Pictures of the control references of the demo's first shot, for the README.

    .venvs/bl45/bin/python scripts/control_pictures.py docs/control

Writes ``depth.png`` (the normalized depth frame the Union-Control IC-LoRA gets), ``beauty.png`` (the
Workbench frame canny edges are taken from), ``canny.png`` and ``tracks.png`` (the Motion-Track
reference the server draws, shown in RGB), all of the shot's middle frame at the reference size.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import blender_ltx  # noqa: E402
from blender_ltx import plan_scene  # noqa: E402
from blender_ltx.bl.render import control_frames, track_points  # noqa: E402
from blender_ltx.bl.cli import demo  # noqa: E402
from server.generation.control.edges import canny_video  # noqa: E402
from server.generation.control.tracks_draw import draw_tracks  # noqa: E402


def main(out: str) -> int:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    blender_ltx.register()
    scene = demo.build_scene()
    shot = plan_scene(scene).shots[0]
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    mid = shot.length // 2
    with tempfile.TemporaryDirectory(prefix="ltx_pictures_") as tmp:
        result = control_frames.render_control_frames(scene, shot, tmp)
        shutil.copy(result["depth"][mid], out_dir / "depth.png")
        shutil.copy(result["beauty"][mid], out_dir / "beauty.png")
        beauty = np.asarray(Image.open(result["beauty"][mid]).convert("RGB"))
    Image.fromarray(canny_video(beauty[None])[0]).save(out_dir / "canny.png")
    w, h = result["width"], result["height"]
    g = shot.generation
    tracks = track_points.shot_tracks(scene, shot) * np.array([w / g.width, h / g.height])
    bgr = draw_tracks(tracks[: mid + 1], w, h)[mid]
    Image.fromarray(np.ascontiguousarray(bgr[..., ::-1])).save(out_dir / "tracks.png")
    print(f"wrote {sorted(p.name for p in out_dir.iterdir())} to {out_dir} ({w}x{h}, frame {mid})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/control"))
