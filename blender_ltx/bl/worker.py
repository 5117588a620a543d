"""The background worker: all network I/O of generation, off Blender's main thread.

The thread never touches bpy. The main thread sends it commands (submit, track, cancel); the thread
does the HTTP calls and answers with small message dataclasses on a ``queue.SimpleQueue``. A
``bpy.app.timers`` callback on the main thread drains that queue with a time cap and hands each message
to the handler ``generate.py`` installs (which writes scene props and imports clips). Timers never fire
with bpy as a module, so ``drain()`` is also called directly by ``generate.run_sync``, tests and
benchmarks: the same code path either way.

Every message carries the worker's *epoch*; loading another .blend bumps it (``reset``), so an answer
that was in flight for the previous file is dropped instead of landing in a scene of the same name.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import bpy
from bpy.app.handlers import persistent

from ..core import job_poll
from ..core.client import Client
from ..core.protocol import ServerError
from . import server_proc

#: (scene session_uid, shot name, segment index): whom a job belongs to.
Key = tuple[int, str, int]

#: Main-thread budget per timer tick, and how often the timer runs while there is work.
DRAIN_BUDGET_S = 0.003
TICK_BUSY_S = 0.1
#: Longest the thread sleeps when nothing is due (a new command wakes it at once).
IDLE_WAIT_S = 0.5
#: Longest the main thread waits for the thread to finish its current request before a render.
GATE_WAIT_S = 15.0


@dataclass(frozen=True)
class ClientConfig:
    url: str
    token: str = ""
    timeout: float = 10.0
    online_access: bool = True
    #: A local server this Blender just started may still be loading its model: keep trying to reach
    #: it for this long before a submit counts as failed (0: fail at once).
    start_wait_s: float = 0.0

    def client(self) -> Client:
        return Client(self.url, self.token or None, self.timeout, online_access=self.online_access)


# -- commands: main thread -> worker -------------------------------------------------------------------
@dataclass
class Submit:
    key: Key
    cfg: ClientConfig
    request: dict[str, Any]
    dest: str  # absolute path the clip is downloaded to


@dataclass
class Track:
    key: Key
    cfg: ClientConfig
    job_id: str
    dest: str


@dataclass
class Cancel:
    key: Key
    cfg: ClientConfig
    job_id: str


# -- messages: worker -> main thread -------------------------------------------------------------------
@dataclass
class Submitted:
    key: Key
    job_id: str
    epoch: int = 0


@dataclass
class Update:
    """A job's state changed (or the server could not be asked: ``message`` says so, status is kept)."""

    key: Key
    job_id: str
    status: str
    progress: float
    message: str
    epoch: int = 0


@dataclass
class Note:
    """A sentence for the shot that changes nothing else (e.g. a cancel the server did not get)."""

    key: Key
    job_id: str
    message: str
    epoch: int = 0


@dataclass
class Downloaded:
    key: Key
    job_id: str
    path: str
    job: dict[str, Any] = field(default_factory=dict)  # the server's final job status (applied, timings)
    epoch: int = 0


@dataclass
class Failed:
    """Nothing more will come of this job: failed or cancelled on the server, rejected, or lost."""

    key: Key
    job_id: str
    status: str  # failed | cancelled | error
    message: str
    epoch: int = 0


Message = Submitted | Update | Note | Downloaded | Failed


@dataclass
class _Watch:
    key: Key
    cfg: ClientConfig
    dest: str
    watch: job_poll.JobWatch
    job: dict[str, Any] = field(default_factory=dict)


