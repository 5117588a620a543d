"""Takes that wait for their frames before they are sent: the click path's background renders.

A click must not wait for a render: guide frames cost 240 to 360 ms a shot at the default clip size
(a 48-shot Generate All held Blender 11.5 s) and control frames about 10 s a shot. So ``submit`` does
on the main thread only what fixes the take as the scene is now: the checks, the requests (their guide
images still to be read: ``job_request.embed_images``), the track numbers, and ONE copy of the file
(``control_frames.save_copy``) that every render of the click reads. It registers the run (the shot
shows as queued, Cancel and undo see it) and leaves the requests here.

``poll()`` runs on the courier's timer tick (``tick.add_hook``; scripts pump it with
``tick.drain``/``generate.wait``). It starts the background renders (``MAX_RENDERS`` at a time): first
the guide frames of each run (``guides.PendingGuides``), then its control frames
(``control.PendingControl``). Where this session has not asked the server yet, the control renders
first wait for its answer (through the courier, up to ``PROBE_WAIT_S``) so that ``auto`` renders
nothing for a server without control and a kind the server lacks fails before any render. A tick
reads the renders' progress files, says per shot how far they are, and sends a run's jobs through the
courier (``submit._send``) once all its frames are in; a failed render fails its shot alone. The only
longer main-thread moment is the copy, once per click, whatever the number of shots.

Two more answers come from the background before a run goes. For a server that takes the exact camera
path (SANA-WM, or one not asked yet) the first frame's depth is measured from the copy too (``depth.py``:
with the first guide render, or alone), and filled into the requests' ``poses``. And a run with guides
after frame 0 asks a server not asked yet what it takes while they render: where its family takes no
later guides, only the frame-0 picture goes and the shot says so (``Run.note``), instead of a 422.
The look layouts of Generate Looks (``look_jobs.py``) share ``MAX_RENDERS`` with these renders.

Scripts and ``execute()`` render synchronously instead (``guides.shot_guides``, ``control.spec_for``):
they wait anyway.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ...core import job_request, server_info
from ...core.protocol import ProtocolError
from ..render import control_frames
from ..render.guides import PendingGuides
from ..addon import props
from ..link import courier_link, tick
from . import depth
from .control import PendingControl
from .runs import Run, runs, say, scene_of, sid
from .session import session

#: Background renders at once (each is a Blender process; more would only share the same cores).
MAX_RENDERS = 2
#: How long a click's shots wait for the server to say what it can do before rendering anyway (the
#: courier then chooses the kind, or refuses it, when it sends).
PROBE_WAIT_S = 10.0


class FileCopy:
    """One copy of the session's file per click, saved the first time a control render needs it and
    deleted once every run that renders from it has left."""

    def __init__(self) -> None:
        self._path: str | None = None

    def path(self) -> str:
        if self._path is None:
            self._path = control_frames.save_copy(tempfile.mkdtemp(prefix="ltx_previs_"))
        return self._path

    def discard(self) -> None:
        if self._path is not None:
            shutil.rmtree(Path(self._path).parent, ignore_errors=True)
            self._path = None


@dataclass
class Staged:
    """One run waiting for its frames: its requests, per request a spec (dict), a ``PendingControl``
    (shared by the takes of one segment) or None, and its segments' guide renders."""

    key: tuple[int, str]
    run: Run
    requests: list[dict]
    specs: list
    copy: FileCopy
    send: Callable[[object, Run, list[dict], object, list], None]
    guides: list[PendingGuides] = field(default_factory=list)
    probe_id: int | None = None
    probe_deadline: float = 0.0

    def asked(self) -> bool:
        """Whether the server's answer is in (or waited for long enough); asks it on the first call."""
        link = courier_link.get()
        if self.probe_id is None:
            self.probe_id = link.probe(self.run.cfg)
            self.probe_deadline = time.monotonic() + PROBE_WAIT_S
        return link.probe_answer(self.probe_id) is not None or time.monotonic() > self.probe_deadline

    def pending(self) -> list[PendingControl]:
        seen: dict[int, PendingControl] = {}
        for spec in self.specs:
            if isinstance(spec, PendingControl):
                seen.setdefault(id(spec), spec)
        return list(seen.values())

    def renders(self) -> list:
        """Every background render of the run: its guides', then its control frames'."""
        return [*self.guides, *self.pending()]

    def cancel(self) -> None:
        for p in self.renders():
            p.cancel()

    def stop(self) -> None:
        """Stop its renders and remove its file copy (every run is being dropped: ``session.reset``)."""
        self.cancel()
        self.copy.discard()


