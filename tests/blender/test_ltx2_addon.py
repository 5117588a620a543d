"""The add-on against the tiny LTX-2 on a real server over loopback: a sound strip per take that follows
its movie strip, a long shot as ONE strip (the server chains it: started with a small
``--segment-frames``), audio off and a chosen camera LoRA in the request, and switches greyed out from
the server's capabilities (an LTX-Video server has no audio and no camera LoRAs)."""

from __future__ import annotations

import json

import pytest

pytestmark = [
    pytest.mark.blender,
    pytest.mark.server,
    pytest.mark.slow,
    pytest.mark.usefixtures("registered"),
]
bpy = pytest.importorskip("bpy")

from blender_ltx.bl.link import connection  # noqa: E402
from blender_ltx.bl.flow import generate  # noqa: E402
from blender_ltx.bl.addon import props  # noqa: E402
from blender_ltx.bl.edit import vse  # noqa: E402
from blender_ltx.core import server_info  # noqa: E402
from blender_ltx.core.client import Client  # noqa: E402
from addon_env import HAS_AUDIO, demo_blend  # noqa: E402
from support.server import run_server  # noqa: E402

#: One generation makes at most 33 frames: the demo's 48-frame shots (49 generated) are chained.
SEGMENT = ["--segment-frames", "33"]


@pytest.fixture(scope="module")
def ltx2_chained(tmp_path_factory, tiny_ltx2_dir):
    """Like conftest's ``ltx2``, but one generation makes at most 33 frames."""
    env = {"OMP_NUM_THREADS": "1"}
    srv_dir = tmp_path_factory.mktemp("srv2")
    with run_server(srv_dir, model=str(tiny_ltx2_dir), env=env, extra_args=SEGMENT) as srv:
        yield srv


def quiet(_line: str) -> None:
    pass


def own(scene, shot: str, role: str) -> list:
    return [s for s in vse._shot_strips(scene.sequence_editor, shot) if s.ltx.role == role]


def test_long_shot_one_strip_with_its_sound_strip_following_the_take(ltx2_chained, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(ltx2_chained.url)

    assert generate.run_sync(scene, ["SH010"], report=quiet)["imported"] == ["SH010"]
    health = server_info.get(ltx2_chained.url)
    assert health["family"] == "ltx2" and health["segment_frames"] == 33
    shot = props.load_plan(scene).shot("SH010")
    assert shot.length == 48 and len(shot.generation.segments) <= 1  # one job: the server chains it
    ss = props.shot_settings(scene, "SH010")
    assert "," not in ss.job_id
    job = Client(ltx2_chained.url).status(ss.job_id)
    assert job["request"]["num_frames"] == 49 > health["segment_frames"]
    assert job["applied"]["audio"]["seconds"] > 0

    (movie,) = own(scene, "SH010", vse.ROLE_TAKE)
    assert (movie.frame_final_start, movie.frame_final_duration) == (shot.frame_start, shot.length)
    if not HAS_AUDIO:  # this Blender cannot read audio: the take lands alone, the rest is about sound
        assert own(scene, "SH010", vse.ROLE_SOUND) == []
        pytest.skip("this bpy build has no audio (Audaspace), so no sound strip can be made")
    (sound,) = own(scene, "SH010", vse.ROLE_SOUND)
    assert (movie.frame_final_start, movie.frame_final_duration) == (shot.frame_start, shot.length)
    assert (sound.frame_final_start, sound.frame_final_duration) == (shot.frame_start, shot.length)
    assert sound.channel > movie.channel and sound.type == "SOUND"
    assert (sound.ltx.take, sound.ltx.job_id, sound.mute) == (1, ss.job_id, False)
    assert json.loads(sound.ltx.applied)["audio"]["sample_rate"] > 0

    # A second take stacks above, with its own sound; the first take's movie and sound are muted.
    assert generate.run_sync(scene, ["SH010"], report=quiet)["imported"] == ["SH010"]
    movies = {s.ltx.take: s for s in own(scene, "SH010", vse.ROLE_TAKE)}
    sounds = {s.ltx.take: s for s in own(scene, "SH010", vse.ROLE_SOUND)}
    assert sorted(movies) == sorted(sounds) == [1, 2]
    assert min(movies[2].channel, sounds[2].channel) > max(movies[1].channel, sounds[1].channel)
    assert [movies[1].mute, sounds[1].mute, movies[2].mute, sounds[2].mute] == [True, True, False, False]
    vse.promote_take(scene, "SH010", 1)
    assert [movies[1].mute, sounds[1].mute, movies[2].mute, sounds[2].mute] == [False, False, True, True]
    assert len(vse.takes(scene, "SH010")) == 2  # sound strips are not takes of their own


def test_audio_off_and_a_chosen_camera_lora_go_into_the_request(ltx2_chained, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(ltx2_chained.url)
    assert generate.learn_server(generate.client_config())
    assert connection.capability(bpy.context, "audio") == (True, "")
    names = [lo["adapter"] for lo in connection.server_loras(bpy.context, "camera")]
    assert names, server_info.get(ltx2_chained.url)
    ss = props.shot_settings(scene, "SH020")
    ss.audio = False
    ss.camera_lora, ss.camera_lora_scale = names[0], 0.5

    assert generate.run_sync(scene, ["SH020"], report=quiet)["imported"] == ["SH020"]
    job = Client(ltx2_chained.url).status(ss.job_id)
    # The server did what the request asked: no audio track, the named LoRA at the shot's scale.
    assert "audio" not in job["applied"] and "audio" not in job["applied"]["layers"]
    assert job["applied"]["camera_lora"]["name"] == names[0] and job["applied"]["camera_lora"]["scale"] == 0.5
    assert own(scene, "SH020", vse.ROLE_SOUND) == [] and len(own(scene, "SH020", vse.ROLE_TAKE)) == 1
    (movie,) = own(scene, "SH020", vse.ROLE_TAKE)
    assert json.loads(movie.ltx.applied)["camera_lora"]["name"] == names[0]
    assert f"camera LoRA {names[0]} 0.5" in ss.message


def test_greying_follows_the_server_capabilities(tmp_path, tiny_model_dir, fresh):
    url_never_asked = "http://127.0.0.1:9"
    generate.set_server(url_never_asked)
    assert connection.capability(bpy.context, "audio") == (True, server_info.NOT_CHECKED)
    with run_server(tmp_path / "srv", model=str(tiny_model_dir)) as srv:
        generate.set_server(srv.url)
        ok, sentence = generate.test_connection(bpy.context)
    assert ok and "family ltx-video" in sentence and "LoRAs: none" in sentence
    for name in ("audio", "camera_lora"):
        available, reason = connection.capability(bpy.context, name)
        assert not available and "ltx-video" in reason and srv.url in reason
    assert connection.capability(bpy.context, "keyframes") == (True, "")
