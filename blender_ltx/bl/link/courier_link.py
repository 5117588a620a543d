"""Generation's network I/O, off Blender's main thread and out of Blender's process: the courier.

Blender's Python API does not support Python threads (a CI run once segfaulted in one during a guide
render), so no thread of ours runs in Blender. Submits, polls, downloads, cancels and the connection
probe run in a child process, ``core/courier.py``, started with Blender's own Python
(``sys.executable``: Blender's bundled interpreter, or the venv's with bpy as a module) on the first
command. It connects back to a loopback socket this module listens on and proves itself with a token
given in its environment. Commands and messages are ``core/courier_wire.py``'s dataclasses, one JSON
line each.

Why a loopback TCP socket: it is the one channel that reads and writes without blocking on Linux,
macOS and Windows alike (``setblocking(False)``; on Windows ``select`` and non-blocking I/O exist for
sockets but not for pipes, and ``multiprocessing.connection`` sends and receives whole messages with
blocking calls: a multi-megabyte submit to a stopped child would freeze Blender). Unsent bytes wait in
a buffer that each tick flushes as far as the socket takes them.

``tick.py`` pumps this link on Blender's main thread (a ``bpy.app.timers`` callback, or ``tick.drain``
called directly where timers never fire) and applies what it received.

The child dies with Blender (its socket reads EOF when Blender quits or crashes). A child that exits or
stops sending its heartbeat for ``HANG_S`` is killed and started again; every job already on the server
is tracked again by the new one and its shot says so in a sentence, so nothing is lost. A submit that
was in flight is sent again with its idempotency key (``Submit.idempotency_key``): a server that
already took it answers with that job instead of making a second one.

Every message carries the courier's *epoch*; loading another .blend bumps it (``reset``, called by
generate's load_pre handler), so an answer that was in flight for the previous file is dropped instead
of landing in a scene of the same name.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time

from ...core import courier_wire, server_info
from ...core.courier_wire import (  # noqa: F401  (the messages are this module's public API)
    Cancel,
    ClientConfig,
    Command,
    Downloaded,
    Failed,
    Key,
    LOOK_SEGMENT,
    LineBuffer,
    Measured,
    Message,
    Note,
    Probe,
    Probed,
    Submit,
    TOKEN_ENV,
    Submitted,
    Track,
    Update,
    decode,
    encode,
)

#: A courier silent this long (no heartbeat; it beats every ``core.courier.BEAT_S``) is hung: restarted.
HANG_S = 10.0
#: Time a new courier has to start its Python and connect before it counts as hung.
START_GRACE_S = 30.0
#: More restarts than this within ``RESTART_WINDOW_S`` means it cannot run here: give up with a sentence.
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0

# Loads ``core`` by its path under a private name: the child must not import the add-on package (its
# __init__ may need bpy) and an installed extension's package name is not known in advance.
_BOOT = (
    "import importlib.util, os, sys\n"
    "d = sys.argv[1]\n"
    "s = importlib.util.spec_from_file_location('ltx_courier_core', os.path.join(d, '__init__.py'),"
    " submodule_search_locations=[d])\n"
    "m = importlib.util.module_from_spec(s); sys.modules['ltx_courier_core'] = m; s.loader.exec_module(m)\n"
    "import ltx_courier_core.courier as c\n"
    "c.main(int(sys.argv[2]))\n"
)


class _Stranger(Exception):
    """Something else on this computer connected to the courier's port without its token."""


