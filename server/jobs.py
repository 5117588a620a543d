"""The persistent job queue and the worker thread: the only place that owns job state.

State lives in SQLite under the data dir (WAL, one connection behind a lock), inputs and videos as
files next to it. Job ids are random hex made here, so no client string ever becomes a path. One
worker thread runs one job at a time on the device; HTTP handlers only read rows and flip flags.

Crash rule: a job found ``running`` at start was interrupted by the crash. It is queued again once
(``attempts`` counts runs); a job interrupted on its second run is marked failed with the reason.
"""

from __future__ import annotations

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

from . import conditioning
from .backends import profiles
from .backends.base import Backend, Cancelled, GenerateRequest
from .video import write_mp4

log = logging.getLogger("server.jobs")

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
                # The motion meter's result (server/meter/job_motion.py), added to older databases.
                if "motion" not in {r[1] for r in self._db.execute("PRAGMA table_info(jobs)")}:
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

    def create(self, request: dict[str, Any], images: list[bytes], applied: dict[str, Any]) -> dict[str, Any]:
        job_id = secrets.token_hex(16)
        if images:
            folder = self.inputs_dir(job_id)
            folder.mkdir(parents=True)
            for i, raw in enumerate(images):
                (folder / f"{i}.png").write_bytes(raw)
        row = (
            job_id,
            "queued",
            request.get("shot"),
            json.dumps(request.get("tags") or {}),
            json.dumps(request),
            json.dumps(applied),
        )
        with self._lock:  # created_at taken under the lock, so it orders like seq ("newest first")
            self._db.execute(
                "INSERT INTO jobs (id, status, shot, tags, request, applied, created_at) "
                "VALUES (?,?,?,?,?,?,?)",
                (*row, time.time()),
            )
        return self.get(job_id)

    def row(self, job_id: str) -> sqlite3.Row | None:
        rows = self._exec("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return rows[0] if rows else None

    def get(self, job_id: str) -> dict[str, Any] | None:
        row = self.row(job_id)
        return None if row is None else self._status(row)

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._exec("SELECT * FROM jobs ORDER BY seq DESC LIMIT ?", (limit,))
        return [self._status(r) for r in rows]

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
        request = json.loads(row["request"])
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
            "request": {k: request.get(k) for k in _REQUEST_KEYS},
            "applied": json.loads(row["applied"]),
            "video_url": f"{protocol.API_PREFIX}/jobs/{row['id']}/video"
            if row["status"] == "succeeded"
            else None,
            "motion": json.loads(row["motion"]) if row["motion"] else None,
        }

    def close(self) -> None:
        with self._lock:
            self._db.close()


def failure_sentence(exc: BaseException, request: dict[str, Any]) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "out of memory" in text.lower():
        return (
            f"The device ran out of memory for {request['width']}x{request['height']}, "
            f"{request['num_frames']} frames; try a smaller size or fewer frames, or start the server "
            "with --vae-tiling or --cpu-offload."
        )
    return f"Generation failed: {type(exc).__name__}: {text or 'no message'}."


class Worker(threading.Thread):
    """Runs queued jobs one at a time on the backend, off the event loop."""

    def __init__(self, store: JobStore, backend: Backend):
        super().__init__(name="ltx-worker", daemon=True)
        self.store = store
        self.backend = backend
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cancel: set[str] = set()
        self._cancel_lock = threading.Lock()
        #: Called with the job id once a job has succeeded (the motion meter), never for others.
        self.after_success = None

    def notify(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        """Queued: cancelled now. Running: flagged; the step callback stops it at the next step."""
        if self.store.cancel_queued(job_id):
            shutil.rmtree(self.store.inputs_dir(job_id), ignore_errors=True)
            return
        row = self.store.row(job_id)
        if row is not None and row["status"] == "running":
            with self._cancel_lock:
                self._cancel.add(job_id)
            self.store.update(job_id, cancel_requested=1)

    def run(self) -> None:
        while not self._stop.is_set():
            row = self.store.claim_next()
            if row is None:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            self._run_job(row)

    def _run_job(self, row) -> None:
        job_id = row["id"]
        request = json.loads(row["request"])
        log.info("job %s started (attempt %d): %s", job_id, row["attempts"], _describe(request))
        t_start = time.time()
        timings = {"queued_s": round(t_start - row["created_at"], 3)}

        def cancelled() -> bool:
            with self._cancel_lock:
                return job_id in self._cancel

        def progress(p: float) -> None:
            self.store.update(job_id, progress=round(min(max(p, 0.0), 1.0), 4))

        try:
            gen = self._generate_request(job_id, request, row)
            clip = self.backend.generate(gen, progress, cancelled)
            t_gen = time.time()
            timings["generate_s"] = round(t_gen - t_start, 3)
            if cancelled():  # asked during the VAE decode, after the last step callback
                raise Cancelled()
            write_mp4(clip.frames, self.store.video_path(job_id), request["frame_rate"])
            if cancelled():  # asked during the encode: the answer said cancelled, so no video
                os.remove(self.store.video_path(job_id))
                raise Cancelled()
            t_end = time.time()
            timings["encode_s"] = round(t_end - t_gen, 3)
            timings["total_s"] = round(t_end - row["created_at"], 3)
            self.store.update(job_id, status="succeeded", progress=1.0, finished_at=t_end, timings=timings)
            log.info(
                "job %s succeeded in %.2f s (generate %.2f s)", job_id, t_end - t_start, timings["generate_s"]
            )
            if self.after_success is not None:
                self.after_success(job_id)
        except Cancelled:
            now = time.time()
            timings["total_s"] = round(now - row["created_at"], 3)
            self.store.update(job_id, status="cancelled", finished_at=now, timings=timings)
            log.info("job %s cancelled", job_id)
        except Exception as exc:  # any failure of one job must not stop the worker
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
            with self._cancel_lock:
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
        return conditioning.generate_request(request, applied, images)


def _describe(request: dict[str, Any]) -> str:
    return (
        f"{request['num_frames']} frames {request['width']}x{request['height']} "
        f"@ {request['frame_rate']:g} fps, "
        f"{request['num_inference_steps']} steps, {len(request.get('conditions', []))} keyframes"
    )


def submit(store: JobStore, worker: Worker, request: dict[str, Any], images: list[bytes]) -> dict[str, Any]:
    """Queue a checked request: pick a seed if none, fill sampling defaults from the model's profile,
    record what conditioning will be applied."""
    if request.get("seed") is None:
        request["seed"] = secrets.randbelow(2**31)
    sampling = profiles.resolve(request, worker.backend.profile())
    applied = conditioning.apply(request, sampling).to_dict()
    status = store.create(request, images, applied)
    worker.notify()
    return status
