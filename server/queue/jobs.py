"""The persistent job queue and the worker thread: the only place that owns job state.

State lives in SQLite under the data dir (WAL, one connection behind a lock), inputs and videos as
files next to it. Job ids are random hex made here, so no client string ever becomes a path. One
worker thread runs one job at a time on the device; HTTP handlers only read rows and flip flags.

Crash rule: a job found ``running`` at start was interrupted by the crash. It is queued again once
(``attempts`` counts runs); a job interrupted on its second run is marked failed with the reason.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import secrets
import shutil
import sqlite3
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from blender_ltx.core import protocol

from ..generation import chain, conditioning
from ..generation.chain import DEFAULT_SEGMENT_OVERLAP
from . import drafts
from .asset_store import AssetStore
from ..backends import profiles
from ..backends.base import Backend, Cancelled, GenerateRequest, ReplicaLost
from ..generation.control.request import references_for
from ..generation.video import write_mp4

log = logging.getLogger("server.queue.jobs")

MAX_ATTEMPTS = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    error TEXT,
    shot TEXT,
    tags TEXT NOT NULL DEFAULT '{}',
    request TEXT NOT NULL,
    applied TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    timings TEXT NOT NULL DEFAULT '{}',
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);
"""

#: What a status reads: everything but the stored request, which only the worker needs in full.
_STATUS_COLUMNS = (
    "seq, id, status, progress, error, shot, tags, summary, applied, created_at, started_at, "
    "finished_at, attempts, timings, motion"
)

#: What a status shows of the request (prompts live in ``applied``; images stay on disk).
_REQUEST_KEYS = (
    "num_frames",
    "width",
    "height",
    "frame_rate",
    "seed",
    "num_inference_steps",
    "guidance_scale",
)


class DataDirInUse(Exception):
    """Another server process holds the data dir (its job database is locked)."""


class StorageFull(Exception):
    """The data dir's disk (or the process's file size limit) refused a write; nothing was kept."""


def is_storage_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.Error) and "full" in str(exc).lower()


def storage_full_sentence(root: Path) -> str:
    return (
        f"The server's disk is full (data dir {root}); free space there or lower --keep-days / "
        "--video-budget-gb, then submit again."
    )