def stage(scene, ss, run: Run, requests: list[dict], specs: list, copy: FileCopy, send, guides=()) -> None:
    """Hold ``run`` until its guide and control frames are rendered; the shot shows as queued."""
    key = (sid(scene), run.shot.name)
    runs[key] = run
    session.staged.append(Staged(key, run, requests, specs, copy, send, list(guides)))
    ss.job_id = ""
    ss.job_status = "queued"
    ss.progress = 0.0
    if guides and all(isinstance(g, depth.PendingDepth) for g in guides):
        say(ss, run, "Measuring the first frame's depth in the background.")
    else:
        what = "guide frames" if guides else "previs control frames"
        say(ss, run, f"Rendering the {what} in the background.")
    tick.add_hook(poll, fail_all)


def is_staged(key: tuple[int, str]) -> bool:
    return any(s.key == key for s in session.staged)


def _end(entry: Staged) -> None:
    """Take ``entry`` off the list, stopping its renders still running (none once it is sent); its
    file copy goes once no other run renders from it."""
    entry.cancel()
    session.staged.remove(entry)
    if not any(s.copy is entry.copy for s in session.staged):
        entry.copy.discard()


def cancel(key: tuple[int, str]) -> bool:
    """Cancel a staged run: its renders stop, nothing reaches the server. False when ``key`` is not
    staged (its jobs, if any, are on the server: ``submit.cancel`` cancels them there)."""
    entry = next((s for s in session.staged if s.key == key), None)
    if entry is None:
        return False
    _end(entry)
    if runs.get(key) is entry.run:
        del runs[key]
    scene = scene_of(key[0])
    ss = props.shot_settings(scene, key[1], create=False) if scene is not None else None
    if ss is not None:
        ss.job_status = "cancelled"
        say(ss, entry.run, "Cancelled while its frames rendered; nothing was sent.")
    return True


def fail_all(sentence: str) -> None:
    """``poll`` raised (the tick logged the traceback): every staged run ends with ``sentence``."""
    for entry in list(session.staged):
        _end(entry)
        if runs.get(entry.key) is entry.run:
            del runs[entry.key]
        scene = scene_of(entry.key[0])
        ss = props.shot_settings(scene, entry.key[1], create=False) if scene is not None else None
        if ss is not None:
            ss.job_status = "error"
            say(ss, entry.run, sentence)


def poll() -> int:
    """One pass over the staged runs: start renders where slots are free, fail or send finished ones.
    Returns how many runs still wait."""
    for entry in list(session.staged):
        scene = scene_of(entry.key[0])
        ss = props.shot_settings(scene, entry.key[1], create=False) if scene is not None else None
        if runs.get(entry.key) is not entry.run or ss is None:  # forgotten (a file load) or gone
            _end(entry)
            continue
        try:
            specs = _advance(entry)
        except ValueError as exc:
            _fail(entry, ss, str(exc))
            continue
        if specs is None:
            say(ss, entry.run, _progress_text(entry))
            continue
        requests, entry.run.note = _without_untaken_guides(entry.run.cfg.url, entry.requests)
        try:
            requests = [job_request.embed_images(r) for r in requests]
        except (OSError, ProtocolError) as exc:
            _fail(entry, ss, f"Shot {entry.key[1]}: a guide frame cannot be read ({exc}): generate it again.")
            continue
        measures, measured = depth.measured(entry.guides)
        try:
            if measures:
                requests = [depth.with_depth(r, measured, entry.key[1]) for r in requests]
        except ValueError as exc:
            _fail(entry, ss, str(exc))
            continue
        _end(entry)
        entry.send(scene, entry.run, requests, ss, specs)
        tick.ensure_timer()  # the courier's answers for the jobs just sent
    return len(session.staged)


