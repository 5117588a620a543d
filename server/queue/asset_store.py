"""Content-addressed assets on disk: images and videos uploaded once, named by their SHA-256.

``PUT /v1/assets/{sha256}`` stores the raw bytes (201; 200 when already there; 422 when the bytes do not
hash to the name; 413 above the body limit), ``HEAD /v1/assets/{sha256}`` says whether the server has
them. A request then carries ``{"asset": "<sha256>"}`` wherever it would carry an image or a video, so a
retake with an unchanged previs uploads nothing. An asset stays while any job refers to it; once none
does (and it is older than a grace period, so an upload whose job is still being sent survives) the
sweep at startup removes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from blender_ltx.core.protocol import ProtocolError

from .store import StorageFull, is_storage_full, storage_full_sentence

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
#: An asset no job refers to is kept this long after its upload before a sweep may remove it.
GRACE_S = 24 * 3600.0


def check_sha(sha: str, field: str) -> str:
    if not isinstance(sha, str) or not SHA256_RE.match(sha):
        raise ProtocolError(field, f"must be a SHA-256 as 64 lowercase hex digits, got {str(sha)[:80]!r}")
    return sha


def asset_refs(value: Any) -> Iterable[str]:
    """Every ``{"asset": sha}`` inside a request (any depth)."""
    if isinstance(value, dict):
        if set(value) == {"asset"} and isinstance(value["asset"], str):
            yield value["asset"]
        for v in value.values():
            yield from asset_refs(v)
    elif isinstance(value, list):
        for v in value:
            yield from asset_refs(v)


class AssetStore:
    """Files under ``root`` named by their hash; counts the bytes uploaded since the server started."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.uploaded_bytes = 0
        self.uploads = 0

    def path(self, sha: str) -> Path:
        return self.root / check_sha(sha, "sha256")

    def has(self, sha: str) -> bool:
        return self.path(sha).is_file()

    def put(self, sha: str, data: bytes) -> bool:
        """Store ``data`` as ``sha``; True when new. Raises ProtocolError when the hash does not match, and
        StorageFull (nothing left behind) when the disk refuses the write. Only accepted uploads count."""
        path = self.path(sha)
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha:
            raise ProtocolError(
                "sha256",
                f"does not match the uploaded bytes (their SHA-256 is {actual}): send the right bytes",
            )
        created = not path.is_file()
        if created:
            self._write(path, data)
        else:
            os.utime(path)  # a fresh upload restarts the grace period
        with self._lock:
            self.uploaded_bytes += len(data)
            self.uploads += 1
        return created

    def _write(self, path: Path, data: bytes) -> None:
        tmp = self.root / f".tmp-{secrets.token_hex(8)}"
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)  # atomic: a reader never sees half an asset
        except OSError as exc:
            tmp.unlink(missing_ok=True)  # a half-written temp file would hold the disk full for ever
            if is_storage_full(exc):
                raise StorageFull(storage_full_sentence(self.root.parent)) from exc
            raise

    def keep(self, data: bytes) -> str:
        """Store bytes the server made itself (a look job's stills); not counted as uploaded."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.path(sha)
        if path.is_file():
            os.utime(path)
        else:
            self._write(path, data)
        return sha

    def read(self, sha: str, field: str) -> bytes:
        """The bytes of a stored asset; ProtocolError naming ``field`` when the server lacks it."""
        check_sha(sha, field)
        try:
            return self.path(sha).read_bytes()
        except FileNotFoundError:
            raise ProtocolError(
                field, f"names asset {sha[:12]}... which this server does not have: upload it first (PUT)"
            ) from None

    def stats(self) -> dict[str, int]:
        files = [p for p in self.root.iterdir() if SHA256_RE.match(p.name)]
        return {
            "uploaded_bytes": self.uploaded_bytes,
            "uploads": self.uploads,
            "stored": len(files),
            "stored_bytes": sum(p.stat().st_size for p in files),
        }

    def sweep(self, referenced: set[str], grace_s: float = GRACE_S) -> int:
        """Remove assets no job refers to and older than ``grace_s``; returns how many went."""
        now, removed = time.time(), 0
        for p in self.root.iterdir():
            if p.name.startswith(".tmp-"):
                p.unlink(missing_ok=True)
            elif SHA256_RE.match(p.name) and p.name not in referenced and now - p.stat().st_mtime > grace_s:
                p.unlink(missing_ok=True)
                removed += 1
        return removed


def referenced_by_jobs(requests_json: Iterable[str]) -> set[str]:
    """The asset hashes the stored job requests (their JSON text) refer to."""
    out: set[str] = set()
    for text in requests_json:
        out.update(asset_refs(json.loads(text)))
    return out
