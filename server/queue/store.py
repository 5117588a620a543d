"""The persistent job store: SQLite under the data dir, the only record of job state.

State lives in ``jobs.sqlite3`` (WAL, one connection behind a lock, held EXCLUSIVE for the life of the
process so a second server on the same data dir is refused), keyframes and videos as files next to it.
Job ids are random hex made here, so no client string ever becomes a path. No thread of its own: the
job runners (runner.py), the motion measurements (motion.py) and the HTTP handlers call it.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blender_ltx.core import protocol

log = logging.getLogger("server.queue.store")

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

#: What a status reads: everything but the stored request, which only the job runner needs in full.
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


@dataclass(frozen=True)
class SubmitKey:
    """A client's ``Idempotency-Key`` and the digest of the body it came with (``body_digest``)."""

    key: str
    digest: str


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
                # A client's Idempotency-Key (api/routes/jobs.py): one job per key, for the job's life.
                if "idempotency_key" not in columns:
                    self._db.execute("ALTER TABLE jobs ADD COLUMN idempotency_key TEXT")
                self._db.execute(
                    "CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency_key ON jobs(idempotency_key)"
                )
                # The digest of the body the key first came with (a key re-sent with another body is
                # refused); NULL in rows made before it, which accept any body as they did.
                if "idempotency_digest" not in columns:
                    self._db.execute("ALTER TABLE jobs ADD COLUMN idempotency_digest TEXT")
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

    def latents_path(self, job_id: str) -> Path:
        """A draft's kept latents and keyframes (queue/drafts.py), beside its video."""
        return self.root / "videos" / f"{job_id}.draft.npz"

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
        idempotency_key: SubmitKey | None = None,
        files: dict[str, bytes] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Store a job and answer (its status, True); with a key some job already holds, store nothing and
        answer (that job's status, False). Keyframes (and ``files``: other inputs by name, e.g. a
        finalize's latents) are written to a temp folder and renamed into place before the row is
        inserted, and both are undone if either fails (a full disk leaves nothing half-written)."""
        job_id = secrets.token_hex(16)
        folder = self.inputs_dir(job_id)
        row = (
            job_id,
            "queued",
            request.get("shot"),
            json.dumps(request.get("tags") or {}),
            json.dumps(request),
            json.dumps({k: request.get(k) for k in _REQUEST_KEYS} | _kind_summary(request)),
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
                key = idempotency_key.key if idempotency_key else None
                holder = self._holder(key)
                if holder is None:
                    self._db.execute(
                        "INSERT INTO jobs (id, status, shot, tags, request, summary, applied, created_at, "
                        "idempotency_key, idempotency_digest) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (*row, time.time(), key, idempotency_key.digest if idempotency_key else None),
                    )
        except (OSError, sqlite3.Error) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            if is_storage_full(exc):
                raise StorageFull(storage_full_sentence(self.root)) from exc
            raise
        if holder is not None:  # a retry that crossed its first send: that job, nothing new
            shutil.rmtree(folder, ignore_errors=True)
            return self.get(holder), False
        return self.get(job_id), True

    def _holder(self, idempotency_key: str | None) -> str | None:
        if idempotency_key is None:
            return None
        found = self._db.execute(
            "SELECT id FROM jobs WHERE idempotency_key = ?", (idempotency_key,)
        ).fetchone()
        return found[0] if found else None

    def by_idempotency_key(self, idempotency_key: str) -> dict[str, Any] | None:
        """The status of the job stored with this key, or None."""
        with self._lock:
            job_id = self._holder(idempotency_key)
        return self.get(job_id) if job_id else None

    def idempotency_digest(self, idempotency_key: str) -> str | None:
        """The body digest stored with this key (None: no such key, or a row made before digests)."""
        rows = self._exec("SELECT idempotency_digest FROM jobs WHERE idempotency_key = ?", (idempotency_key,))
        return rows[0][0] if rows else None

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
        """Delete a final job's row, video and inputs, and a look job's stills that no other job names;
        False if it is not final (or not there)."""
        with self._lock:
            found = self._db.execute(
                "SELECT applied FROM jobs WHERE id = ? AND status IN (?, ?, ?)",
                (job_id, *protocol.FINAL_STATUSES),
            ).fetchone()
            gone = self._db.execute(
                "DELETE FROM jobs WHERE id = ? AND status IN (?, ?, ?)", (job_id, *protocol.FINAL_STATUSES)
            ).rowcount
        if gone:
            self.video_path(job_id).unlink(missing_ok=True)
            self.latents_path(job_id).unlink(missing_ok=True)
            shutil.rmtree(self.inputs_dir(job_id), ignore_errors=True)
            if found is not None:
                self._remove_stills(json.loads(found[0]))
        return bool(gone)

    def _remove_stills(self, applied: dict[str, Any]) -> None:
        """A removed look job's stills go with it, unless a kept job names them (a video job's look
        frame, another look job that made the same still)."""
        stills = {s["asset"] for s in applied.get("stills") or []}
        if not stills:
            return
        from .asset_store import asset_refs  # asset_store imports this module: import it when used

        kept = set(asset_refs([json.loads(t) for t in self.requests_json()])) | still_assets(
            self.applied_json()
        )
        for sha in stills - kept:
            (self.root / "assets" / sha).unlink(missing_ok=True)

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
            sizes = {i: _size(self.video_path(i)) + _size(self.latents_path(i)) for i in kept}
            total = sum(sizes.values())
            for job_id in kept:  # oldest first
                if total <= video_budget_bytes:
                    break
                doomed.append(job_id)
                total -= sizes[job_id]
        return sum(self.remove(job_id) for job_id in doomed)

    def requeue(self, job_id: str) -> None:
        """Put a running job back in the queue without counting the run (the server stopped it, not
        the job): shutdown, or a runner thread that died under it. A job asked to cancel ends cancelled."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END, "
                "finished_at = CASE WHEN cancel_requested = 1 THEN ? ELSE NULL END, "
                "progress=0, started_at=NULL, attempts=MAX(attempts-1, 0) WHERE id=? AND status='running'",
                (time.time(), job_id),
            )

    def set_motion(self, job_id: str, motion: dict[str, Any]) -> None:
        """Record the motion meter's answer (or ``{"pending": true}``) on a job."""
        self._exec("UPDATE jobs SET motion = ? WHERE id = ?", (json.dumps(motion), job_id))

    def motion_pending(self, pending: dict[str, Any]) -> list[str]:
        """Succeeded jobs whose motion is still ``pending``, oldest first."""
        rows = self._exec(
            "SELECT id FROM jobs WHERE status = 'succeeded' AND motion = ? ORDER BY seq",
            (json.dumps(pending),),
        )
        return [r[0] for r in rows]

    def applied_json(self) -> list[str]:
        """Every stored job's ``applied`` as JSON text (the sweep keeps the stills look jobs made)."""
        return [r[0] for r in self._exec("SELECT applied FROM jobs")]

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
            if row["status"] == "succeeded" and shown.get("kind", "video") == "video"
            else None,
            "motion": json.loads(row["motion"]) if row["motion"] else None,
        }

    def close(self) -> None:
        with self._lock:
            self._db.close()


def still_assets(applied_json: list[str]) -> set[str]:
    """The stills every stored look job made (the asset sweep keeps them while their job is kept)."""
    out: set[str] = set()
    for text in applied_json:
        out.update(s["asset"] for s in json.loads(text).get("stills") or [])
    return out


def _kind_summary(request: dict[str, Any]) -> dict[str, Any]:
    """What a status shows of a job's kind: look jobs their count, video jobs their look."""
    if request.get("kind") == "look":
        return {"kind": "look", "count": request.get("count")}
    return {"kind": "video", "look": request.get("look", "previs")}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