def _fail(entry: Staged, ss, sentence: str) -> None:
    """This run alone ends with ``sentence`` (its renders stop; the others go on)."""
    _end(entry)
    del runs[entry.key]
    ss.job_status = "error"
    say(ss, entry.run, sentence)


def _progress_text(entry: Staged) -> str:
    """What the shot says while it waits: which frames render and how far they are."""
    guides = entry.guides
    if not all(g.finished for g in guides):
        pct = round(100.0 * sum(g.progress() for g in guides) / len(guides))
        if all(isinstance(g, depth.PendingDepth) for g in guides):
            return f"Measuring the first frame's depth: {pct} %."
        return f"Rendering the guide frames: {pct} %."
    pending = entry.pending()
    if not all(p.chosen for p in pending):
        return f"Asking {entry.run.cfg.url} which control videos it takes."
    if all(p.finished for p in pending):
        return f"Asking {entry.run.cfg.url} which guide frames it takes."
    pct = round(100.0 * sum(p.progress() for p in pending) / max(1, len(pending)))
    return f"Rendering the previs control frames: {pct} %."


def _advance(entry: Staged) -> list | None:
    """Start this run's guide renders where slots are free, settle the control kinds, start its
    control renders; its final specs (a dict or None each) once every render is done. ValueError (one
    sentence) for a kind the server lacks or a failed render."""
    later = _later_guides(entry.requests) and server_info.get(entry.run.cfg.url) is None
    if later:  # a server not asked yet may take no later guides: ask now, answered while they render
        entry.asked()
    for g in entry.guides:
        if not g.finished and g.render is None and running() < MAX_RENDERS:
            g.start()
        g.poll()
    pending = entry.pending()
    unchosen = [p for p in pending if not p.chosen]
    if unchosen:
        info = server_info.get(entry.run.cfg.url)
        if info is None and not entry.asked():
            return None
        info = info or server_info.get(entry.run.cfg.url)  # the answer, where it came
        for p in unchosen:
            p.choose(info)
    for p in pending:
        if not p.finished and p.render is None and running() < MAX_RENDERS:
            p.start()
        p.poll()
    if not all(p.finished for p in [*entry.guides, *pending]):
        return None
    if later and server_info.get(entry.run.cfg.url) is None and not entry.asked():
        return None  # rendered: the server's answer decides which guides go
    return [s.result if isinstance(s, PendingControl) else s for s in entry.specs]


def _later_guides(requests: list[dict]) -> bool:
    return any(c["frame_index"] > 0 for r in requests for c in r.get("conditions") or ())


def _without_untaken_guides(url: str, requests: list[dict]) -> tuple[list[dict], str]:
    """The requests without the guides after frame 0 where the server at ``url`` said it takes none (a
    SANA-WM: it would refuse the job), and the sentence the shot says then ("" when nothing is left
    out). A server that did not answer gets them all (it says what it refuses)."""
    if server_info.get(url) is None:
        return requests, ""
    takes, why = server_info.capability(url, "keyframes")
    if takes or not _later_guides(requests):
        return requests, ""
    kept = [{**r, "conditions": [c for c in r["conditions"] if c["frame_index"] == 0]} for r in requests]
    dropped = sum(len(r["conditions"]) - len(k["conditions"]) for r, k in zip(requests, kept, strict=True))
    return kept, (
        f"{why.rstrip('.')}: only the first frame was sent, {dropped} later guide frame(s) left out "
        "(set Guide Every N to 0 and untick Guide at Motion Changes for this server)."
    )


def running() -> int:
    """The background renders running now: the takes' (guides, control frames) and the look layouts'
    (``look_jobs``), which share ``MAX_RENDERS``."""
    takes = sum(p.running for s in session.staged for p in s.renders())
    return takes + sum(r.layout is not None and r.layout.running for r in session.looks.values())


def register() -> None:
    atexit.register(session.drop_staged)  # Blender quits with renders running: stop them, drop the copies


def unregister() -> None:
    atexit.unregister(session.drop_staged)
