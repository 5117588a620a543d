"""The courier: a child process of Blender that does all of the add-on's network I/O.

Blender's main thread must never wait on the network, and Python threads inside Blender are
unsupported (a CI run segfaulted in one during a guide render), so submits, polls, downloads, cancels,
backoff and the connection probe run here, in a separate process started with Blender's own Python
(``bl/link/courier_link.py`` starts it; see there). No bpy: this module runs outside Blender.

It connects back to a loopback socket the add-on listens on, proves it is the child that was started
(the token from ``LTX_COURIER_TOKEN``), then loops: read commands, make the HTTP calls that are due,
answer with ``courier_wire`` messages. A second thread only sends a heartbeat each ``BEAT_S``, so a
courier that is stopped or wedged (no beat) is told apart from one that is merely busy in a long call.
It exits when the socket reaches EOF: Blender quit or crashed (the OS closes its end either way).
"""

from __future__ import annotations

import os
import select
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from . import control, job_poll, server_info
from .client import Client
from .courier_wire import (
    Cancel,
    ClientConfig,
    Downloaded,
    Failed,
    Key,
    LOOK_SEGMENT,
    LineBuffer,
    Measured,
    Note,
    Probe,
    Probed,
    Submit,
    Submitted,
    Track,
    TOKEN_ENV,
    Update,
    decode,
    encode,
)
from .protocol import ServerError

#: Seconds between heartbeats; longest sleep when nothing is due (a command wakes the loop at once).
BEAT_S = 0.5
IDLE_WAIT_S = 0.5
#: A submit to a local server that is still starting is retried this often.
START_RETRY_S = 1.0


def probe_health(cfg: ClientConfig) -> tuple[bool, str, dict[str, Any]]:
    """(ok, one sentence: the server's model, device and capabilities, or what is wrong) and the health
    answer itself (empty when the server could not be asked)."""
    try:
        client = Client(cfg.url, cfg.token or None, min(cfg.timeout, 5.0), online_access=cfg.online_access)
        info = client.health()
    except ServerError as exc:
        return False, str(exc), {}
    return (
        True,
        (
            f"Connected to {cfg.url}: model {info.get('model', '?')} on {info.get('device', '?')} "
            f"({info.get('dtype', '?')}), {info.get('queue_length', 0)} job(s) queued; "
            f"{server_info.describe(info)}."
        ),
        info,
    )