class Worker:
    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.outbox: queue.SimpleQueue = queue.SimpleQueue()
        self.epoch = 0
        self._watches: dict[str, _Watch] = {}  # job id -> watch (thread-owned)
        self._busy = 0  # commands sent and not yet finished, plus live watches (read by the main thread)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Blender is not safe with a Python thread running while it renders (the API docs' "Python
        # threads are not supported" gotcha; seen here as a segfault in this thread during a guide
        # render). The thread works only while holding the gate, and the main thread holds it around
        # renders (``exclusive``), so the thread then waits in a lock, running no Python.
        self._gate = threading.Lock()

    # -- main thread -----------------------------------------------------------------------------
    def send(self, command: Submit | Track | Cancel) -> None:
        with self._lock:
            self._busy += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ltx-worker", daemon=True)
                self._thread.start()
        self.inbox.put((self.epoch, command))

    @contextlib.contextmanager
    def exclusive(self, timeout: float = GATE_WAIT_S):
        """Keep the thread parked while the main thread has Blender render (waits for the request in
        progress, if any, to finish: milliseconds on loopback, at most ``timeout``)."""
        got = self._gate.acquire(timeout=timeout)
        try:
            yield got
        finally:
            if got:
                self._gate.release()

    def busy(self) -> bool:
        """True while a command or a watched job is unfinished, or messages wait to be applied."""
        return self._busy > 0 or not self.outbox.empty()

    def reset(self) -> None:
        """Forget every job (another .blend is being loaded; its own jobs are re-attached after)."""
        self.epoch += 1
        self.inbox.put((self.epoch, None))
        while not self.outbox.empty():
            self.outbox.get_nowait()

    # -- worker thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        epoch = self.epoch
        while True:
            timeout = self._next_wait()
            try:
                if timeout > 0:
                    cmd_epoch, command = self.inbox.get(timeout=timeout)
                else:
                    cmd_epoch, command = self.inbox.get_nowait()
            except queue.Empty:
                command, cmd_epoch = None, epoch
            if cmd_epoch != epoch:  # a reset: drop every watch of the previous file
                epoch = cmd_epoch
                with self._lock:
                    self._busy -= len(self._watches)
                self._watches.clear()
            with self._gate:
                if command is not None:
                    self._handle(command, epoch)
                self._poll_due(epoch)

    def _next_wait(self) -> float:
        if not self._watches:
            return IDLE_WAIT_S
        now = time.monotonic()
        return max(0.0, min(IDLE_WAIT_S, min(w.watch.next_at for w in self._watches.values()) - now))

    def _post(self, message: Message, epoch: int) -> None:
        message.epoch = epoch
        self.outbox.put(message)

    def _done(self, n: int = 1) -> None:
        with self._lock:
            self._busy -= n

    def _handle(self, command, epoch: int) -> None:
        try:
            if isinstance(command, Submit):
                try:
                    job = self._submit(command, epoch)
                except ServerError as exc:
                    self._post(Failed(command.key, "", "error", str(exc)), epoch)
                    return
                job_id = str(job["id"])
                self._post(Submitted(command.key, job_id), epoch)
                self._watch(command.key, command.cfg, job_id, command.dest, job)
            elif isinstance(command, Track):
                if command.job_id not in self._watches:
                    self._watch(command.key, command.cfg, command.job_id, command.dest, {})
            elif isinstance(command, Cancel):
                try:
                    command.cfg.client().cancel(command.job_id)
                except ServerError as exc:
                    self._post(Note(command.key, command.job_id, str(exc)), epoch)
                w = self._watches.get(command.job_id)
                if w is not None:
                    w.watch.next_at = 0.0  # ask at once, so 'cancelled' shows without waiting a poll
        finally:
            self._done()

    def _submit(self, command: Submit, epoch: int) -> dict:
        deadline = time.monotonic() + command.cfg.start_wait_s
        while True:
            try:
                return command.cfg.client().submit(command.request)
            except ServerError as exc:
                # Only "nothing answers" is worth waiting out; an answer (422, 401...) is final.
                if exc.status is not None or time.monotonic() >= deadline or self.epoch != epoch:
                    raise
                if server_proc.exited():  # the server we are waiting for is gone: say why, now
                    raise ServerError(server_proc.exit_sentence()) from None
                self._post(Note(command.key, "", "Waiting for the local server to start."), epoch)
                self._gate.release()  # a long wait: renders need not wait for it
                try:
                    time.sleep(1.0)
                finally:
                    self._gate.acquire()

    def _watch(self, key: Key, cfg: ClientConfig, job_id: str, dest: str, job: dict) -> None:
        with self._lock:
            self._busy += 1
        self._watches[job_id] = _Watch(key, cfg, dest, job_poll.JobWatch(job_id), job)

    def _poll_due(self, epoch: int) -> None:
        for job_id, w in list(self._watches.items()):
            now = time.monotonic()
            if not w.watch.due(now):
                continue
            if w.watch.phase == job_poll.POLL:
                self._poll_one(w, epoch)
            elif w.watch.phase == job_poll.DOWNLOAD:
                self._download_one(w, epoch)
            if w.watch.phase == job_poll.DONE:
                del self._watches[job_id]
                self._done()
            if not self.inbox.empty():  # commands (a cancel, a reset) go before the rest of the polls
                return

    def _poll_one(self, w: _Watch, epoch: int) -> None:
        ww = w.watch
        before = (ww.status, round(ww.progress, 2), ww.message)
        try:
            data = w.cfg.client().status(ww.job_id)
        except ServerError as exc:
            self._call_failed(w, exc, epoch)
            return
        w.job = data
        ww.on_status(data, time.monotonic())
        if ww.phase == job_poll.DONE:
            self._post(Failed(w.key, ww.job_id, ww.status, ww.message), epoch)
        elif (ww.status, round(ww.progress, 2), ww.message) != before:
            self._post(Update(w.key, ww.job_id, ww.status, ww.progress, ww.message), epoch)

    def _call_failed(self, w: _Watch, exc: ServerError, epoch: int) -> None:
        """A poll or download that did not go through: back off (the shot says why), or give up on a
        job the server does not know."""
        ww = w.watch
        ww.on_error(exc, time.monotonic())
        if ww.phase == job_poll.DONE:
            self._post(Failed(w.key, ww.job_id, "error", ww.message), epoch)
        else:
            self._post(Update(w.key, ww.job_id, ww.status, ww.progress, ww.message), epoch)

    def _download_one(self, w: _Watch, epoch: int) -> None:
        ww = w.watch
        try:
            w.cfg.client().download(ww.job_id, w.dest)
        except ServerError as exc:
            self._call_failed(w, exc, epoch)
            return
        ww.on_downloaded()
        self._post(Downloaded(w.key, ww.job_id, w.dest, w.job), epoch)


