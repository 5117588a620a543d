"""The local generation server as a child process of Blender.

The server runs from its own Python environment (``server_python`` in the preferences: torch and
diffusers live there, never in Blender's Python): ``PY -m server --model M --device D --data-dir DIR
--port P``. It is started on request, watched through ``/v1/health`` and stopped when Blender quits
(atexit) or the add-on is disabled. Loading another .blend keeps it running: its jobs belong to the
server, and the next file may re-attach to them.

Stopping never blocks Blender's main thread: ``stop`` asks the server to stop (SIGTERM, which lets it
end the step it is in) and returns at once; ``watch_stopping``, on the tick and on a timer of its own,
reaps it once it is gone or kills it when ``STOP_GRACE_S`` is over. Only at quit does Blender wait, for
at most ``QUIT_WAIT_S`` in all, before it kills what is left.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import subprocess
import sys
import time
import urllib.parse

from ...core.client import Client, is_loopback_url, normalize_url
from ...core.protocol import DEFAULT_PORT, ServerError

#: A stopping server gets this long to end its step before it is killed.
STOP_GRACE_S = 45.0
#: At quit, how long Blender waits in all for stopping servers before it kills them.
QUIT_WAIT_S = 3.0
#: How often the stopping watch looks while a server is stopping.
WATCH_S = 0.25

_proc: subprocess.Popen | None = None
_url = ""
_log_path = ""
#: Servers asked to stop and not yet gone: the process -> when it is killed (monotonic).
_stopping: dict[subprocess.Popen, float] = {}


def server_python(prefs) -> str:
    """The interpreter of the server environment: the preference, or this one when it has torch and the
    server package (bpy as a module inside the project's venv, the demo, the tests)."""
    py = (getattr(prefs, "server_python", "") or "").strip()
    if py:
        py = os.path.expanduser(py)
        if not os.path.isfile(py):
            raise ValueError(
                f"Server Python {py} does not exist: set it to the python of the server environment."
            )
        return py
    if importlib.util.find_spec("torch") is not None and importlib.util.find_spec("server") is not None:
        return sys.executable
    raise ValueError(
        "Set Server Python in the add-on preferences to the interpreter of the server environment "
        "(the one with torch and diffusers); Blender's own Python cannot run the server."
    )


def data_dir(prefs) -> str:
    d = (getattr(prefs, "server_data_dir", "") or "").strip()
    if d:
        import bpy

        return os.path.abspath(bpy.path.abspath(d))
    try:
        import bpy

        base = bpy.utils.user_resource("CONFIG", path="blender_ltx", create=True)
    except (ImportError, RuntimeError, ValueError):
        base = ""
    return os.path.join(base or os.path.expanduser("~/.cache/blender_ltx"), "server")


def is_running() -> bool:
    return _proc is not None and _proc.poll() is None


def exited() -> bool:
    """The server this process started has stopped (crashed at start, bad model...)."""
    return _proc is not None and _proc.poll() is not None


def exit_sentence() -> str:
    return f"The local server exited at start: {_log_tail()}"


def url() -> str:
    """Base URL of the server this process started ('' when none runs)."""
    return _url if is_running() else ""


def check(prefs) -> str:
    """The base URL a local server would listen on; ValueError (one sentence) for settings it cannot
    start with (checked before anything waits on it)."""
    base = normalize_url(getattr(prefs, "server_url", "") or f"http://127.0.0.1:{DEFAULT_PORT}")
    if not is_loopback_url(base):
        raise ValueError(
            f"The server URL {base} is not on this computer; a local server listens on 127.0.0.1: "
            "set the URL to http://127.0.0.1:8765 to use it."
        )
    server_python(prefs)
    return base


def start(prefs, *, port: int | None = None, wait_s: float = 0.0) -> str:
    """Start the server (no-op when ours already runs) and return its URL.

    The port comes from the preferences' server URL (so the add-on finds it there), or ``port``; 0 lets
    the server pick a free one (read back from its port file, which needs ``wait_s`` > 0)."""
    global _proc, _url, _log_path
    if is_running():
        return _url
    base = check(prefs)
    if watch_stopping():
        raise ValueError(
            "The local server is still stopping (it ends the step it is in): start it again in a moment."
        )
    if port is None:
        port = urllib.parse.urlsplit(base).port or DEFAULT_PORT
    ddir = data_dir(prefs)
    os.makedirs(ddir, exist_ok=True)
    port_file = os.path.join(ddir, "port")
    if os.path.exists(port_file):
        os.remove(port_file)
    cmd = [
        server_python(prefs), "-m", "server",
        "--model", getattr(prefs, "server_model", "tiny") or "tiny",
        "--device", getattr(prefs, "server_device", "auto") or "auto",
        "--host", "127.0.0.1", "--port", str(port), "--port-file", port_file,
        "--data-dir", ddir,
    ]  # fmt: skip
    token = getattr(prefs, "token", "")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if token:
        env["LTX_SERVER_TOKEN"] = token  # not on the command line, where other users could read it
    _log_path = os.path.join(ddir, "server.log")
    with open(_log_path, "ab") as log:
        _proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    _url = f"http://127.0.0.1:{port}"
    if wait_s > 0:
        wait_ready(wait_s, port_file=port_file if port == 0 else None, token=token)
    return _url


def wait_ready(timeout: float, *, port_file: str | None = None, token: str = "") -> dict:
    """Wait until the server answers /v1/health (loading a model takes a while); its health dict."""
    global _url
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running():
            raise RuntimeError(exit_sentence())
        if port_file and os.path.exists(port_file):
            text = open(port_file).read().strip()
            if text:
                _url = f"http://127.0.0.1:{int(text)}"
                port_file = None
        if not port_file:
            try:
                return Client(_url, token or None, timeout=2.0).health()
            except ServerError:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"The local server did not answer within {timeout:.0f} s; see its log {_log_path}.")