def with_control(client: Client, request: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """``request`` with its ``control`` field: the kind chosen against the server's capabilities
    (``core/control.settle``), its frames uploaded where the server lacks them (content-addressed, so
    a retake of an unchanged previs uploads nothing). Raises ValueError (one sentence) for a kind the
    server lacks; without a kind to send, the request goes as it is."""
    possible = control.possible(bool(spec.get("tracks")), bool(spec.get("depth")))
    kind, _ = control.settle(spec["kind"], client.health(), possible)
    if kind is None:
        return request
    if kind == "tracks":
        field = control.control_field(kind, strength=spec.get("strength", 1.0), tracks=spec["tracks"])
    else:
        shas = []
        for path in spec["depth" if kind == "depth" else "beauty"]:
            with open(path, "rb") as fh:
                shas.append(client.ensure_asset(fh.read()))
        field = control.control_field(kind, strength=spec.get("strength", 1.0), frame_assets=shas)
    return {**request, "control": field}


def with_look(client: Client, request: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """A look job's ``request`` with its layout and references uploaded (content-addressed: a file the
    server already has is not sent again) and named by their assets."""
    from .looks import upload_once

    def asset(path: str) -> str:
        with open(path, "rb") as fh:
            return upload_once(client, fh.read())[0]

    out = dict(request)
    if spec.get("layout"):
        kind, path = spec["layout"]
        out["layout"] = {"kind": kind, "image": {"asset": asset(path)}}
    out["references"] = [
        {"name": r["name"], "kind": r["kind"], "image": {"asset": asset(r["path"])}}
        for r in spec.get("references", [])
    ]
    return out


def download_stills(client: Client, job: dict[str, Any], folder: str) -> list[str]:
    """A finished look job's stills, written into ``folder`` as ``look_<job>_<index>.png``."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for still in (job.get("applied") or {}).get("stills", []):
        path = os.path.join(folder, f"look_{str(job['id'])[:8]}_{still['index']}.png")
        data = client.get_asset(still["asset"])
        with open(path + ".part", "wb") as fh:
            fh.write(data)
        os.replace(path + ".part", path)
        paths.append(path)
    return paths


@dataclass
class _Watch:
    key: Key
    cfg: ClientConfig
    dest: str
    watch: job_poll.JobWatch
    job: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Pending:
    """A submit not yet accepted: a local server that is still loading its model is waited for."""

    command: Submit
    deadline: float
    seq: Any = None
    next_at: float = 0.0


class Courier:
    def __init__(self, sock: socket.socket) -> None:
        import threading  # only here, in the child: Blender imports this module for ``probe_health``

        self.sock = sock
        self._send_lock = threading.Lock()
        self._lines = LineBuffer()
        self._commands: list[tuple[Any, dict]] = []
        self.epoch = 0
        self.watches: dict[str, _Watch] = {}
        self.pending: list[_Pending] = []
        self.server_gone = ""
        self.asked: set[str] = set()  # server URLs whose health was sent to Blender

    # -- the link ------------------------------------------------------------------------------
    def send(self, obj: Any, **extra: Any) -> None:
        data = encode(obj, **extra)
        with self._send_lock:
            try:
                self.sock.sendall(data)
            except OSError:  # Blender is gone: nobody to work for
                os._exit(0)

    def post(self, message: Any) -> None:
        message.epoch = self.epoch
        self.send(message)

    def beat_forever(self) -> None:
        while True:
            self.send({"type": "beat"})
            time.sleep(BEAT_S)

    def read(self, timeout: float) -> None:
        """Wait up to ``timeout`` for commands and queue them; exit on EOF (Blender quit or died)."""
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return
        try:
            data = self.sock.recv(1 << 16)
        except OSError:
            data = b""
        if not data:
            os._exit(0)
        self._commands.extend(decode(line) for line in self._lines.feed(data))

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> None:
        while True:
            self.read(self._next_wait())
            while self._commands:
                command, raw = self._commands.pop(0)
                self._handle(command, raw)
            self._submit_due()
            self._poll_due()

    def _next_wait(self) -> float:
        if self._commands:
            return 0.0
        due = [w.watch.next_at for w in self.watches.values()] + [p.next_at for p in self.pending]
        if not due:
            return IDLE_WAIT_S
        return min(IDLE_WAIT_S, min(due) - time.monotonic())

    def _handle(self, command: Any, raw: dict) -> None:
        kind = raw.get("type")
        if kind == "reset":  # another .blend: the previous file's jobs are not watched any more
            self.epoch = int(raw["epoch"])
            self.watches.clear()
            self.pending.clear()
            return
        if kind == "server_gone":
            self.server_gone = str(raw.get("sentence") or "The local server exited.")
            return
        if command is None:
            return
        try:
            if isinstance(command, Submit):
                deadline = time.monotonic() + command.cfg.start_wait_s
                self.pending.append(_Pending(command, deadline, raw.get("seq")))
                return  # 'done' once it is accepted or has failed
            if isinstance(command, Track):
                w = self.watches.get(command.job_id)
                if w is None:
                    self._watch(command.key, command.cfg, command.job_id, command.dest, {})
                elif w.watch.phase == job_poll.MEASURE:  # re-attached after its clip came: send it again
                    w.key, w.dest = command.key, command.dest
                    w.watch.phase, w.watch.next_at = job_poll.DOWNLOAD, 0.0
            elif isinstance(command, Cancel):
                try:
                    command.cfg.client().cancel(command.job_id)
                except ServerError as exc:
                    self.post(Note(command.key, command.job_id, str(exc)))
                w = self.watches.get(command.job_id)
                if w is not None:
                    w.watch.next_at = 0.0  # ask at once, so 'cancelled' shows without waiting a poll
            elif isinstance(command, Probe):
                ok, sentence, health = probe_health(command.cfg)
                self.post(Probed(command.probe_id, ok, sentence, health=health, url=command.cfg.url))
        finally:
            if not isinstance(command, Submit):
                self.send({"type": "done", "seq": raw.get("seq")})

    def _submit_due(self) -> None:
        for p in list(self.pending):
            now = time.monotonic()
            if now < p.next_at:
                continue
            cmd = p.command
            try:
                client = cmd.cfg.client()
                request = with_control(client, cmd.request, cmd.control) if cmd.control else cmd.request
                if cmd.look is not None:
                    request = with_look(client, request, cmd.look)
                job = client.submit(request, cmd.idempotency_key)
            except OSError as exc:  # a look's picture went missing meanwhile: nothing was posted
                self.post(Failed(cmd.key, "", "error", f"A picture of the look job could not be read: {exc}"))
            except ValueError as exc:  # a control kind the server lacks: nothing was posted
                self.post(Failed(cmd.key, "", "error", str(exc)))
            except ServerError as exc:
                # Only "nothing answers" is worth waiting out; an answer (422, 401...) is final.
                if exc.status is None and now < p.deadline and not self.server_gone:
                    p.next_at = now + START_RETRY_S
                    self.post(Note(cmd.key, "", "Waiting for the local server to start."))
                    continue
                reason = self.server_gone if exc.status is None and self.server_gone else str(exc)
                self.post(Failed(cmd.key, "", "error", reason))
            else:
                job_id = str(job["id"])
                self.post(Submitted(cmd.key, job_id))
                self._watch(cmd.key, cmd.cfg, job_id, cmd.dest, job)
                self._tell_health(cmd.cfg)
            self.pending.remove(p)
            self.send({"type": "done", "seq": p.seq})

    def _tell_health(self, cfg: ClientConfig) -> None:
        """The first time a server takes a job, Blender learns what it can do (probe id 0)."""
        if cfg.url in self.asked:
            return
        self.asked.add(cfg.url)
        ok, sentence, health = probe_health(cfg)
        if ok:
            self.post(Probed(0, ok, sentence, health=health, url=cfg.url))

    def _watch(self, key: Key, cfg: ClientConfig, job_id: str, dest: str, job: dict) -> None:
        self.watches[job_id] = _Watch(key, cfg, dest, job_poll.JobWatch(job_id), job)

    def _poll_due(self) -> None:
        for job_id, w in list(self.watches.items()):
            if not w.watch.due(time.monotonic()):
                continue
            if w.watch.phase == job_poll.POLL:
                self._poll_one(w)
            elif w.watch.phase == job_poll.DOWNLOAD:
                self._download_one(w)
            elif w.watch.phase == job_poll.MEASURE:
                self._measure_one(w)
            if w.watch.phase == job_poll.DONE:
                self.watches.pop(job_id, None)
            self.read(0.0)
            if self._commands:  # commands (a cancel, a reset) go before the rest of the polls
                return

    def _poll_one(self, w: _Watch) -> None:
        ww = w.watch
        before = (ww.status, round(ww.progress, 2), ww.message)
        try:
            data = w.cfg.client().status(ww.job_id)
        except ServerError as exc:
            self._call_failed(w, exc)
            return
        w.job = data
        ww.on_status(data, time.monotonic())
        if ww.phase == job_poll.DONE:
            self.post(Failed(w.key, ww.job_id, ww.status, ww.message))
        elif (ww.status, round(ww.progress, 2), ww.message) != before:
            self.post(Update(w.key, ww.job_id, ww.status, ww.progress, ww.message))

    def _call_failed(self, w: _Watch, exc: ServerError) -> None:
        """A poll or download that did not go through: back off (the shot says why), or give up on a
        job the server does not know."""
        ww = w.watch
        ww.on_error(exc, time.monotonic())
        if ww.phase == job_poll.DONE:
            self.post(Failed(w.key, ww.job_id, "error", ww.message))
        else:
            self.post(Update(w.key, ww.job_id, ww.status, ww.progress, ww.message))

    def _download_one(self, w: _Watch) -> None:
        ww = w.watch
        if w.key[2] == LOOK_SEGMENT:
            self._download_stills(w)
            return
        try:
            w.cfg.client().download(ww.job_id, w.dest)
        except ServerError as exc:
            self._call_failed(w, exc)
            return
        self.post(Downloaded(w.key, ww.job_id, w.dest, w.job))
        if ww.on_downloaded(w.job, time.monotonic()):
            self._post_motion(w, w.job)

    def _download_stills(self, w: _Watch) -> None:
        """A look job's stills (no clip, no motion): downloaded, then the job is done."""
        ww = w.watch
        try:
            files = download_stills(w.cfg.client(), w.job, w.dest)
        except ServerError as exc:
            self._call_failed(w, exc)
            return
        except OSError as exc:
            ww.phase = job_poll.DONE
            self.post(Failed(w.key, ww.job_id, "error", f"The look stills could not be written: {exc}"))
            return
        self.post(Downloaded(w.key, ww.job_id, w.dest, w.job, files=files))
        ww.phase = job_poll.DONE
        self.post(Measured(w.key, ww.job_id, None, ""))  # the link stops following it

    def _measure_one(self, w: _Watch) -> None:
        """Ask again for a downloaded job's motion until the meter has measured it (or the wait is over).
        A failed call just waits for the next try: the clip is in, only the measurement is missing."""
        ww = w.watch
        try:
            data = w.cfg.client().status(ww.job_id)
        except ServerError as exc:
            if exc.status == 404 or time.monotonic() >= ww.measure_until:
                ww.phase = job_poll.DONE
                self.post(Measured(w.key, ww.job_id, None, f"The motion was not measured: {exc}"))
            else:
                ww.next_at = time.monotonic() + job_poll.POLL_MOTION_S
            return
        if ww.on_motion(data, time.monotonic()):
            self._post_motion(w, data)

    def _post_motion(self, w: _Watch, data: dict) -> None:
        _, motion = job_poll.final_motion(data)
        if motion is not None:
            note = ""
        elif "motion" not in data:
            note = "The server does not measure camera motion (it has no motion meter)."
        else:
            wait = job_poll.MOTION_WAIT_S
            note = f"The server's motion measurement did not come within {wait:.0f} s."
        self.post(Measured(w.key, w.watch.job_id, motion, note))


def main(port: int) -> None:
    import threading

    sock = socket.create_connection(("127.0.0.1", port))
    courier = Courier(sock)
    courier.send({"type": "hello", "token": os.environ.get(TOKEN_ENV, ""), "pid": os.getpid()})
    threading.Thread(target=courier.beat_forever, name="ltx-courier-beat", daemon=True).start()
    courier.run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
