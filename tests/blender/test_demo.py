"""The README's main command, as a user runs it: ``python -m blender_ltx demo --out DIR``.

It builds the demo previs, starts the tiny server from this interpreter, generates the three shots,
saves the edit and renders a preview of the cut. The test then opens the saved .blend and checks the
edit, and decodes the preview.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

from addon_env import registered_scene  # noqa: E402

from blender_ltx.bl.addon import compat  # noqa: E402
from blender_ltx.bl.edit import vse  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,  # the whole demo: a server, renders and takes
    pytest.mark.skipif(
        importlib.util.find_spec("torch") is None,
        reason="the demo starts the server from this interpreter, which has no torch here",
    ),
]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    proc = subprocess.run(
        [sys.executable, "-m", "blender_ltx", "demo", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "The edit:" in proc.stdout
    # Blender's per-frame render lines and its exit-time leak report stay out of the user's terminal.
    assert "Append frame" not in proc.stdout
    assert "Not freed memory blocks" not in proc.stdout + proc.stderr
    return out


@pytest.fixture
def demo_scene(demo_dir: Path):
    with registered_scene():
        bpy.ops.wm.open_mainfile(filepath=str(demo_dir / "demo.blend"))
        yield bpy.context.scene


def test_demo_saves_the_edit_one_active_take_per_shot(demo_dir: Path, demo_scene) -> None:
    scene = demo_scene
    shots = [(ss.name, ss.frame_start, ss.frame_end) for ss in scene.ltx.shots if ss.in_plan]
    assert len(shots) == 3
    for name, start, end in shots:
        strip = vse.active_take(scene, name)
        assert strip is not None, f"no active take for {name}"
        assert (strip.frame_final_start, strip.frame_final_end - 1) == (start, end)
        assert strip.ltx.job_id and strip.ltx.take == 1
        clip = Path(bpy.path.abspath(strip.filepath))
        # Clips live next to the .blend, referenced blend-relative.
        assert strip.filepath.startswith("//") and clip.is_file()
        assert demo_dir in clip.parents
        sounds = [s for s in vse._shot_strips(scene.sequence_editor, name) if s.ltx.role == vse.ROLE_SOUND]
        assert [(s.frame_final_start, s.frame_final_end - 1, s.mute) for s in sounds] == [(start, end, False)]
    assert len(compat.strips(scene.sequence_editor)) >= 3


def test_demo_preview_covers_the_cut(demo_dir: Path, demo_scene) -> None:
    import av

    scene = demo_scene
    with av.open(str(demo_dir / "preview.mp4")) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        rate = float(stream.average_rate)
        codec = stream.codec_context.name
    assert codec == "h264"
    with av.open(str(demo_dir / "preview.mp4")) as container:
        assert container.streams.audio, "the demo runs the tiny LTX-2: the takes' sound strips are in the cut"
    assert frames == scene.frame_end - scene.frame_start + 1
    assert rate == pytest.approx(scene.render.fps / scene.render.fps_base)


def test_demo_keeps_each_shots_previs_muted_below_its_take(demo_scene) -> None:
    from blender_ltx.bl.cli.demo import side_by_side
    from blender_ltx.bl.edit.previs_strip import previs_strips

    scene = demo_scene
    for ss in [s for s in scene.ltx.shots if s.in_plan]:
        (previs,) = previs_strips(scene, ss.name)
        take = vse.active_take(scene, ss.name)
        assert previs.mute and previs.channel < take.channel
        assert previs.frame_final_start == take.frame_final_start
    with side_by_side(scene):
        (previs,) = previs_strips(scene, "SH010")
        take = vse.active_take(scene, "SH010")
        assert not previs.mute and previs.transform.offset_x < 0 < take.transform.offset_x
    assert previs.mute and previs.transform.offset_x == 0 == take.transform.offset_x


def test_demo_preview_shows_the_flat_previs_left_of_the_take(demo_dir: Path) -> None:
    import av
    import numpy as np

    with av.open(str(demo_dir / "preview.mp4")) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="gray").astype(float)
    h, w = frame.shape
    left, right = (
        frame[h // 3 : 2 * h // 3, w // 8 : 3 * w // 8],
        frame[h // 3 : 2 * h // 3, 5 * w // 8 : 7 * w // 8],
    )
    # The Workbench previs is flat shading and a few edges; the tiny model's take is noise.
    assert left.mean() > 20
    assert np.abs(np.diff(left, axis=1)).mean() < 0.5 * np.abs(np.diff(right, axis=1)).mean()
