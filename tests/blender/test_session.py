"""The session's live state is one object reset in one call: loading another .blend drops the open
file's jobs (runs, staged control renders, the courier's jobs, the tick's hooks) and keeps what the
session knows of servers; unregistering the add-on drops that too."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

import blender_ltx  # noqa: E402
from blender_ltx.bl.flow import session as session_mod  # noqa: E402
from blender_ltx.bl.flow import staged  # noqa: E402
from blender_ltx.bl.flow.session import session  # noqa: E402
from blender_ltx.bl.link import connection, courier_link, tick  # noqa: E402
from blender_ltx.core import server_info  # noqa: E402
from blender_ltx.core.courier_wire import ClientConfig, Track  # noqa: E402
from support.server import free_port  # noqa: E402

HEALTH = {"model": "tiny", "capabilities": ["keyframes"]}


def _fill(url: str) -> Path:
    """Something in every part of the session; returns the staged run's file-copy folder."""
    session.runs[(1, "SH010")] = object()  # what the flow keeps is opaque to the reset
    copy = staged.FileCopy()
    folder = Path(tempfile.mkdtemp(prefix="ltx_previs_"))
    (folder / "copy.blend").write_bytes(b"")
    copy._path = str(folder / "copy.blend")  # as save_copy leaves it, without rendering anything
    session.staged.append(staged.Staged((1, "SH020"), object(), [], [], copy, None))
    tick.add_hook(lambda: 1, lambda _sentence: None)
    courier_link.get().send(Track((1, "SH030", 0), ClientConfig(url), "job-1", "/nonexistent/take_1.mp4"))
    connection.set_server(url)
    server_info.remember(url, HEALTH)
    return folder


def _file_state_is_empty(folder: Path) -> None:
    assert session.runs == {} and session.staged == [] and not folder.exists()
    assert tick.state.hooks == {} and not courier_link.get().busy()


def test_loading_a_file_resets_its_jobs_and_unregister_resets_the_session(tmp_path):
    was = hasattr(bpy.types.Scene, "ltx")
    if not was:
        blender_ltx.register()
    url = f"http://127.0.0.1:{free_port()}"  # nobody there: the followed job is never reached
    try:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "other.blend"))
        folder = _fill(url)
        bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "other.blend"))  # load_pre: the one call
        _file_state_is_empty(folder)
        assert connection.server_url() == url and server_info.get(url) == HEALTH  # the session's

        folder = _fill(url)
        blender_ltx.unregister()
        _file_state_is_empty(folder)
        assert connection.server_url() != url and server_info.get(url) is None
    finally:
        session_mod.reset(servers=True)
        if was:
            blender_ltx.register()
        courier_link.get().close()


def test_the_one_reset_is_what_tests_call(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    folder = _fill(url)
    try:
        session_mod.reset(servers=True)
        _file_state_is_empty(folder)
        assert connection.server_url() != url and server_info.get(url) is None
    finally:
        courier_link.get().close()
