"""The README's main command, as a user runs it: ``python -m blender_ltx demo --out DIR``.

It builds the demo previs, starts the tiny server from this interpreter, makes one look per shot,
generates the three shots from their looks, saves the edit and renders a preview of the cut (previs |
look | take). The test then opens the saved .blend and checks the edit, and decodes the preview.
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


def test_demo_makes_a_look_per_shot_first_and_each_take_starts_from_it(demo_scene) -> None:
    import hashlib
    import json

    from blender_ltx.bl.edit import look_strips

    scene = demo_scene
    for ss in [s for s in scene.ltx.shots if s.in_plan]:
        look = look_strips.chosen_look(scene, ss.name)
        assert look is not None and look.mute, f"{ss.name} has no chosen look"
        assert look.frame_final_start == ss.frame_start
        with open(look_strips.look_file(look), "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        assert sha == look["ltx_look_asset"]
        take = vse.active_take(scene, ss.name)
        applied = json.loads(take.ltx.applied)["look"]
        # The look frame is the take's only picture: no previs pixel reached the model.
        assert applied["mode"] == "frame" and applied["frame"] == sha, applied
        assert applied["pictures_to_model"] == 1
    channel = next(ch for ch in scene.sequence_editor.channels if ch.name == look_strips.LOOKS_CHANNEL_NAME)
    assert channel.mute


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
    from blender_ltx.bl.edit import look_strips
    from blender_ltx.bl.edit.previs_strip import previs_strips

    scene = demo_scene
    for ss in [s for s in scene.ltx.shots if s.in_plan]:
        (previs,) = previs_strips(scene, ss.name)
        take = vse.active_take(scene, ss.name)
        assert previs.mute and previs.channel < take.channel
        assert previs.frame_final_start == take.frame_final_start
    width = scene.render.resolution_x
    channel = next(ch for ch in scene.sequence_editor.channels if ch.name == look_strips.LOOKS_CHANNEL_NAME)
    look = look_strips.chosen_look(scene, "SH010")
    with side_by_side(scene):
        (previs,) = previs_strips(scene, "SH010")
        take = vse.active_take(scene, "SH010")
        assert scene.render.resolution_x == 3 * width
        assert not previs.mute and not look.mute and not channel.mute
        assert (previs.transform.offset_x, look.transform.offset_x, take.transform.offset_x) == (
            -width,
            0,
            width,
        )
    # The user's edit comes back as it was: previs and look muted, nothing moved.
    assert scene.render.resolution_x == width
    assert previs.mute and look.mute and channel.mute
    assert previs.transform.offset_x == 0 == take.transform.offset_x == look.transform.offset_x


def _columns(demo_dir: Path):
    import av

    with av.open(str(demo_dir / "preview.mp4")) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="gray").astype(float)
    h, w = frame.shape
    band = frame[h // 3 : 2 * h // 3]
    # The middle half of each third: previs | look | take.
    return (w, h), [band[:, (4 * i + 1) * w // 12 : (4 * i + 3) * w // 12] for i in range(3)]


def test_demo_preview_is_three_columns_wide(demo_dir: Path, demo_scene) -> None:
    from blender_ltx.bl.cli.demo import PREVIEW_PERCENTAGE

    (w, h), _ = _columns(demo_dir)
    r = demo_scene.render
    scale = PREVIEW_PERCENTAGE[3] / 100
    assert (w, h) == (3 * r.resolution_x * scale, r.resolution_y * scale)


def test_demo_preview_shows_the_flat_previs_then_the_look_then_the_take(demo_dir: Path) -> None:
    import numpy as np

    _, (previs, look, take) = _columns(demo_dir)
    # The Workbench previs is flat shading and a few edges; the tiny models' look and take are noise.
    assert previs.mean() > 20 and look.std() > 5 and take.std() > 5
    for noise in (look, take):
        assert np.abs(np.diff(previs, axis=1)).mean() < 0.5 * np.abs(np.diff(noise, axis=1)).mean()