class CourierLink:
    """Blender's end of the courier: the child process, its socket, and what it still owes us."""

    def __init__(self) -> None:
        self.inbox: collections.deque = collections.deque()  # received, not yet applied
        self.epoch = 0
        self.restarts: list[float] = []  # when the courier was restarted (monotonic)
        self.pid = 0  # of the courier that said hello
        self._proc: subprocess.Popen | None = None
        self._listener: socket.socket | None = None
        self._sock: socket.socket | None = None
        self._token = ""
        self._authed = False
        self._lines = LineBuffer()
        self._out = bytearray()
        self._last_heard = 0.0
        self._seq = 0
        self._unfinished: dict[int, Command] = {}  # seq -> command sent and not yet handled
        self._tracked: dict[str, Track] = {}  # job id -> how to follow it again after a restart
        self._probes: dict[int, tuple[bool, str]] = {}
        self._gave_up = ""

    # -- main thread API -------------------------------------------------------------------------
    def send(self, command: Command) -> None:
        self._seq += 1
        self._unfinished[self._seq] = command
        if isinstance(command, Track):
            self._tracked[command.job_id] = command
        if self._gave_up:
            self._fail_all(self._gave_up)
            return
        self._write(encode(command, seq=self._seq))
        self.pump()

    def probe(self, cfg: ClientConfig) -> int:
        """Ask the server's health through the courier; ``probe_answer(id)`` has the answer later."""
        self._seq += 1
        pid = self._seq
        self.send(Probe(pid, cfg))
        return pid

    def probe_answer(self, probe_id: int) -> tuple[bool, str] | None:
        self.pump()
        return self._probes.pop(probe_id, None)

    def busy(self) -> bool:
        """True while a command or a followed job is unfinished, or messages wait to be applied."""
        return bool(self._unfinished or self._tracked or self.inbox)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def reset(self) -> None:
        """Forget every job (another .blend is being loaded; its own jobs are re-attached after)."""
        self.epoch += 1
        self.inbox.clear()
        self._tracked.clear()
        self._unfinished = {s: c for s, c in self._unfinished.items() if isinstance(c, Probe)}
        if self._proc is not None:
            self._write(encode({"type": "reset", "epoch": self.epoch}))
            self.pump()

    def close(self) -> None:
        """Stop the courier (the add-on is disabled, or Blender quits)."""
        proc, self._proc = self._proc, None
        self.pid = 0
        self._close_sockets()
        if proc is not None and proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    # -- the link ------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self._proc is None and not self._gave_up:
            self._start()
        self._out += data

    def _start(self) -> None:
        core_dir = os.path.dirname(os.path.abspath(courier_wire.__file__))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        port = self._listener.getsockname()[1]
        self._token = secrets.token_hex(16)
        env = {**os.environ, TOKEN_ENV: self._token}
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT, core_dir, str(port)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),  # no console window on Windows
            )
        except OSError as exc:
            self._close_sockets()
            self._gave_up = f"The add-on could not start its network courier with {sys.executable}: {exc}."
            return
        self._authed = False
        self._lines = LineBuffer()
        self._out = bytearray(encode({"type": "reset", "epoch": self.epoch}))  # answers carry our epoch
        self._last_heard = time.monotonic() + START_GRACE_S - HANG_S

    def _close_sockets(self) -> None:
        for s in (self._sock, self._listener):
            if s is not None:
                s.close()
        self._sock = self._listener = None

    def pump(self) -> None:
        """Connect, flush, read and check the child, never blocking (every tick, and after a send)."""
        if self._gave_up:
            self._fail_all(self._gave_up)
            return
        if self._proc is None:
            return
        if self._sock is None:
            self._accept()
        if self._sock is not None:
            try:
                linked = self._flush() and self._read()
            except _Stranger:
                self._sock.close()
                self._sock, self._lines = None, LineBuffer()
                linked = True
            if not linked:
                self._restart("stopped")
                return
        if self._proc.poll() is not None:
            self._restart(f"exited (code {self._proc.returncode})")
        elif time.monotonic() - self._last_heard > HANG_S:
            self._restart(f"stopped answering for {HANG_S:.0f} s")

    def _accept(self) -> None:
        if self._listener is None:
            return
        try:
            conn, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(False)
        self._sock = conn

    def _flush(self) -> bool:
        if not self._authed:
            return True  # nothing goes out before the child proved it is ours
        while self._out:
            try:
                n = self._sock.send(self._out[: 1 << 20])
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            del self._out[:n]
        return True

    def _read(self) -> bool:
        while True:
            try:
                data = self._sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            if not data:
                return False
            self._last_heard = time.monotonic()
            for line in self._lines.feed(data):
                if not self._on_line(line):
                    return False

    def _on_line(self, line: bytes) -> bool:
        try:
            message, raw = decode(line)
        except (ValueError, TypeError, KeyError):
            return False
        kind = raw.get("type")
        if not self._authed:
            if kind != "hello" or not secrets.compare_digest(str(raw.get("token", "")), self._token):
                raise _Stranger  # not our child: dropped, and the listener waits for ours
            self._authed, self.pid = True, int(raw.get("pid") or 0)
            self._listener.close()  # ours is in: nobody else may connect
            self._listener = None
            self._flush()
            return True
        if kind == "done":
            self._unfinished.pop(raw.get("seq"), None)
        elif isinstance(message, Probed):
            if message.health:  # live state: what this server can do (greying, long shots)
                server_info.remember(message.url, message.health)
            if message.probe_id:
                self._probes[message.probe_id] = (message.ok, message.sentence)
        elif message is not None:
            if message.epoch != self.epoch:
                return True  # an answer for the previous file
            self._follow(message)
            self.inbox.append(message)
        return True

    def _follow(self, message: Message) -> None:
        """Keep what a restarted courier needs to pick the job up again."""
        if isinstance(message, Submitted):
            submit = next(
                (c for c in self._unfinished.values() if isinstance(c, Submit) and c.key == message.key), None
            )
            if submit is not None:
                self._tracked[message.job_id] = Track(message.key, submit.cfg, message.job_id, submit.dest)
        elif isinstance(message, (Measured, Failed)) and message.job_id:
            # Kept past Downloaded: a restarted courier fetches the clip again (imported once) and
            # follows its motion measurement to the end.
            self._tracked.pop(message.job_id, None)

    def _restart(self, why: str) -> None:
        """The courier crashed or hung: start another and hand it everything still owed."""
        pid = self.pid or (self._proc.pid if self._proc else 0)
        self.close()
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW_S] + [now]
        if len(self.restarts) > MAX_RESTARTS:
            self._gave_up = (
                f"The add-on's network courier {why} {len(self.restarts)} times within a minute, so it "
                "is not restarted again: save, restart Blender, and generate again (finished jobs re-attach)."
            )
            self._fail_all(self._gave_up)
            return
        unfinished, self._unfinished = self._unfinished, {}
        tracked = dict(self._tracked)
        self.pid = 0
        self._start()
        said = f"The network courier (pid {pid}) {why}; a new one"
        for job_id, track in tracked.items():
            self.inbox.append(Note(track.key, job_id, f"{said} follows job {job_id} again.", self.epoch))
            self._resend(track)
        followed = {track.key for track in tracked.values()}
        for command in unfinished.values():
            if isinstance(command, Submit) and command.key not in followed:
                # Sent again with its idempotency key: a submit the server already took is answered
                # with that job, never made twice.
                self.inbox.append(Note(command.key, "", f"{said} sends this submit again.", self.epoch))
                self._resend(command)
            elif isinstance(command, (Cancel, Probe)):
                self._resend(command)

    def _resend(self, command: Command) -> None:
        self._seq += 1
        self._unfinished[self._seq] = command
        self._write(encode(command, seq=self._seq))

    def _fail_all(self, sentence: str) -> None:
        for command in list(self._unfinished.values()) + list(self._tracked.values()):
            if isinstance(command, (Submit, Track)):
                self.inbox.append(
                    Failed(command.key, getattr(command, "job_id", ""), "error", sentence, self.epoch)
                )
            elif isinstance(command, Probe):
                self._probes[command.probe_id] = (False, sentence)
        self._unfinished.clear()
        self._tracked.clear()

    def server_gone(self, sentence: str) -> None:
        """The local server this Blender started has exited: submits waiting for it fail with why."""
        self._write(encode({"type": "server_gone", "sentence": sentence}))


_link = CourierLink()


def get() -> CourierLink:
    """The add-on's one courier link (it lives as long as Blender; ``reset`` forgets a file's jobs)."""
    return _link


def register() -> None:
    atexit.register(_link.close)


def unregister() -> None:
    atexit.unregister(_link.close)
    _link.close()
    _link.reset()
