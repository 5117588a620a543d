"""The network courier: a child process does all of generation's network I/O, so no thread of ours runs
in Blender's process; it is restarted when it crashes or hangs (its jobs followed again, each take
imported once), and it dies with Blender."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.blender,
    pytest.mark.server,
    pytest.mark.slow,
    pytest.mark.usefixtures("registered"),
]
bpy = pytest.importorskip("bpy")

from blender_ltx.bl.flow import generate, submit  # noqa: E402
from blender_ltx.bl.addon import props  # noqa: E402
from blender_ltx.bl.edit import vse  # noqa: E402
from blender_ltx.bl.link import courier_link, tick  # noqa: E402
from blender_ltx.core import courier_wire  # noqa: E402
from blender_ltx.core.client import Client  # noqa: E402
from addon_env import demo_blend  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
#: Threads in this process before the add-on is registered (pytest's, bpy's): none may be added.
BASELINE = {t.ident for t in threading.enumerate()}


def _ours() -> list[str]:
    return [t.name for t in threading.enumerate() if t.ident not in BASELINE]


def _gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped counts: it runs nothing)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return any(line.split()[1:2] == ["Z"] for line in f if line.startswith("State:"))
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def _pump_until(done, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        tick.drain()  # what the timer does in a running Blender
        assert not _ours(), f"threads of ours in Blender's process: {_ours()}"
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _start_one(server, tmp_path, steps: int = 30):
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(server.url)
    ss = props.shot_settings(scene, "SH010")
    ss.steps = steps  # long enough to still be running when the courier is hit
    assert generate.start_async(bpy.context, ["SH010"])["submitted"] == ["SH010"]
    _pump_until(lambda: ss.job_status == "running", f"SH010 never ran: {ss.message}")
    return scene, ss


def _notes(monkeypatch) -> list[str]:
    seen: list[str] = []

    def handler(message) -> None:
        if isinstance(message, courier_link.Note):
            seen.append(message.message)
        generate.apply_message(message)

    monkeypatch.setattr(tick.state, "handler", handler)
    return seen


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_no_thread_of_ours_runs_and_a_killed_courier_is_restarted(server, tmp_path, fresh, monkeypatch):
    notes = _notes(monkeypatch)
    scene, ss = _start_one(server, tmp_path)
    link = courier_link.get()
    old = link.pid
    assert old and old != os.getpid() and not _ours()
    restarts = len(link.restarts)
    os.kill(old, signal.SIGKILL)
    _pump_until(lambda: ss.job_status == "imported", f"not imported after the kill: {ss.message}")
    assert len(link.restarts) == restarts + 1 and link.pid not in (0, old)
    assert any(ss.job_id in n and "follows job" in n for n in notes), notes
    # Imported once, from the job that was running when the courier died.
    (strip,) = vse.takes(scene, "SH010")
    assert strip.ltx.job_id == ss.job_id
    assert _gone(old)


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="POSIX signals")
def test_a_hung_courier_is_detected_and_replaced(server, tmp_path, fresh, monkeypatch):
    monkeypatch.setattr(courier_link, "HANG_S", 2.0)
    notes = _notes(monkeypatch)
    scene, ss = _start_one(server, tmp_path)
    link = courier_link.get()
    old = link.pid
    restarts = len(link.restarts)
    os.kill(old, signal.SIGSTOP)  # alive, connected, silent: no heartbeat
    try:
        _pump_until(lambda: len(link.restarts) > restarts, "the stopped courier was never replaced", 30)
        assert "stopped answering" in " ".join(notes), notes
        _pump_until(lambda: ss.job_status == "imported", f"not imported after the hang: {ss.message}")
    finally:
        if not _gone(old):
            os.kill(old, signal.SIGKILL)
    assert _gone(old) and link.pid not in (0, old)
    assert [s.ltx.job_id for s in vse.takes(scene, "SH010")] == [ss.job_id]


def test_test_connection_asks_through_the_courier_without_blocking(fresh):
    # Accepts the connection (the kernel does) and never answers: what a wedged server looks like.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(1)
        cfg = courier_wire.ClientConfig(f"http://127.0.0.1:{hung.getsockname()[1]}", timeout=1.0)
        link = courier_link.get()
        probe_id = link.probe(cfg)
        assert link.probe_answer(probe_id) is None  # asked, not answered: the caller is free at once
        deadline = time.monotonic() + 30
        while (answer := link.probe_answer(probe_id)) is None:
            assert not _ours()
            assert time.monotonic() < deadline
            time.sleep(0.05)
    ok, sentence = answer
    assert not ok and "did not answer" in sentence


QUITTER = textwrap.dedent(
    """
    import sys, time
    import bpy, blender_ltx
    from blender_ltx.bl.link import courier_link
    from blender_ltx.core import courier_wire
    blender_ltx.register()
    link = courier_link.get()
    link.probe(courier_wire.ClientConfig("http://127.0.0.1:9"))
    while not link.pid:
        link.pump()
        time.sleep(0.05)
    print(link.pid, flush=True)
    time.sleep(600)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9")
