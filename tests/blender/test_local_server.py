"""Blender's main thread never waits on the local server: Stop Server asks it to stop and returns, the
tick sees it go (and kills it after a grace period); at quit the wait is short and bounded; a click
learns whether a server already answers through the courier, never with a blocking health call."""

from __future__ import annotations

import os
import signal
import socket
import time
from types import SimpleNamespace

import pytest

pytestmark = [pytest.mark.blender, pytest.mark.server, pytest.mark.slow]
bpy = pytest.importorskip("bpy")

from blender_ltx.bl.addon.prefs import DEFAULTS, get_prefs  # noqa: E402
from blender_ltx.bl.link import connection, courier_link, server_process, tick  # noqa: E402
from blender_ltx.core.courier_wire import ClientConfig  # noqa: E402
from addon_env import enabled_as_addon  # noqa: E402

#: What "returns at once" means on a shared, loaded test machine (the old calls took 1 s and 10 s).
AT_ONCE_S = 0.05


def _spec(tmp_path, model_dir, **kw) -> SimpleNamespace:
    return SimpleNamespace(**{**DEFAULTS, "server_model": str(model_dir), "server_device": "cpu",
                              "server_data_dir": str(tmp_path / "data"),
                              "server_python": os.environ.get("LTX_SERVER_PYTHON", ""), **kw})  # fmt: skip


def _stuck_server(tmp_path, model_dir):
    """A real local server, answering, then frozen as one deep in a step is: SIGTERM has to wait."""
    server_process.start(_spec(tmp_path, model_dir), port=0, wait_s=180)
    proc = server_process._proc
    os.kill(proc.pid, signal.SIGSTOP)
    return proc


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="POSIX signals")
def test_stop_returns_at_once_and_the_tick_kills_a_server_that_does_not_stop(
    tmp_path, tiny_model_dir, monkeypatch
):
    monkeypatch.setattr(server_process, "STOP_GRACE_S", 1.0)
    proc = _stuck_server(tmp_path, tiny_model_dir)
    try:
        t0 = time.perf_counter()
        server_process.stop()
        took = time.perf_counter() - t0
        assert took < AT_ONCE_S, f"stop() blocked Blender for {took:.3f} s"
        assert not server_process.is_running() and proc.poll() is None and server_process.watch_stopping()
        with pytest.raises(ValueError, match="still stopping"):  # not a second one on the same data dir
            server_process.start(_spec(tmp_path, tiny_model_dir), port=0)
        deadline = time.monotonic() + 30
        while server_process.watch_stopping():
            tick.drain()  # what the timer does: the kill after the grace comes from here
            assert time.monotonic() < deadline, "the stuck server was never killed"
            time.sleep(0.05)
        assert proc.returncode == -signal.SIGKILL
    finally:
        server_process.stop_at_quit(wait_s=5)


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="POSIX signals")
def test_at_quit_the_wait_for_a_server_that_does_not_stop_is_short(tmp_path, tiny_model_dir):
    proc = _stuck_server(tmp_path, tiny_model_dir)
    t0 = time.perf_counter()
    server_process.stop_at_quit()
    took = time.perf_counter() - t0
    assert took < server_process.QUIT_WAIT_S + 1.5, took
    assert proc.returncode == -signal.SIGKILL and not server_process.watch_stopping()


def test_a_click_asks_through_the_courier_and_the_tick_starts_the_local_server(
    tmp_path, tiny_model_dir, fresh
):
    link = courier_link.get()
    link.probe(ClientConfig("http://127.0.0.1:9"))  # the courier runs already, as after any earlier click
    deadline = time.monotonic() + 30
    while not link.pid:
        link.pump()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    # Accepts the connection (the kernel does) and never answers: what a wedged server looks like.
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(1)
    url = f"http://127.0.0.1:{hung.getsockname()[1]}"
    try:
        with enabled_as_addon():
            p = get_prefs()
            for k, v in vars(
                _spec(tmp_path, tiny_model_dir, server_url=url, start_local_server=True)
            ).items():
                setattr(p, k, v)
            ctx = bpy.context
            t0 = time.perf_counter()
            cfg = connection.with_local_server(connection.client_config(ctx), ctx)
            took = time.perf_counter() - t0
            assert took < AT_ONCE_S, f"the click waited {took:.3f} s on the server's health"
            assert cfg.start_wait_s == connection.LOCAL_START_WAIT_S and not server_process.is_running()
            hung.close()  # the courier's question now finds nobody there: the tick starts ours
            while not server_process.is_running():
                tick.drain()
                assert time.monotonic() < deadline + 30, "the local server was never started"
                time.sleep(0.05)
            assert server_process.url() == url
            p.server_python = str(tmp_path / "no-such-python")  # checked in the click, with its sentence
            server_process.stop()
            with pytest.raises(ValueError, match="no-such-python does not exist"):
                connection.with_local_server(connection.client_config(ctx), ctx)
    finally:
        hung.close()
        server_process.stop_at_quit(wait_s=10)