_worker = Worker()
_handler: Callable[[Message], None] | None = None


def get() -> Worker:
    return _worker


def exclusive():
    """``with worker.exclusive():`` around anything that makes Blender render (see ``Worker._gate``)."""
    return get().exclusive()


def set_handler(handler: Callable[[Message], None]) -> None:
    """``handler(message)`` applies one message on the main thread (generate.py installs it)."""
    global _handler
    _handler = handler


@dataclass
class TickStats:
    """Main-thread time spent applying messages, per drain call (for the benchmark and the issue)."""

    ticks: int = 0
    total_s: float = 0.0
    longest_s: float = 0.0

    def add(self, seconds: float) -> None:
        self.ticks += 1
        self.total_s += seconds
        self.longest_s = max(self.longest_s, seconds)


stats = TickStats()


def drain(max_seconds: float = DRAIN_BUDGET_S) -> int:
    """Apply waiting messages on the main thread until none is left or ``max_seconds`` is used.

    At least one message is applied per call (a slow one must not starve the queue). Messages from a
    previous file (older epoch) are dropped. Returns how many were applied.
    """
    start = time.perf_counter()
    applied = 0
    out = _worker.outbox
    while not out.empty():
        message = out.get_nowait()
        if message.epoch != _worker.epoch:
            continue
        if _handler is not None:
            try:
                _handler(message)
            except Exception as exc:  # a bug in applying one message must not stop the timer for all
                print(f"blender_ltx: could not apply {type(message).__name__}: {exc!r}")
        applied += 1
        if time.perf_counter() - start >= max_seconds:
            break
    stats.add(time.perf_counter() - start)
    return applied


# -- the timer (a running Blender; with bpy as a module nothing fires and callers pump drain()) -------
def _tick() -> float | None:
    drain()
    return TICK_BUSY_S if _worker.busy() else None


def ensure_timer() -> None:
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=TICK_BUSY_S, persistent=True)


@persistent
def _on_load_pre(*_args) -> None:
    from . import generate

    _worker.reset()
    generate.forget()


@persistent
def _on_load_post(*_args) -> None:
    from . import generate

    generate.reattach_all()


def register() -> None:
    from . import generate

    set_handler(generate.apply_message)
    bpy.app.handlers.load_pre.append(_on_load_pre)
    bpy.app.handlers.load_post.append(_on_load_post)


def unregister() -> None:
    app = bpy.app.handlers
    for handlers, fn in ((app.load_pre, _on_load_pre), (app.load_post, _on_load_post)):
        while fn in handlers:
            handlers.remove(fn)
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
