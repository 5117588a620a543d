"""Nothing raised on the main-thread tick is lost: the shot gets the sentence, its run ends (so
``generate --wait`` returns), the log has the traceback, and the other shots and the timer go on."""

from __future__ import annotations

import logging

import pytest

bpy = pytest.importorskip("bpy")

from blender_ltx.bl.addon import props  # noqa: E402
from blender_ltx.bl.edit import vse  # noqa: E402
from blender_ltx.bl.flow import generate, staged  # noqa: E402
from blender_ltx.bl.flow.session import session  # noqa: E402
from blender_ltx.bl.link import courier_link, tick  # noqa: E402
from addon_env import demo_blend, registered_addon  # noqa: E402
from support.server import free_port  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def registered():
    with registered_addon():
        yield


def _traceback_logged(caplog, exc_type: type) -> bool:
    return any(r.exc_info and r.exc_info[0] is exc_type for r in caplog.records if r.levelno >= logging.ERROR)


@pytest.mark.server
@pytest.mark.slow
def test_a_message_that_fails_to_apply_ends_its_run_with_the_sentence(
    server, tmp_path, fresh, monkeypatch, caplog
):
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(server.url)
    real_import = vse.import_take

    def import_take(scene, shot, *args, **kwargs):
        if shot.name == "SH010":
            raise ZeroDivisionError("a bug in the import")  # not one of the errors the import expects
        return real_import(scene, shot, *args, **kwargs)

    monkeypatch.setattr(vse, "import_take", import_take)
    assert generate.start_async(bpy.context, ["SH010", "SH020"])["submitted"] == ["SH010", "SH020"]
    # What ``generate --wait`` without --timeout does: it returns once every run has ended.
    assert generate.wait(scene, ["SH010", "SH020"], timeout=180) == []
    ss1, ss2 = props.shot_settings(scene, "SH010"), props.shot_settings(scene, "SH020")
    assert ss1.job_status == "error" and "ZeroDivisionError: a bug in the import" in ss1.message, ss1.message
    assert "console" in ss1.message and ss1.job_id  # the job is kept on the shot: it can re-attach
    assert ss2.job_status == "imported" and len(vse.takes(scene, "SH020")) == 1  # the other shot went on
    assert _traceback_logged(caplog, ZeroDivisionError)


def test_a_hook_that_raises_ends_the_staged_runs_with_the_sentence(tmp_path, fresh, monkeypatch, caplog):
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(f"http://127.0.0.1:{free_port()}")  # nobody there: nothing is ever sent
    props.shot_settings(scene, "SH010").control_kind = "depth"

    def broken(entry):
        raise ZeroDivisionError("a bug in the staged renders")

    monkeypatch.setattr(staged, "_advance", broken)
    generate.start_async(bpy.context, ["SH010"])
    assert len(session.staged) == 1 and generate.pending(scene) == ["SH010"]
    tick.drain()
    ss = props.shot_settings(scene, "SH010")
    assert session.staged == [] and generate.pending(scene) == []
    assert ss.job_status == "error" and "ZeroDivisionError: a bug in the staged renders" in ss.message
    assert staged.poll not in tick.state.hooks and _traceback_logged(caplog, ZeroDivisionError)


def test_the_timer_keeps_ticking_when_a_tick_raises(fresh, monkeypatch, caplog):
    def broken() -> None:
        raise ZeroDivisionError("a bug in the link")

    monkeypatch.setattr(courier_link.get(), "pump", broken)
    monkeypatch.setattr(courier_link.get(), "busy", lambda: True)
    # Blender unregisters a timer whose callback raises, and every answer after it would wait forever.
    assert tick.on_timer() == tick.TICK_BUSY_S
    assert _traceback_logged(caplog, ZeroDivisionError)
