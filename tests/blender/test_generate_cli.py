"""``python -m blender_ltx generate`` as a subprocess against the real server (tiny model), and the local
server process the add-on starts."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = [
    pytest.mark.blender,
    pytest.mark.server,
    pytest.mark.slow,
    pytest.mark.usefixtures("registered"),
]
bpy = pytest.importorskip("bpy")

from blender_ltx.bl.flow import generate  # noqa: E402
from blender_ltx.bl.addon import props  # noqa: E402
from blender_ltx.bl.link import server_process  # noqa: E402
from blender_ltx.bl.edit import vse  # noqa: E402
from blender_ltx.bl.addon.prefs import DEFAULTS  # noqa: E402
from blender_ltx.core.client import Client  # noqa: E402
from addon_env import cli, demo_blend, reopen, saved_demo  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def test_generate_wait_imports_saves_and_keeps_a_backup(server, tmp_path):
    blend = saved_demo(tmp_path / "shot.blend")
    original = blend.read_bytes()
    out = cli("generate", str(blend), "--shots", "SH010", "--server", server.url, "--wait")
    assert out.returncode == 0, out.stderr + out.stdout
    assert "SH010: Generating" in out.stdout and "SH010: Take 1 imported" in out.stdout
    assert (tmp_path / "shot.blend1").read_bytes() == original
    scene = reopen(blend)
    (strip,) = vse.takes(scene, "SH010")
    assert (strip.frame_final_start, strip.frame_final_duration) == (1, 48)
    assert os.path.isfile(tmp_path / "ltx" / "shot" / "SH010" / "take_1.mp4")
    assert vse.takes(scene, "SH020") == []


def test_generate_without_wait_then_wait_picks_the_job_up(server, tmp_path):
    blend = saved_demo(tmp_path / "shot.blend")
    first = cli("generate", str(blend), "--shots", "SH020", "--server", server.url)
    assert first.returncode == 0, first.stderr + first.stdout
    assert "submitted SH020" in first.stdout
    ss = props.shot_settings(reopen(blend), "SH020", create=False)
    job_id = ss.job_id
    assert job_id and ss.job_status in ("queued", "running", "succeeded")

    out_blend = tmp_path / "cut.blend"
    second = cli("generate", str(blend), "--shots", "SH020", "--server", server.url, "--wait",
                 "--output", str(out_blend))  # fmt: skip
    assert second.returncode == 0, second.stderr + second.stdout
    assert "attached SH020" in second.stdout and "imported SH020" in second.stdout
    scene = reopen(out_blend)
    assert [s.ltx.job_id for s in vse.takes(scene, "SH020")] == [job_id]
    clip = bpy.path.abspath(vse.takes(scene, "SH020")[0].filepath)
    assert clip == str(tmp_path / "ltx" / "shot" / "SH020" / "take_1.mp4")


def test_generate_against_no_server_fails_with_a_sentence(tmp_path):
    blend = saved_demo(tmp_path / "shot.blend")
    out = cli("generate", str(blend), "--shots", "SH010", "--server", "http://127.0.0.1:9", "--wait")
    assert out.returncode == 1
    # The summary says what happened, once: not "submitted SH010; failed SH010".
    assert "failed SH010 (No LTX server at http://127.0.0.1:9:" in out.stdout
    assert "submitted SH010" not in out.stdout
    bad = cli("generate", str(tmp_path / "missing.blend"), "--wait")
    assert bad.returncode == 1 and "does not exist" in bad.stderr


def _jobs(server) -> int:
    return len(Client(server.url).list_jobs())


def test_unwritable_output_or_clip_folder_fails_before_anything_is_sent(server, tmp_path):
    blend = saved_demo(tmp_path / "shot.blend")
    before = _jobs(server)
    (tmp_path / "afile").write_text("x")
    out = cli("generate", str(blend), "--server", server.url, "--output", str(tmp_path / "afile" / "o.blend"))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "--output" in out.stderr and "pick another path" in out.stderr
    (tmp_path / "ltx").write_text("a file where the clip folder goes")
    out = cli("generate", str(blend), "--server", server.url, "--wait")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "clip folder of shot SH010" in out.stderr and "is a file" in out.stderr
    assert _jobs(server) == before  # nothing submitted, so no job runs that no file records


def test_a_bad_shot_after_good_ones_sends_nothing(server, tmp_path):
    demo_blend(tmp_path / "shot.blend")
    bpy.ops.mesh.primitive_cube_add()
    marker = bpy.context.scene.timeline_markers[-1]
    marker.camera, last = bpy.context.active_object, marker.name
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    before = _jobs(server)
    out = cli("generate", str(tmp_path / "shot.blend"), "--server", server.url, "--force")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"Shot {last} is filmed through 'Cube'" in out.stderr and "bind its marker" in out.stderr
    assert "refresh the shot plan" not in out.stderr
    assert _jobs(server) == before


def test_wait_timeout_exits_non_zero_naming_the_shots_not_imported(server, tmp_path):
    blend = saved_demo(tmp_path / "shot.blend")
    out = cli("generate", str(blend), "--shots", "SH010", "--server", server.url, "--wait", "--timeout", "0")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Not imported within --timeout 0 s: SH010." in out.stderr
    assert "not imported yet: SH010" in out.stdout
    ss = props.shot_settings(reopen(blend), "SH010", create=False)
    assert ss.job_id and ss.job_status in ("queued", "running", "succeeded")  # a later --wait picks it up


def test_connection_sentences(server):
    generate.set_server(server.url)
    try:
        ok, sentence = generate.test_connection()
        assert ok and sentence.startswith(f"Connected to {server.url}: model ") and "cpu" in sentence
        generate.set_server("http://127.0.0.1:9")
        ok, sentence = generate.test_connection()
        assert not ok and sentence.startswith("No LTX server at http://127.0.0.1:9:")
    finally:
        generate.set_server(None)


def test_local_server_starts_answers_and_stops(tmp_path, tiny_model_dir):
    prefs = SimpleNamespace(**{**DEFAULTS, "server_model": str(tiny_model_dir), "server_device": "cpu",
                               "server_data_dir": str(tmp_path / "data"),
                               "server_python": os.environ.get("LTX_SERVER_PYTHON", "")})  # fmt: skip
    url = server_process.start(prefs, port=0, wait_s=180)
    try:
        assert server_process.is_running() and server_process.url() == url
        assert server_process.start(prefs) == url  # already running: the same one
        generate.set_server(url)
        assert generate.test_connection()[0]
    finally:
        generate.set_server(None)
        server_process.stop()
    assert not server_process.is_running()
    with pytest.raises(ValueError, match="not on this computer"):
        server_process.start(SimpleNamespace(**{**DEFAULTS, "server_url": "http://10.1.2.3:8765"}))