def _log_tail(lines: int = 5) -> str:
    try:
        with open(_log_path, errors="replace") as f:
            tail = [ln.strip() for ln in f.read().splitlines() if ln.strip()][-lines:]
    except OSError:
        return f"no log at {_log_path}"
    return " | ".join(tail) + f" (log: {_log_path})"


def stop() -> None:
    """Ask the server this process started to stop (SIGTERM) and return at once; ``watch_stopping``
    sees it go, or kills it after ``STOP_GRACE_S``."""
    global _proc
    proc, _proc = _proc, None
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    _stopping[proc] = time.monotonic() + STOP_GRACE_S
    _arm_watch()


def watch_stopping() -> bool:
    """Reap the stopped servers and kill those past their grace (never waits); True while any is still
    stopping."""
    now = time.monotonic()
    for proc, kill_at in list(_stopping.items()):
        if proc.poll() is not None:
            del _stopping[proc]
        elif now >= kill_at:
            proc.kill()  # reaped by the next look
    return bool(_stopping)


def _on_timer() -> float | None:
    return WATCH_S if watch_stopping() else None


def _arm_watch() -> None:
    """A timer of its own, so a server stopped as the add-on is disabled is still seen to the end (with
    bpy as a module timers never fire: the tick's ``drain`` and the quit hook look instead)."""
    try:
        import bpy
    except ImportError:
        return
    if not bpy.app.timers.is_registered(_on_timer):
        bpy.app.timers.register(_on_timer, first_interval=WATCH_S, persistent=True)


def stop_at_quit(wait_s: float | None = None) -> None:
    """Blender quits: stop ours, wait at most ``wait_s`` (``QUIT_WAIT_S``) in all for every stopping
    server, then kill what is left."""
    stop()
    deadline = time.monotonic() + (QUIT_WAIT_S if wait_s is None else wait_s)
    for proc in list(_stopping):
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1.0)  # SIGKILL is not refused: the reap is at once
        _stopping.pop(proc, None)


def register() -> None:
    atexit.unregister(stop_at_quit)
    atexit.register(stop_at_quit)


def unregister() -> None:
    stop()  # the quit hook stays: it sees the server go if Blender quits before it has