def test_the_courier_exits_when_blender_dies():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    blender = subprocess.Popen(
        [sys.executable, "-c", QUITTER], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        pid = int(blender.stdout.readline())
        assert pid and not _gone(pid)
        blender.kill()  # kill -9: no atexit, no unregister; only the OS closes its socket
        blender.wait(30)
        deadline = time.monotonic() + 30
        while not _gone(pid):
            assert time.monotonic() < deadline, f"courier {pid} outlived Blender"
            time.sleep(0.1)
    finally:
        blender.kill()
        blender.wait(30)


def test_undo_after_a_background_import_takes_out_that_take_only(server, tmp_path, fresh):
    # bpy as a module has a window manager and a window, so the undo stack works as in Blender.
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(server.url)
    assert generate.start_async(bpy.context, ["SH010"])["submitted"] == ["SH010"]
    bpy.ops.ed.undo_push(message="Generate Shot")  # the operator's own step: no job id yet
    ss = props.shot_settings(scene, "SH010")
    _pump_until(lambda: ss.job_status == "running", ss.message)
    job = ss.job_id
    scene.render.resolution_x += 2  # an unrelated edit while the job runs, then undone
    bpy.ops.ed.undo_push(message="Resolution")
    bpy.ops.ed.undo()
    scene = bpy.context.scene
    ss = props.shot_settings(scene, "SH010")
    assert ss.job_id == job and ss.job_status in ("queued", "running")  # put back: still followed
    deadline = time.monotonic() + 120
    while ss.job_status != "imported":
        tick.on_timer()  # what Blender's timer calls
        assert ss.job_status not in ("failed", "error"), ss.message
        assert time.monotonic() < deadline, ss.message
        time.sleep(0.02)
    assert ss.job_id == job

    def shot():
        return bpy.context.scene, props.shot_settings(bpy.context.scene, "SH010")

    bpy.ops.ed.undo()  # the import, and nothing else: the state just before it, job id and all
    scene, ss = shot()
    assert vse.takes(scene, "SH010") == []
    assert ss.job_id == job and ss.job_status == "succeeded"
    assert f"re-attaches job {job}" in ss.message
    bpy.ops.ed.redo()  # brings the take back
    scene, ss = shot()
    assert [s.ltx.job_id for s in vse.takes(scene, "SH010")] == [job] and ss.job_status == "imported"
    bpy.ops.ed.undo()
    scene, ss = shot()
    # Re-attached: the same job's clip comes in again, as a take of its own.
    assert generate.submit(scene, ["SH010"])["attached"] == ["SH010"]
    assert not generate.wait(scene, ["SH010"], timeout=120)
    scene, ss = shot()
    assert [s.ltx.job_id for s in vse.takes(scene, "SH010")] == [job] and ss.job_status == "imported"


def test_a_loaded_file_keeps_job_ids_and_takes_but_not_live_progress(tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    bpy.ops.ltx.refresh_plan()
    first, second = props.plan_shots(scene)[:2]
    first.job_id, first.job_status, first.progress = "job-7", "failed", 0.4
    first.message = "The server failed this job: out of memory"
    second.job_id, second.job_status, second.progress, second.message = "job-8", "imported", 1.0, "Take 1 in."
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "edit.blend"))
    first, second = props.plan_shots(bpy.context.scene)[:2]
    assert (first.job_id, first.job_status, second.job_id, second.job_status) == (
        "job-7",
        "failed",
        "job-8",
        "imported",
    )
    assert (first.progress, first.message, second.progress, second.message) == (0.0, "", 1.0, "")


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="POSIX signals")
def test_a_submit_cut_off_by_a_courier_kill_is_sent_again_and_lands_once(
    server, tmp_path, fresh, monkeypatch
):
    notes = _notes(monkeypatch)
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(server.url)
    client = Client(server.url)
    before = len(client.list_jobs())
    link = courier_link.get()
    link.probe(courier_wire.ClientConfig(server.url))  # the courier is up, as after any earlier click
    _pump_until(lambda: link.pid and not link.busy(), "the courier never answered", 30)
    old = link.pid
    # The server takes the connection (the kernel does) and answers nothing: the courier is inside the
    # submit when it dies, and whether the server made the job is not known to anyone.
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        # Guides rendered here, the submit handed to the courier at once (a click would render them in
        # the background first: the courier's part is the same).
        assert _send_now(scene, "SH010")["submitted"] == ["SH010"]
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            link.pump()  # the submit goes out to the courier, which posts it
            time.sleep(0.02)
        os.kill(old, signal.SIGKILL)
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    ss = props.shot_settings(scene, "SH010")
    _pump_until(lambda: ss.job_status == "imported", f"not imported after the kill: {ss.message}")
    assert link.pid not in (0, old) and any("sends this submit again" in n for n in notes), notes
    assert len(client.list_jobs()) == before + 1  # the server made one job of the two posts
    assert [s.ltx.job_id for s in vse.takes(scene, "SH010")] == [ss.job_id]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_a_submit_the_server_took_before_the_courier_died_is_not_made_twice(
    server, tmp_path, fresh, monkeypatch
):
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(server.url)
    client = Client(server.url)
    before = len(client.list_jobs())
    link = courier_link.get()
    link.probe(courier_wire.ClientConfig(server.url))
    _pump_until(lambda: link.pid and not link.busy(), "the courier never answered", 30)
    old = link.pid
    assert _send_now(scene, "SH010")["submitted"] == ["SH010"]  # handed to the courier
    deadline = time.monotonic() + 30
    while len(client.list_jobs()) == before:  # Blender reads nothing meanwhile: the answer waits
        assert time.monotonic() < deadline, "the courier never posted the submit"
        time.sleep(0.02)
    os.kill(old, signal.SIGKILL)
    while not _gone(old):
        time.sleep(0.02)
    # The courier died before its answer reached Blender (here: the answer is dropped unread with the
    # dead courier's socket). The submit is sent again; the server answers with the job it made.
    link._restart("was killed")
    ss = props.shot_settings(scene, "SH010")
    _pump_until(lambda: ss.job_status == "imported", f"not imported after the kill: {ss.message}")
    assert len(client.list_jobs()) == before + 1
    assert [s.ltx.job_id for s in vse.takes(scene, "SH010")] == [ss.job_id]


def _send_now(scene, shot: str) -> dict:
    """The shot's guides rendered here and its submit handed to the courier at once (no staging)."""
    return submit.submit(scene, [shot], report=None, cfg=generate.client_config(bpy.context))
