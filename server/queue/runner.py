"""The job runners: threads that take queued jobs from the store and run them on a backend.

One ``JobRunner`` per backend slot (one for a local model, one per Ray replica), each running one job at
a time off the event loop; ``JobRunners`` holds them, with the cancel board they share. HTTP handlers only
read rows and flip flags; the runners write a job's progress and its end.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from blender_ltx.core import protocol

from ..backends.base import Backend, Cancelled, Clip, GenerateRequest, ReplicaLost
from ..generation import chain, conditioning
from ..generation.chain import DEFAULT_SEGMENT_OVERLAP
from ..generation.control.request import references_for
from ..generation.video import write_mp4
from . import looks
from . import drafts
from .asset_store import AssetStore
from .cancels import CancelBoard
from .store import JobStore, is_storage_full

log = logging.getLogger("server.queue.runner")

#: How long a stop waits for the running step to end before it queues the job again and lets the process
#: go (a real model's step or decode can take far longer; the add-on's Stop Server waits less than that).
STOP_WAIT_S = 2.0


def failure_sentence(exc: BaseException, request: dict[str, Any]) -> str:
    if is_storage_full(exc):
        return "The server's disk filled up while writing the video; free space there and submit again."
    if isinstance(exc, chain.SegmentFailed):
        segment = {**request, "num_frames": exc.num_frames}
        inner = failure_sentence(exc.cause, segment).removeprefix("Generation failed: ")
        return f"Segment {exc.index + 1} of {exc.total} failed: {inner}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "out of memory" in text.lower():
        return (
            f"The device ran out of memory for {request['width']}x{request['height']}, "
            f"{request.get('num_frames') or request.get('count')} frames; try a smaller size or fewer "
            "frames, or start the server with --vae-tiling or --cpu-offload."
        )
    return f"Generation failed: {type(exc).__name__}: {text or 'no message'}."


@dataclass
class _Run:
    """One run of a job, as claimed from the store."""

    id: str
    request: dict[str, Any]
    applied: dict[str, Any]
    created_at: float
    attempts: int
    started: float = field(default_factory=time.time)
    timings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def claimed(cls, row) -> _Run:
        run = cls(
            row["id"],
            json.loads(row["request"]),
            json.loads(row["applied"]),
            row["created_at"],
            row["attempts"],
        )
        run.timings["queued_s"] = round(run.started - run.created_at, 3)
        return run

    def total(self, now: float) -> dict[str, Any]:
        self.timings["total_s"] = round(now - self.created_at, 3)
        return self.timings


class JobRunner:
    """Runs queued jobs one at a time on its backend, on a thread off the event loop.

    Any error of a job fails that job and the loop goes on. Should the loop itself die (its own error
    handling failed, e.g. the database refused the failure record), ``alive`` turns false and
    ``ensure_running`` (the app's watchdog) puts the job it held back in the queue and starts a new
    thread. ``stop`` asks a running job to stop at its next step and queues it again uncounted."""

    def __init__(
        self,
        store: JobStore,
        backend: Backend,
        cancels: CancelBoard | None = None,
        name: str = "",
        segment_frames: int = protocol.DEFAULT_SEGMENT_FRAMES,
        segment_overlap: int = DEFAULT_SEGMENT_OVERLAP,
    ):
        self.store = store
        self.backend = backend
        # Jobs longer than one generation run as a chain (chain.py), planned when queued.
        self.segment_frames = segment_frames
        overlap = chain.segment_overlap(segment_frames, segment_overlap)
        # A family conditioned on fewer frames (SANA-WM: one picture) chains from that many.
        self.segment_overlap = min(overlap, getattr(backend, "max_overlap", None) or overlap)
        self.name = name or "ltx-job-runner"
        self.restarts = 0
        self.job: str | None = None  # the job the thread runs now
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cancel = cancels or CancelBoard()
        #: Called with the job id once a job has succeeded (the motion meter), never for others.
        self.after_success: Callable[[str], None] | None = None
        #: The look model and the device it shares with the video model (None: this server makes no looks).
        self.look = None
        self.share = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def info(self) -> dict[str, Any]:
        return {"alive": self.alive, "job": self.job, "restarts": self.restarts}

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def ensure_running(self) -> bool:
        """Restart a runner thread that died; True if it did. Raises if the held job cannot be requeued
        (the watchdog tries again on its next tick)."""
        if self.alive or self._stop.is_set() or self._thread is None:
            return False
        if self.job is not None:
            self.store.requeue(self.job)
            self.job = None
        self.restarts += 1
        log.error("the job runner thread had stopped; restarted it (restart %d)", self.restarts)
        self.start()
        return True

    def notify(self) -> None:
        self._wake.set()

    def ask_stop(self) -> None:
        """The running job stops at its next step (its thread then ends); see ``stop``."""
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        """Stop after the running job's current step, waiting at most ``timeout``: the job goes back to the
        queue uncounted either way (a step still running past it ends with the process, a daemon thread)."""
        self.ask_stop()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)
        job = self.job
        if job is not None:  # still in a step or the decode past the timeout: queue it anyway
            self.store.requeue(job)
            log.info("job %s stopped by shutdown; queued again", job)

    def cancel(self, job_id: str) -> None:
        """Queued: cancelled now. Running: flagged; the step callback stops it at the next step."""
        if self.store.cancel_queued(job_id):
            shutil.rmtree(self.store.inputs_dir(job_id), ignore_errors=True)
            return
        row = self.store.row(job_id)
        if row is not None and row["status"] == "running":
            self.store.update(job_id, cancel_requested=1)  # first: if the disk refuses, nothing changed
            self._cancel.add(job_id)

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self.backend.wait_ready(timeout=1.0):
                    continue
                row = self.store.claim_next()
                if row is None:
                    self._wake.wait(timeout=1.0)
                    self._wake.clear()
                    continue
                self.job = row["id"]
                self._run_job(_Run.claimed(row))
                self.job = None
        except BaseException:
            # The thread ends here; the watchdog sees it in health and restarts it.
            log.critical("the job runner thread died:\n%s", traceback.format_exc())
            raise

    # -- one job -------------------------------------------------------------------------------------
    def _run_job(self, run: _Run) -> None:
        log.info("job %s started (attempt %d): %s", run.id, run.attempts, _describe(run.request))
        try:
            if run.request.get("kind") == "look":
                self._run_look(run)
                return
            clip = self._generate(run)
            self._write_video(run, clip)
            if clip.latents is not None:  # a draft: kept for its finalize before it counts as done
                drafts.keep_draft(self.store, run.id, clip, run.request, self.backend)
            self._succeed(run, clip)
        except ReplicaLost as exc:
            status = self.store.requeue_lost(run.id, str(exc))
            log.warning("job %s: %s; now %s", run.id, exc, status)
        except Cancelled:
            self._stopped(run)
        except BaseException as exc:  # anything one job raises fails that job, not the runner
            self._fail(run, exc)
        finally:
            self._cancel.discard(run.id)
            row = self.store.row(run.id)
            if row is not None and row["status"] in protocol.FINAL_STATUSES:
                shutil.rmtree(self.store.inputs_dir(run.id), ignore_errors=True)

    def _cancelled(self, job_id: str) -> bool:
        return job_id in self._cancel

    def _generate(self, run: _Run) -> Clip:
        def stopping() -> bool:  # asked by the user, or the server shuts down (the job is queued again)
            return self._stop.is_set() or self._cancelled(run.id)

        def progress(p: float) -> None:
            self.store.update(run.id, progress=round(min(max(p, 0.0), 1.0), 4))

        gen = self._generate_request(run)
        # What reached the model, proven from the stored keyframes (a look's rule is checked again here).
        run.applied["look"] = looks.look_record(run.request, self._input_shas(run), len(gen.references))
        if self.share is not None:
            run.applied["device"] = self.share.use("video")
        segments = run.applied.get("segments")
        if run.request.get("finalize"):
            clip = drafts.run_finalize(self.store, self.backend, run.id, gen, progress, stopping)
        elif segments:
            clip = chain.run_chain(self.backend, gen, segments, progress, stopping)
        else:
            if run.request.get("draft"):
                gen.stage = "draft"
            clip = self.backend.generate(gen, progress, stopping)
        run.timings["generate_s"] = round(time.time() - run.started, 3)
        if self._cancelled(run.id):  # asked during the VAE decode, after the last step callback
            raise Cancelled()
        return clip

    def _generate_request(self, run: _Run) -> GenerateRequest:
        from PIL import Image

        images = []
        for i in range(len(run.applied["conditions"])):
            with Image.open(self.store.inputs_dir(run.id) / f"{i}.png") as img:
                images.append(img.convert("RGB"))
        gen = conditioning.generate_request(run.request, run.applied, images)
        gen.references = references_for(run.request, AssetStore(self.store.root / "assets"))
        return gen

    def _input_shas(self, run: _Run) -> list[str]:
        """The SHA-256 of each stored keyframe PNG, in the request's order."""
        folder = self.store.inputs_dir(run.id)
        return [
            hashlib.sha256((folder / f"{i}.png").read_bytes()).hexdigest()
            for i in range(len(run.request["conditions"]))
        ]

    def _run_look(self, run: _Run) -> None:
        """A look job (looks.py): its stills into the asset store, the job succeeded."""
        from PIL import Image

        if self.look is None:
            raise RuntimeError("this server was restarted without a look model (--look-model)")
        inputs = []
        for i in range(len(run.applied["images"])):
            with Image.open(self.store.inputs_dir(run.id) / f"{i}.png") as img:
                inputs.append(img.convert("RGB"))

        def stopping() -> bool:
            return self._stop.is_set() or self._cancelled(run.id)

        def progress(p: float) -> None:
            self.store.update(run.id, progress=round(min(max(p, 0.0), 1.0), 4))

        applied = looks.run_look(
            self.share,
            self.look,
            AssetStore(self.store.root / "assets"),
            inputs,
            run.request,
            run.applied,
            progress,
            stopping,
            lambda: self._cancelled(run.id),
        )
        now = time.time()
        run.timings["generate_s"] = round(now - run.started, 3)
        self.store.update(
            run.id, status="succeeded", progress=1.0, finished_at=now, timings=run.total(now), applied=applied
        )
        log.info("look job %s succeeded in %.2f s", run.id, now - run.started)

    def _write_video(self, run: _Run, clip: Clip) -> None:
        t0 = time.time()
        path = self.store.video_path(run.id)
        rate = clip.frame_rate or run.request["frame_rate"]
        write_mp4(clip.frames, path, rate, audio=clip.audio, audio_rate=clip.audio_rate)
        if self._cancelled(run.id):  # asked during the encode: the answer said cancelled, so no video
            os.remove(path)
            raise Cancelled()
        run.timings["encode_s"] = round(time.time() - t0, 3)

    def _succeed(self, run: _Run, clip: Clip) -> None:
        now = time.time()
        timings = run.total(now)
        timings["peak_gpu_mb"] = clip.peak_gpu_mb
        applied = _with_clip(run.applied, clip)
        self.store.update(
            run.id, status="succeeded", progress=1.0, finished_at=now, timings=timings, applied=applied
        )
        log.info(
            "job %s succeeded in %.2f s (generate %.2f s)", run.id, now - run.started, timings["generate_s"]
        )
        if self.after_success is not None:
            try:
                self.after_success(run.id)
            except Exception:  # the clip is ready and the job succeeded whatever the meter does
                log.exception("job %s: could not queue the motion measurement", run.id)

    def _stopped(self, run: _Run) -> None:
        if not self._cancelled(run.id):  # the shutdown stopped it, not the user
            self.store.requeue(run.id)
            log.info("job %s stopped by shutdown; queued again", run.id)
            return
        now = time.time()
        self.store.update(run.id, status="cancelled", finished_at=now, timings=run.total(now))
        log.info("job %s cancelled", run.id)

    def _fail(self, run: _Run, exc: BaseException) -> None:
        log.error("job %s failed:\n%s", run.id, traceback.format_exc())
        now = time.time()
        error = failure_sentence(exc, run.request)
        self.store.update(run.id, status="failed", finished_at=now, error=error, timings=run.total(now))


def _with_clip(applied: dict[str, Any], clip: Clip) -> dict[str, Any]:
    """The job's ``applied`` plus what only the run knows: the audio muxed in, the control references."""
    if clip.audio is not None:
        channels, samples = clip.audio.shape
        applied["audio"] = {
            "sample_rate": clip.audio_rate,
            "channels": int(channels),
            "seconds": round(samples / clip.audio_rate, 4),
        }
        applied["layers"].append("audio")
    for key, value in clip.applied.items():
        applied[key] = value
    for ref in clip.applied.get("references", []):
        layer = f"control_{ref['kind']}"
        if layer not in applied["layers"]:
            applied["layers"].append(layer)
    return applied


def _describe(request: dict[str, Any]) -> str:
    if request.get("kind") == "look":
        return f"look: {request['count']} still(s) {request['width']}x{request['height']}"
    return (
        f"{request['num_frames']} frames {request['width']}x{request['height']} "
        f"@ {request['frame_rate']:g} fps, "
        f"{request['num_inference_steps']} steps, {len(request.get('conditions', []))} keyframes"
    )


class JobRunners:
    """One job runner per backend slot (one, or one per Ray replica), sharing the queue and the cancels."""

    def __init__(
        self,
        store: JobStore,
        backends: list[Backend],
        segment_frames: int = protocol.DEFAULT_SEGMENT_FRAMES,
        segment_overlap: int = DEFAULT_SEGMENT_OVERLAP,
        look=None,
        share=None,
    ):
        """``look``, ``share``: the look model and its DeviceShare with the one local video model (looks
        are not served on Ray replicas: leave them None there)."""
        cancels = CancelBoard()
        many = len(backends) > 1
        self.all = [
            JobRunner(
                store, b, cancels, f"ltx-job-runner-{i}" if many else "", segment_frames, segment_overlap
            )
            for i, b in enumerate(backends)
        ]
        for r in self.all:
            r.look, r.share = look, share
        self.look, self.share = look, share
        self.backend = backends[0]
        self.segment_frames = self.all[0].segment_frames
        self.segment_overlap = self.all[0].segment_overlap

    def start(self) -> None:
        for r in self.all:
            r.start()

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        """Every running job stops at its next step, together; one shared wait of at most ``timeout``."""
        for r in self.all:
            r.ask_stop()
        deadline = time.monotonic() + timeout
        for r in self.all:
            r.stop(max(deadline - time.monotonic(), 0.0))

    def ensure_running(self) -> bool:
        return any([r.ensure_running() for r in self.all])

    def info(self) -> dict[str, Any]:
        """Health's ``runner``: one runner's facts, or (Ray) all alive, the jobs they run, restarts."""
        if len(self.all) == 1:
            return self.all[0].info()
        return {
            "alive": all(r.alive for r in self.all),
            "job": next((r.job for r in self.all if r.job), None),
            "restarts": sum(r.restarts for r in self.all),
            "runners": [r.info() for r in self.all],
        }

    def notify(self) -> None:
        for r in self.all:
            r.notify()

    def cancel(self, job_id: str) -> None:
        self.all[0].cancel(job_id)
