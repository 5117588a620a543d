"""Takes in the VSE on real bpy: placement, stacking, promote, user strips untouched, save/reload, fps."""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest

pytestmark = pytest.mark.blender
bpy = pytest.importorskip("bpy")
av = pytest.importorskip("av")

from addon_env import HAS_AUDIO  # noqa: E402
from blender_ltx.bl.addon import blend_paths, compat  # noqa: E402
from blender_ltx.bl.edit import vse  # noqa: E402
from blender_ltx.core.shots import GenerationGrid, Segment, Shot, Trajectory  # noqa: E402

STEP = 8  # gray level per clip frame, so a rendered pixel tells which clip frame is shown


def write_clip(path, num_frames: int, fps: float, width: int = 64, height: int = 48) -> str:
    """A real H.264 mp4 whose frame i is flat gray i * STEP."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(num_frames):
            img = np.full((height, width, 3), (i * STEP) % 256, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode())
    return str(path)


def make_shot(name: str, start: int, end: int, fps: float = 24.0) -> Shot:
    grid = GenerationGrid(num_frames=8 * ((end - start + 8) // 8) + 1, width=64, height=48, frame_rate=fps)
    return Shot(
        name=name, camera="Cam", frame_start=start, frame_end=end, generation=grid, trajectory=Trajectory()
    )


@pytest.fixture(scope="module", autouse=True)
def registered():
    try:
        vse.register()
        mine = True
    except ValueError:  # the whole add-on is already registered by another test module
        mine = False
    yield
    if mine:
        vse.unregister()


@pytest.fixture
def scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    sc = bpy.context.scene
    sc.name = "Edit"
    # No sequence_editor_clear() here: on 4.5/5.0, clearing it and then changing the fps makes the
    # next save crash Blender (tests that need a scene without one make a new scene).
    sc.render.fps, sc.render.fps_base = 24, 1.0
    sc.render.resolution_x, sc.render.resolution_y, sc.render.resolution_percentage = 64, 48, 100
    return sc


@pytest.fixture(scope="module")
def clip24(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clips") / "c24.mp4", 33, 24)


def span(strip):
    return strip.channel, strip.frame_final_start, strip.frame_final_end


def test_import_places_trimmed_strip_with_metadata(scene, clip24):
    scene = bpy.data.scenes.new("Fresh")
    scene.render.fps = 24
    assert scene.sequence_editor is None  # import_take creates it
    shot = make_shot("sh010", 10, 30)
    meta = {
        "job_id": "j1",
        "seed": 42,
        "prompt": "a red cube",
        "applied": {"layers": ["keyframes"]},
        "server": "http://127.0.0.1:8765",
    }
    strip = vse.import_take(scene, shot, clip24, 1, meta)
    assert strip.type == "MOVIE" and strip.name == "sh010 take 1"
    assert span(strip) == (1, 10, 31) and strip.frame_final_duration == shot.length
    assert not strip.mute
    assert strip.ltx.shot == "sh010" and strip.ltx.take == 1 and strip.ltx.job_id == "j1"
    assert strip.ltx.seed == 42 and strip.ltx.prompt == "a red cube" and strip.ltx.created
    assert '"keyframes"' in strip.ltx.applied and strip.ltx.server.endswith(":8765")
    assert not any(s.type == "SOUND" for s in compat.strips(scene.sequence_editor))
    # Same take again: nothing imported twice.
    assert vse.import_take(scene, shot, clip24, 1, meta) == strip
    assert len(compat.strips(scene.sequence_editor)) == 1


def make_split_shot(name: str, bounds: list[tuple[int, int]]) -> Shot:
    segs = [Segment(a, b, 8 * ((b - a + 8) // 8) + 1) for a, b in bounds]
    grid = GenerationGrid(num_frames=segs[0].num_frames, width=64, height=48, frame_rate=24.0, segments=segs)
    start, end = bounds[0][0], bounds[-1][1]
    return Shot(
        name=name, camera="Cam", frame_start=start, frame_end=end, generation=grid, trajectory=Trajectory()
    )


def test_split_take_is_one_unit(scene, clip24):
    shot = make_split_shot("S", [(1, 10), (11, 20)])
    # Segments may land in any order; an incomplete take stays muted, unlisted and cannot be promoted.
    seg2 = vse.import_take(scene, shot, clip24, 1, {"job_id": "j2"}, segment=1, fps=24.0)
    assert seg2.mute and vse.takes(scene, "S") == [] and vse.active_take(scene, "S") is None
    with pytest.raises(KeyError, match="1 of its 2 segments"):
        vse.promote_take(scene, "S", 1)
    seg1 = vse.import_take(scene, shot, clip24, 1, {"job_id": "j1"}, segment=0, fps=24.0)
    assert [(s.name, span(s), s.mute) for s in (seg1, seg2)] == [
        ("S take 1", (1, 1, 11), False),
        ("S take 1.2", (1, 11, 21), False),
    ]
    assert [(s.ltx.segment, s.ltx.segments, s.ltx.job_id) for s in vse.take_strips(scene, "S")] == [
        (0, 2, "j1"),
        (1, 2, "j2"),
    ]
    assert vse.takes(scene, "S") == [seg1] and vse.active_take(scene, "S") == seg1
    # Idempotent per (take, segment).
    assert vse.import_take(scene, shot, clip24, 1, {}, segment=1) == seg2
    assert len(compat.strips(scene.sequence_editor)) == 2
    # Take 2 goes on top; the shot keeps playing take 1 until take 2's last segment is in.
    t2 = [vse.import_take(scene, shot, clip24, 2, {}, segment=0, fps=24.0)]
    assert t2[0].mute and not seg1.mute and not seg2.mute
    t2.append(vse.import_take(scene, shot, clip24, 2, {}, segment=1, fps=24.0))
    assert [(span(s), s.mute) for s in t2 + [seg1, seg2]] == [
        ((2, 1, 11), False),
        ((2, 11, 21), False),
        ((1, 1, 11), True),
        ((1, 11, 21), True),
    ]
    assert [s.ltx.take for s in vse.takes(scene, "S")] == [1, 2]
    assert vse.promote_take(scene, "S", 1) == seg1
    assert [s.mute for s in t2 + [seg1, seg2]] == [True, True, False, False]
    # A take whose other segments failed is removed; complete takes never are.
    vse.import_take(scene, shot, clip24, 3, {}, segment=1, fps=24.0)
    assert vse.remove_incomplete_take(scene, "S", 1) == 0
    assert vse.remove_incomplete_take(scene, "S", 3) == 1
    assert [s.ltx.take for s in vse.take_strips(scene, "S")] == [1, 1, 2, 2]
    with pytest.raises(ValueError, match="no segment 2"):
        vse.import_take(scene, shot, clip24, 4, {}, segment=2)


def test_takes_stack_upwards_newest_active_and_promote(scene, clip24):
    shot = make_shot("sh020", 1, 20)
    for t in (1, 2, 3):
        vse.import_take(scene, shot, clip24, t, {})
    ts = vse.takes(scene, "sh020")
    assert [s.ltx.take for s in ts] == [1, 2, 3]
    assert [s.channel for s in ts] == [1, 2, 3]
    assert [s.mute for s in ts] == [True, True, False]
    assert vse.active_take(scene, "sh020").ltx.take == 3
    before = [(span(s), s.name) for s in ts]
    assert vse.promote_take(scene, "sh020", 1).ltx.take == 1
    ts = vse.takes(scene, "sh020")
    assert [s.mute for s in ts] == [False, True, True]
    assert [(span(s), s.name) for s in ts] == before
    with pytest.raises(KeyError, match="no take 7"):
        vse.promote_take(scene, "sh020", 7)
    # A new take still goes on top, even after promoting an old one.
    assert vse.import_take(scene, shot, clip24, 4, {}).channel == 4


def test_shots_side_by_side_share_channels(scene, clip24):
    a = vse.import_take(scene, make_shot("A", 1, 20), clip24, 1, {})
    b = vse.import_take(scene, make_shot("B", 21, 40), clip24, 1, {})
    assert span(a) == (1, 1, 21) and span(b) == (1, 21, 41)


def test_locked_channels_are_skipped(scene, clip24):
    sed = scene.sequence_editor_create()
    sed.channels[1].lock = True
    assert vse.import_take(scene, make_shot("L", 1, 20), clip24, 1, {}).channel == 2


def test_user_strips_are_never_moved(scene, clip24, tmp_path):
    sed = scene.sequence_editor_create()
    color = compat.new_effect(sed, "bg", "COLOR", 1, 15, 6, None)
    png = tmp_path / "still.png"
    img = bpy.data.images.new("still", 8, 8)
    img.filepath_raw, img.file_format = str(png), "PNG"
    img.save()
    after = compat.strips(sed).new_image(name="after", filepath=str(png), channel=2, frame_start=31)
    after.frame_final_duration = 10
    user = [color, after]
    before = [(s.name, span(s), s.mute, s.select) for s in user]
    shot = make_shot("sh030", 10, 30)
    t1 = vse.import_take(scene, shot, clip24, 1, {})
    # Channel 1 is taken at frames 15-20; channel 2 only after the shot: the take fits there.
    assert span(t1) == (2, 10, 31)
    t2 = vse.import_take(scene, shot, clip24, 2, {})
    assert span(t2) == (3, 10, 31)
    assert [(s.name, span(s), s.mute, s.select) for s in user] == before


def test_metadata_survives_save_and_reload(scene, clip24, tmp_path):
    shot = make_shot("sh040", 5, 20)
    vse.import_take(scene, shot, clip24, 1, {"job_id": "abc", "seed": 7, "prompt": "p"})
    vse.import_take(scene, shot, clip24, 2, {"job_id": "def", "seed": 8, "prompt": "q"})
    vse.promote_take(scene, "sh040", 1)
    path = str(tmp_path / "takes.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=path)
    scene = bpy.data.scenes["Edit"]
    ts = vse.takes(scene, "sh040")
    assert [(s.ltx.take, s.ltx.job_id, s.ltx.seed, s.ltx.prompt, s.mute) for s in ts] == [
        (1, "abc", 7, "p", False),
        (2, "def", 8, "q", True),
    ]
    assert [span(s) for s in ts] == [(1, 5, 21), (2, 5, 21)]
    assert vse.next_take(scene, "sh040") == 3


def shown_clip_frame(scene, frame: int, out: str) -> float:
    """Render the VSE at ``frame`` and return the clip frame on screen (from its gray level)."""
    scene.frame_set(frame)
    scene.render.filepath = out
    bpy.ops.render.render(write_still=True)
    img = bpy.data.images.load(out)
    try:
        px = np.array(img.pixels[:]).reshape(-1, 4)[:, 0].mean()
    finally:
        bpy.data.images.remove(img)
    return float(px * 255 / STEP)  # an 8-bit PNG's pixels are its stored (display) values


def _effect_input(strip):
    """The first input of an effect strip (``input_1`` from 4.4, ``seq1`` before)."""
    return strip.input_1 if hasattr(strip, "input_1") else strip.seq1


def test_clip_rate_differing_from_scene_keeps_real_time(scene, tmp_path):
    scene.render.fps = 30
    scene.render.use_sequencer = True
    scene.render.image_settings.file_format = "PNG"
    scene.view_settings.view_transform = "Standard"  # pixels out == pixels in
    clip = write_clip(tmp_path / "c.mp4", 25, 24)  # 25 frames at 24 fps: just over the 1 s shot
    shot = make_shot("fast", 10, 39, fps=24)  # 30 scene frames = 1 s at 30 fps
    strip = vse.import_take(scene, shot, clip, 1, {})
    sed = scene.sequence_editor
    speed = [s for s in compat.strips(sed) if s.type == "SPEED"]
    assert len(speed) == 1 and _effect_input(speed[0]) == strip
    assert span(strip)[1:] == (10, 40) and span(speed[0]) == (strip.channel + 1, 10, 40)
    assert speed[0].speed_factor == pytest.approx(0.8)
    for k in (0, 9, 10, 20, 29):  # scene frame k of the shot shows clip frame floor(k * 24 / 30)
        assert shown_clip_frame(scene, 10 + k, str(tmp_path / f"f{k}.png")) == pytest.approx(
            int(k * 0.8), abs=0.4
        )
    # Muting follows the take: a second take mutes the first one's speed effect too. The rate passed
    # in (as generation does, from the job) is used instead of opening the clip to read it.
    vse.import_take(scene, shot, clip, 2, {}, fps=24.0)
    assert strip.mute and speed[0].mute
    speed2 = [s for s in compat.strips(sed) if s.type == "SPEED" and s != speed[0]]
    assert len(speed2) == 1 and speed2[0].speed_factor == pytest.approx(0.8)
    vse.promote_take(scene, "fast", 1)
    assert not strip.mute and not speed[0].mute
    assert [s.ltx.take for s in vse.takes(scene, "fast")] == [1, 2]


def test_clip_paths_are_blend_relative_and_safe(scene):
    # Unsaved: the .blend's folder under the clip folder is "untitled" (the naming rules: tests/pure).
    assert vse.clip_path(scene, "sh010", 3) == "//ltx/untitled/sh010/take_3.mp4"
    assert vse.clip_path(scene, "sh010", 3, 1, 2) == "//ltx/untitled/sh010/take_3_seg2.mp4"
    evil = vse.clip_path(scene, "../../etc/passwd", 1)
    assert evil.startswith("//ltx/untitled/") and "/../" not in evil and evil.count("/") == 5
    # Unsaved .blend: a temp project folder, never the current directory.
    assert vse.clip_abspath(scene, "sh010", 3).startswith(blend_paths.unsaved_base())


def test_next_take_counts_files_on_disk(scene, clip24, tmp_path):
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "p.blend"))
    scene = bpy.data.scenes["Edit"]
    assert vse.next_take(scene, "sh050") == 1
    folder = os.path.dirname(vse.clip_abspath(scene, "sh050", 1))
    assert folder == os.path.join(str(tmp_path), "ltx", "p", "sh050")
    os.makedirs(folder)
    open(os.path.join(folder, "take_5.mp4"), "wb").close()
    assert vse.next_take(scene, "sh050") == 6
    open(os.path.join(folder, "take_7_seg2.mp4"), "wb").close()
    assert vse.next_take(scene, "sh050") == 8


def test_two_blends_in_one_folder_keep_their_clips_and_take_numbers_apart(scene, tmp_path):
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "one.blend"))
    one = vse.clip_abspath(bpy.data.scenes["Edit"], "sh070", 1)
    write_clip(one, 17, 24)
    assert vse.next_take(bpy.data.scenes["Edit"], "sh070") == 2
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "two.blend"))
    scene = bpy.data.scenes["Edit"]
    two = vse.clip_abspath(scene, "sh070", 1)
    assert two != one and os.path.dirname(os.path.dirname(two)) == str(tmp_path / "ltx" / "two")
    assert vse.next_take(scene, "sh070") == 1  # one.blend's take 1 is not this file's


def test_a_take_from_before_the_per_blend_folder_stays_readable_and_counted(scene, tmp_path):
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "old.blend"))
    scene = bpy.data.scenes["Edit"]
    old = write_clip(tmp_path / "ltx" / "sh080" / "take_1.mp4", 17, 24)  # the layout before: //ltx/SHOT/
    strip = vse.import_take(scene, make_shot("sh080", 1, 10), "//ltx/sh080/take_1.mp4", 1, {})
    assert os.path.samefile(bpy.path.abspath(strip.filepath), old) and strip.frame_final_duration == 10
    assert vse.next_take(scene, "sh080") == 2  # the new take never reuses the old number
    assert [s.ltx.take for s in vse.takes(scene, "sh080")] == [1]


def test_clip_path_round_trip_saved_and_unsaved(scene, tmp_path):
    shot = make_shot("sh060", 1, 10)
    # Unsaved .blend: the "//" path resolves to the temp project folder, and the strip stores it absolute.
    unsaved = write_clip(vse.clip_abspath(scene, "sh060", 1), 17, 24)
    strip = vse.import_take(scene, shot, vse.clip_path(scene, "sh060", 1), 1, {})
    assert os.path.samefile(strip.filepath, unsaved) and strip.frame_final_duration == 10
    os.remove(unsaved)  # the temp project folder is shared between runs
    # Saved .blend: an absolute path inside the project is stored blend-relative.
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "proj.blend"))
    scene = bpy.data.scenes["Edit"]
    saved = write_clip(vse.clip_abspath(scene, "sh060", 2), 17, 24)
    assert saved == str(tmp_path / "ltx" / "proj" / "sh060" / "take_2.mp4")
    strip = vse.import_take(scene, shot, saved, 2, {})
    assert strip.filepath == "//ltx/proj/sh060/take_2.mp4" and strip.frame_final_duration == 10


def test_missing_clip_is_a_clear_error(scene, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        vse.import_take(scene, make_shot("x", 1, 10), str(tmp_path / "nope.mp4"), 1, {})


def write_clip_with_audio(path, num_frames: int, fps: float) -> str:
    """A real mp4 with an AAC stream of the video's duration (the server's own writer, as for LTX-2)."""
    from server.generation.video import write_mp4

    os.makedirs(os.path.dirname(path), exist_ok=True)
    frames = np.zeros((num_frames, 48, 64, 3), np.uint8)
    rate = 16000
    t = np.arange(int(rate * num_frames / fps)) / rate
    audio = np.stack([np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32) * 0.2
    write_mp4(frames, path, fps, audio=audio, audio_rate=rate)
    return str(path)


def sound_strips(scene, shot: str) -> list:
    return [s for s in vse._shot_strips(scene.sequence_editor, shot) if s.ltx.role == vse.ROLE_SOUND]


def test_sound_strip_follows_its_segment_and_goes_with_an_incomplete_take(scene, tmp_path):
    clip = write_clip_with_audio(tmp_path / "a.mp4", 33, 25.0)  # 25 fps clip, 24 fps scene: a Speed effect
    # A strip of the user's where the sound would go first.
    user = compat.new_effect(scene.sequence_editor_create(), "user", "COLOR", 3, 1, 10, None)
    shot = make_shot("S", 1, 48)
    shot.generation.segments = [Segment(1, 24, 25), Segment(25, 48, 25)]
    movie = vse.import_take(scene, shot, clip, 1, {"job_id": "j1"}, segment=0, fps=25.0, audio=True)
    if not HAS_AUDIO:  # this Blender cannot read audio: the take lands without a sound strip
        assert sound_strips(scene, "S") == [] and movie.name in compat.strips(scene.sequence_editor)
        pytest.skip("this bpy build has no audio (Audaspace), so no sound strip can be made")
    (sound,) = sound_strips(scene, "S")
    assert (sound.frame_final_start, sound.frame_final_end) == (1, 25)  # trimmed to the segment
    assert sound.channel > movie.channel + 1 and sound.channel != user.channel  # above the Speed effect
    assert (sound.ltx.take, sound.ltx.job_id, sound.mute, movie.mute) == (1, "j1", True, True)  # incomplete
    assert vse.takes(scene, "S") == []
    assert vse.remove_incomplete_take(scene, "S", 1) == 3  # movie, speed and sound together
    assert sound_strips(scene, "S") == [] and user.name in compat.strips(scene.sequence_editor)