class JobStore:
    def __init__(self, data_dir: str | Path):
        self.root = Path(data_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "videos").mkdir(exist_ok=True)
        (self.root / "inputs").mkdir(exist_ok=True)
        self._lock = threading.Lock()
        path = self.root / "jobs.sqlite3"
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=1.0)
        self._db.row_factory = sqlite3.Row
        try:
            with self._lock:
                # Exclusive for the life of the process (the OS drops it on kill -9): a second server on
                # the same data dir would run the same queued jobs and its recover() would requeue ours.
                self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("BEGIN EXCLUSIVE")
                self._db.execute("COMMIT")
                self._db.executescript(_SCHEMA)
                columns = {r[1] for r in self._db.execute("PRAGMA table_info(jobs)")}
                if "summary" not in columns:  # databases made before the summary column
                    self._db.execute("ALTER TABLE jobs ADD COLUMN summary TEXT")
                # The motion meter's result (server/meter/job_motion.py), added to older databases.
                if "motion" not in columns:
                    self._db.execute("ALTER TABLE jobs ADD COLUMN motion TEXT")
        except sqlite3.OperationalError as exc:
            self._db.close()
            if "locked" in str(exc).lower():
                raise DataDirInUse(
                    f"Another server is already using the data dir {self.root}; stop it, or start this "
                    "one with another --data-dir."
                ) from None
            raise

    # -- paths (ids are ours: 32 hex chars) ----------------------------------------------------------
    def video_path(self, job_id: str) -> Path:
        return self.root / "videos" / f"{job_id}.mp4"

    def inputs_dir(self, job_id: str) -> Path:
        return self.root / "inputs" / job_id

    # -- rows ----------------------------------------------------------------------------------------
    def _exec(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def create(
        self,
        request: dict[str, Any],
        images: list[bytes],
        applied: dict[str, Any],
        files: dict[str, bytes] | None = None,
    ) -> dict[str, Any]:
        """Store a job: its keyframes (and ``files``: other inputs by name, e.g. a finalize's latents) are
        written to a temp folder and renamed into place before the row is inserted, and both are undone
        if either fails (a full disk leaves nothing half-written)."""
        job_id = secrets.token_hex(16)
        folder = self.inputs_dir(job_id)
        row = (
            job_id,
            "queued",
            request.get("shot"),
            json.dumps(request.get("tags") or {}),
            json.dumps(request),
            json.dumps({k: request.get(k) for k in _REQUEST_KEYS}),
            json.dumps(applied),
        )
        try:
            if images or files:
                tmp = folder.with_name(f".tmp-{job_id}")
                tmp.mkdir(parents=True)
                try:
                    for i, raw in enumerate(images):
                        (tmp / f"{i}.png").write_bytes(raw)
                    for name, raw in (files or {}).items():
                        (tmp / name).write_bytes(raw)
                    os.replace(tmp, folder)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
            with self._lock:  # created_at taken under the lock, so it orders like seq ("newest first")
                self._db.execute(
                    "INSERT INTO jobs (id, status, shot, tags, request, summary, applied, created_at) "
                    "VALUES (?,?,?,?,?,?,?,?)",
                    (*row, time.time()),
                )
        except (OSError, sqlite3.Error) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            if is_storage_full(exc):
                raise StorageFull(storage_full_sentence(self.root)) from exc
            raise
        return self.get(job_id)

    def row(self, job_id: str) -> sqlite3.Row | None:
        rows = self._exec("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return rows[0] if rows else None

    def get(self, job_id: str) -> dict[str, Any] | None:
        rows = self._exec(f"SELECT {_STATUS_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return self._status(rows[0]) if rows else None

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._exec(f"SELECT {_STATUS_COLUMNS} FROM jobs ORDER BY seq DESC LIMIT ?", (limit,))
        return [self._status(r) for r in rows]

    def remove(self, job_id: str) -> bool:
        """Delete a final job's row, video and inputs; False if it is not final (or not there)."""
        with self._lock:
            gone = self._db.execute(
                "DELETE FROM jobs WHERE id = ? AND status IN (?, ?, ?)", (job_id, *protocol.FINAL_STATUSES)
            ).rowcount
        if gone:
            self.video_path(job_id).unlink(missing_ok=True)
            drafts.latents_path(self.root, job_id).unlink(missing_ok=True)
            shutil.rmtree(self.inputs_dir(job_id), ignore_errors=True)
        return bool(gone)

    def prune(self, keep_s: float | None, video_budget_bytes: int | None) -> int:
        """Retention: remove final jobs finished more than ``keep_s`` ago, then the oldest final jobs
        until their videos fit in ``video_budget_bytes`` (None: no such rule). Returns how many went."""
        final = self._exec(
            "SELECT id, finished_at FROM jobs WHERE status IN (?, ?, ?) ORDER BY finished_at, seq",
            protocol.FINAL_STATUSES,
        )
        doomed = []
        if keep_s is not None:
            cutoff = time.time() - keep_s
            doomed = [r["id"] for r in final if (r["finished_at"] or 0) < cutoff]
        if video_budget_bytes is not None:
            gone = set(doomed)
            kept = [r["id"] for r in final if r["id"] not in gone]
            # a draft's kept latents count with its video
            sizes = {i: _size(self.video_path(i)) + _size(drafts.latents_path(self.root, i)) for i in kept}
            total = sum(sizes.values())
            for job_id in kept:  # oldest first
                if total <= video_budget_bytes:
                    break
                doomed.append(job_id)
                total -= sizes[job_id]
        return sum(self.remove(job_id) for job_id in doomed)

    def requeue(self, job_id: str) -> None:
        """Put a running job back in the queue without counting the run (the server stopped it, not
        the job): shutdown, or a worker that died under it. A job asked to cancel ends cancelled."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END, "
                "finished_at = CASE WHEN cancel_requested = 1 THEN ? ELSE NULL END, "
                "progress=0, started_at=NULL, attempts=MAX(attempts-1, 0) WHERE id=? AND status='running'",
                (time.time(), job_id),
            )

    def requests_json(self) -> list[str]:
        """Every stored job's request as JSON text (the asset sweep looks for what they refer to)."""
        return [r[0] for r in self._exec("SELECT request FROM jobs")]

    def queue_length(self) -> int:
        return self._exec("SELECT COUNT(*) FROM jobs WHERE status = 'queued'")[0][0]

    def running_id(self) -> str | None:
        rows = self._exec("SELECT id FROM jobs WHERE status = 'running' LIMIT 1")
        return rows[0][0] if rows else None

    def update(self, job_id: str, **fields: Any) -> None:
        for key in ("timings", "applied"):
            if key in fields:
                fields[key] = json.dumps(fields[key])
        cols = ", ".join(f"{k} = ?" for k in fields)
        self._exec(f"UPDATE jobs SET {cols} WHERE id = ?", (*fields.values(), job_id))

    def claim_next(self) -> sqlite3.Row | None:
        """The oldest queued job, now marked running (one statement pair under the lock)."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            self._db.execute(
                "UPDATE jobs SET status='running', started_at=?, attempts=attempts+1, progress=0 WHERE id=?",
                (time.time(), row["id"]),
            )
            return self._db.execute("SELECT * FROM jobs WHERE id = ?", (row["id"],)).fetchone()

    def cancel_queued(self, job_id: str) -> bool:
        with self._lock:
            cur = self._db.execute(
                "UPDATE jobs SET status='cancelled', finished_at=?, cancel_requested=1 "
                "WHERE id=? AND status='queued'",
                (time.time(), job_id),
            )
            return cur.rowcount == 1

    def requeue_lost(self, job_id: str, reason: str) -> str:
        """A job whose process died under it (a Ray replica) runs again, the attempt counted, or fails
        on its last one."""
        with self._lock:
            row = self._db.execute(
                "SELECT attempts, cancel_requested FROM jobs WHERE id=?", (job_id,)
            ).fetchone()
            if row["cancel_requested"]:
                status, error = "cancelled", None
            elif row["attempts"] < MAX_ATTEMPTS:
                status, error = "queued", None
            else:
                status = "failed"
                error = f"The job was lost {row['attempts']} times ({reason}), so it was not retried again."
            self._db.execute(
                "UPDATE jobs SET status=?, error=?, progress=0, started_at=NULL, finished_at=? WHERE id=?",
                (status, error, None if status == "queued" else time.time(), job_id),
            )
        return status

    def recover(self) -> tuple[int, int]:
        """After a crash: requeue jobs that were running once, fail the ones on their last attempt."""
        now = time.time()
        with self._lock:
            retried = self._db.execute(
                "UPDATE jobs SET status='queued', progress=0, started_at=NULL "
                "WHERE status='running' AND attempts < ? AND cancel_requested = 0",
                (MAX_ATTEMPTS,),
            ).rowcount
            cancelled = self._db.execute(
                "UPDATE jobs SET status='cancelled', finished_at=? "
                "WHERE status='running' AND cancel_requested=1",
                (now,),
            ).rowcount
            failed = self._db.execute(
                "UPDATE jobs SET status='failed', finished_at=?, error=? WHERE status='running'",
                (
                    now,
                    f"The server stopped {MAX_ATTEMPTS} times while running this job, so it was not retried "
                    "again; check the server log (out of memory?) and submit it again.",
                ),
            ).rowcount
        if cancelled:
            log.info("%d job(s) cancelled while running before the restart are now cancelled", cancelled)
        self._sweep_inputs()
        return retried, failed

    def _sweep_inputs(self) -> None:
        """Keyframe files are only needed until a job is final (crashes can leave some behind)."""
        live = {r[0] for r in self._exec("SELECT id FROM jobs WHERE status IN ('queued', 'running')")}
        for folder in (self.root / "inputs").iterdir():
            if folder.name not in live:
                shutil.rmtree(folder, ignore_errors=True)
        # write_mp4's temp files: one is only left by a crash mid-encode (the data dir is ours alone).
        for tmp in (self.root / "videos").glob(".tmp-*"):
            tmp.unlink(missing_ok=True)

    def _status(self, row: sqlite3.Row) -> dict[str, Any]:
        if row["summary"] is not None:
            shown = json.loads(row["summary"])
        else:  # a row from before the summary column: read it from the request once more
            request = self._exec("SELECT request FROM jobs WHERE id = ?", (row["id"],))[0][0]
            shown = {k: json.loads(request).get(k) for k in _REQUEST_KEYS}
        position = None
        if row["status"] == "queued":
            position = self._exec(
                "SELECT COUNT(*) FROM jobs WHERE status='queued' AND seq < ?", (row["seq"],)
            )[0][0]
        return {
            "id": row["id"],
            "status": row["status"],
            "progress": row["progress"],
            "error": row["error"],
            "shot": row["shot"],
            "tags": json.loads(row["tags"]),
            "created_at": row["created_at"],
            "started_at": row["started_at"],
            "finished_at": row["finished_at"],
            "attempts": row["attempts"],
            "queue_position": position,
            "timings": json.loads(row["timings"]),
            "request": shown,
            "applied": json.loads(row["applied"]),
            "video_url": f"{protocol.API_PREFIX}/jobs/{row['id']}/video"
            if row["status"] == "succeeded"
            else None,
            "motion": json.loads(row["motion"]) if row["motion"] else None,
        }

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


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
            f"{request['num_frames']} frames; try a smaller size or fewer frames, or start the server "
            "with --vae-tiling or --cpu-offload."
        )
    return f"Generation failed: {type(exc).__name__}: {text or 'no message'}."


class CancelBoard:
    """Jobs asked to stop while running, shared by every worker (the one running the job sees it)."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def add(self, job_id: str) -> None:
        with self._lock:
            self._ids.add(job_id)

    def discard(self, job_id: str) -> None:
        with self._lock:
            self._ids.discard(job_id)

    def __contains__(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._ids


class Worker:
    """Runs queued jobs one at a time on the backend, on a thread off the event loop.

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
        self.name = name or "ltx-worker"
        self.restarts = 0
        self.job: str | None = None  # the job the thread runs now
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cancel = cancels or CancelBoard()
        #: Called with the job id once a job has succeeded (the motion meter), never for others.
        self.after_success = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def info(self) -> dict[str, Any]:
        return {"alive": self.alive, "job": self.job, "restarts": self.restarts}

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def ensure_running(self) -> bool:
        """Restart a worker thread that died; True if it did. Raises if the held job cannot be requeued
        (the watchdog tries again on its next tick)."""
        if self.alive or self._stop.is_set() or self._thread is None:
            return False
        if self.job is not None:
            self.store.requeue(self.job)
            self.job = None
        self.restarts += 1
        log.error("the worker thread had stopped; restarted it (restart %d)", self.restarts)
        self.start()
        return True

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the running job's current step; that job goes back to the queue uncounted."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)
        job = self.job
        if job is not None:  # still in a step or the decode past the timeout: queue it anyway
            self.store.requeue(job)

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
                self._run_job(row)
                self.job = None
        except BaseException:
            # The thread ends here; the watchdog sees it in health and restarts it.
            log.critical("the worker thread died:\n%s", traceback.format_exc())
            raise

    def _run_job(self, row) -> None:
        job_id = row["id"]
        request = json.loads(row["request"])
        log.info("job %s started (attempt %d): %s", job_id, row["attempts"], _describe(request))
        t_start = time.time()
        timings = {"queued_s": round(t_start - row["created_at"], 3)}

        def cancelled() -> bool:
            return job_id in self._cancel

        def stopping() -> bool:  # asked by the user, or the server shuts down (the job is queued again)
            return self._stop.is_set() or cancelled()

        def progress(p: float) -> None:
            self.store.update(job_id, progress=round(min(max(p, 0.0), 1.0), 4))

        try:
            gen = self._generate_request(job_id, request, row)
            segments = json.loads(row["applied"]).get("segments")
            if request.get("finalize"):
                clip = drafts.run_finalize(self.store, self.backend, job_id, gen, progress, stopping)
            elif segments:
                clip = chain.run_chain(self.backend, gen, segments, progress, stopping)
            else:
                if request.get("draft"):
                    gen.stage = "draft"
                clip = self.backend.generate(gen, progress, stopping)
            t_gen = time.time()
            timings["generate_s"] = round(t_gen - t_start, 3)
            if cancelled():  # asked during the VAE decode, after the last step callback
                raise Cancelled()
            write_mp4(
                clip.frames,
                self.store.video_path(job_id),
                request["frame_rate"],
                audio=clip.audio,
                audio_rate=clip.audio_rate,
            )
            if cancelled():  # asked during the encode: the answer said cancelled, so no video
                os.remove(self.store.video_path(job_id))
                raise Cancelled()
            if clip.latents is not None:  # a draft: kept for its finalize before it counts as done
                drafts.keep_draft(self.store, job_id, clip, request, self.backend)
            t_end = time.time()
            timings["encode_s"] = round(t_end - t_gen, 3)
            timings["total_s"] = round(t_end - row["created_at"], 3)
            timings["peak_gpu_mb"] = clip.peak_gpu_mb
            self.store.update(
                job_id,
                status="succeeded",
                progress=1.0,
                finished_at=t_end,
                timings=timings,
                applied=_with_clip(json.loads(row["applied"]), clip),
            )
            log.info(
                "job %s succeeded in %.2f s (generate %.2f s)", job_id, t_end - t_start, timings["generate_s"]
            )
            if self.after_success is not None:
                try:
                    self.after_success(job_id)
                except Exception:  # the clip is ready and the job succeeded whatever the meter does
                    log.exception("job %s: could not queue the motion measurement", job_id)
        except ReplicaLost as exc:
            status = self.store.requeue_lost(job_id, str(exc))
            log.warning("job %s: %s; now %s", job_id, exc, status)
        except Cancelled:
            if not cancelled():  # the shutdown stopped it, not the user
                self.store.requeue(job_id)
                log.info("job %s stopped by shutdown; queued again", job_id)
                return
            now = time.time()
            timings["total_s"] = round(now - row["created_at"], 3)
            self.store.update(job_id, status="cancelled", finished_at=now, timings=timings)
            log.info("job %s cancelled", job_id)
        except BaseException as exc:  # anything one job raises fails that job, not the worker
            log.error("job %s failed:\n%s", job_id, traceback.format_exc())
            now = time.time()
            timings["total_s"] = round(now - row["created_at"], 3)
            self.store.update(
                job_id,
                status="failed",
                finished_at=now,
                error=failure_sentence(exc, request),
                timings=timings,
            )
        finally:
            self._cancel.discard(job_id)
            if self.store.row(job_id)["status"] in protocol.FINAL_STATUSES:
                shutil.rmtree(self.store.inputs_dir(job_id), ignore_errors=True)

    def _generate_request(self, job_id: str, request: dict[str, Any], row) -> GenerateRequest:
        from PIL import Image

        applied = json.loads(row["applied"])
        images = []
        for i in range(len(applied["conditions"])):
            with Image.open(self.store.inputs_dir(job_id) / f"{i}.png") as img:
                images.append(img.convert("RGB"))
        gen = conditioning.generate_request(request, applied, images)
        gen.references = references_for(request, AssetStore(self.store.root / "assets"))
        return gen


def _with_clip(applied: dict[str, Any], clip) -> dict[str, Any]:
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
    return (
        f"{request['num_frames']} frames {request['width']}x{request['height']} "
        f"@ {request['frame_rate']:g} fps, "
        f"{request['num_inference_steps']} steps, {len(request.get('conditions', []))} keyframes"
    )


class Workers:
    """One worker per backend slot (one, or one per Ray replica), sharing the queue and the cancels."""

    def __init__(
        self,
        store: JobStore,
        backends: list[Backend],
        segment_frames: int = protocol.DEFAULT_SEGMENT_FRAMES,
        segment_overlap: int = DEFAULT_SEGMENT_OVERLAP,
    ):
        cancels = CancelBoard()
        self.all = [
            Worker(
                store,
                b,
                cancels,
                f"ltx-worker-{i}" if len(backends) > 1 else "",
                segment_frames,
                segment_overlap,
            )
            for i, b in enumerate(backends)
        ]
        self.backend = backends[0]
        self.segment_frames = self.all[0].segment_frames
        self.segment_overlap = self.all[0].segment_overlap

    def start(self) -> None:
        for w in self.all:
            w.start()

    def stop(self) -> None:
        for w in self.all:  # every running job stops at its next step, together
            w._stop.set()
            w._wake.set()
        for w in self.all:
            w.stop()

    def ensure_running(self) -> bool:
        return any([w.ensure_running() for w in self.all])

    def info(self) -> dict[str, Any]:
        """Health's ``worker``: one worker's facts, or (Ray) all alive, the jobs they run, restarts."""
        if len(self.all) == 1:
            return self.all[0].info()
        return {
            "alive": all(w.alive for w in self.all),
            "job": next((w.job for w in self.all if w.job), None),
            "restarts": sum(w.restarts for w in self.all),
            "workers": [w.info() for w in self.all],
        }

    def notify(self) -> None:
        for w in self.all:
            w.notify()

    def cancel(self, job_id: str) -> None:
        self.all[0].cancel(job_id)


def submit(
    store: JobStore, worker: Worker | Workers, request: dict[str, Any], images: list[bytes]
) -> dict[str, Any]:
    """Queue a checked request: pick a seed if none, fill sampling defaults from the model's profile,
    record what conditioning will be applied."""
    if request.get("seed") is None:
        request["seed"] = secrets.randbelow(2**31)
    draft = drafts.check_draft(request, worker.backend, worker.segment_frames)
    sampling = profiles.resolve(request, worker.backend.profile())
    applied = conditioning.apply(request, sampling, worker.backend).to_dict()
    if draft is not None:
        applied["draft"] = draft
    applied["segments"] = chain.segment_records(
        request,
        applied["conditions"],
        worker.segment_frames,
        worker.segment_overlap,
        motion_prompt="camera_poses" not in applied,
    )
    status = store.create(request, images, applied)
    worker.notify()
    return status
