"""HTTP client for the generation server (stdlib urllib only: the extension ships no ``requests``).

Every failure leaves this module as one :class:`~blender_ltx.core.protocol.ServerError` whose message
is a sentence the user can act on; this is the only place that turns network errors into words.
No bpy here: the Blender side passes ``online_access`` in (``bpy.app.online_access``).
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .protocol import API_PREFIX, ServerError

START_HINT = "start it with `python -m server --model tiny` or set the server URL in the add-on preferences"
_CHUNK = 1 << 16
#: Seconds one request may take before the server counts as unreachable (the preference's default).
DEFAULT_TIMEOUT_S = 10.0
#: The header that makes a submit safe to send again (the server makes one job per key).
IDEMPOTENCY_HEADER = "Idempotency-Key"


def is_loopback_url(url: str) -> bool:
    """True when ``url`` points at this computer (127.0.0.0/8, ::1 or ``localhost``). Named apart from
    the server's ``settings.host_is_loopback(host)``, which checks a bind address."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_url(url: str) -> str:
    """``url`` without trailing slashes, with ``http://`` added when the scheme is missing."""
    url = (url or "").strip()
    if not url:
        raise ServerError(
            "The server URL is empty: set it in the add-on preferences (e.g. http://127.0.0.1:8765)."
        )
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServerError(
            f"The server URL {url!r} is not an http(s) address: set it like http://127.0.0.1:8765."
        )
    return url.rstrip("/")


def _detail(body: bytes) -> str:
    """The server's own message from an error body (FastAPI ``{"detail": ...}``), as one line."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return body.decode("utf-8", "replace").strip()[:300]
    detail = data.get("detail", data) if isinstance(data, dict) else data
    if isinstance(detail, list):  # pydantic's list of errors: "loc: msg" for each
        parts = []
        for err in detail:
            if isinstance(err, dict):
                loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
                parts.append(f"{loc}: {err.get('msg', '')}" if loc else str(err.get("msg", "")))
            else:
                parts.append(str(err))
        return "; ".join(parts)
    if isinstance(detail, dict):
        return detail.get("message") or json.dumps(detail)
    return str(detail)


class Client:
    """One generation server. Methods return the decoded JSON of the API (see protocol's docstring)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        *,
        online_access: bool = True,
    ):
        self.base_url = normalize_url(base_url)
        self.token = token or None
        self.timeout = float(timeout)
        self.loopback = is_loopback_url(self.base_url)
        if not self.loopback and not online_access:
            raise ServerError(
                f"Blender's Online Access is off, so the add-on only talks to a server on this computer, "
                f"not {self.base_url}: enable Online Access in Preferences > System or use a local server."
            )
        # A loopback server must not go through an HTTP proxy from the environment.
        handlers = [urllib.request.ProxyHandler({})] if self.loopback else []
        self._opener = urllib.request.build_opener(*handlers)

    # -- API -------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._json("GET", "/health")

    def submit(self, request: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """Queue a job. With ``idempotency_key`` (1-128 of ``[A-Za-z0-9_-]``, one per submit) the server
        makes one job per key: sending the same submit again answers the job the first one made."""
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else None
        return self._json("POST", "/jobs", request, headers=headers)

    def status(self, job_id: str) -> dict[str, Any]:
        return self._json("GET", f"/jobs/{_quote(job_id)}", job_id=job_id)

    def list_jobs(self) -> list[dict[str, Any]]:
        data = self._json("GET", "/jobs")
        return data.get("jobs", []) if isinstance(data, dict) else data

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a queued or running job; one that has just ended is left alone (its clip is a take)."""
        return self._json("POST", f"/jobs/{_quote(job_id)}/cancel", job_id=job_id)

    def download(self, job_id: str, dest_path: str) -> str:
        """Write the job's mp4 to ``dest_path`` (through a temporary file, so a broken transfer never
        leaves a half clip behind) and return the path."""
        os.makedirs(os.path.dirname(os.path.abspath(dest_path)), exist_ok=True)
        tmp = dest_path + ".part"
        with self._open("GET", f"/jobs/{_quote(job_id)}/video", job_id=job_id) as resp:
            try:
                with open(tmp, "wb") as f:
                    while chunk := resp.read(_CHUNK):
                        f.write(chunk)
            except (OSError, socket.timeout) as exc:
                _remove(tmp)
                if isinstance(exc, socket.timeout):
                    raise self._timeout_error() from exc
                raise ServerError(f"Could not write the clip to {dest_path}: {exc.strerror or exc}.") from exc
        os.replace(tmp, dest_path)
        return dest_path

    def has_asset(self, sha256: str) -> bool:
        """Whether the server already stores the asset (content-addressed, see put_asset)."""
        try:
            with self._open("HEAD", f"/assets/{_quote(sha256)}"):
                return True
        except ServerError as exc:
            if exc.status == 404:
                return False
            raise

    def put_asset(self, data: bytes, sha256: str | None = None) -> str:
        """Upload ``data`` once, addressed by its SHA-256 (computed when not given); returns the hash,
        which a request then carries as ``{"asset": sha256}``."""
        sha = sha256 or hashlib.sha256(data).hexdigest()
        with self._open("PUT", f"/assets/{_quote(sha)}", raw=bytes(data)) as resp:
            resp.read()
        return sha

    def get_asset(self, sha256: str) -> bytes:
        """The bytes of a stored asset (a look job's still), checked against their hash."""
        with self._open("GET", f"/assets/{_quote(sha256)}") as resp:
            data = resp.read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ServerError(f"The server sent other bytes for asset {sha256[:12]}...; try again.")
        return data

    def ensure_asset(self, data: bytes) -> str:
        """The asset's hash, uploading ``data`` only when the server does not have it yet."""
        sha = hashlib.sha256(data).hexdigest()
        return sha if self.has_asset(sha) else self.put_asset(data, sha)

    # -- plumbing --------------------------------------------------------------------------------
    def _json(
        self,
        method: str,
        path: str,
        body: Any = None,
        job_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        with self._open(method, path, body, job_id=job_id, headers=headers) as resp:
            try:
                raw = resp.read()
            except socket.timeout as exc:
                raise self._timeout_error() from exc
        try:
            return json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, ValueError) as exc:
            raise ServerError(
                f"{self.base_url} answered with something that is not JSON: "
                "check that the URL points at an LTX server."
            ) from exc

    def _open(
        self,
        method: str,
        path: str,
        body: Any = None,
        job_id: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ):
        data = raw
        headers = {"Accept": "application/json", **(headers or {})}
        if raw is not None:
            headers["Content-Type"] = "application/octet-stream"
        elif body is not None:
            data = json.dumps(body, allow_nan=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = self.base_url + API_PREFIX + path
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            return self._opener.open(req, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            with exc:
                detail = _detail(exc.read())
            raise self._http_error(exc.code, detail, job_id) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise self._timeout_error() from None
            if isinstance(reason, ConnectionRefusedError):
                raise ServerError(f"No LTX server at {self.base_url}: {START_HINT}.") from None
            if isinstance(reason, socket.gaierror):
                raise ServerError(
                    f"Cannot resolve the server host in {self.base_url}: "
                    "check the server URL in the add-on preferences."
                ) from None
            raise ServerError(
                f"Cannot reach the LTX server at {self.base_url} ({reason}): {START_HINT}."
            ) from None
        except (socket.timeout, TimeoutError):
            raise self._timeout_error() from None
        except (ConnectionError, http.client.HTTPException) as exc:
            raise ServerError(
                f"The connection to {self.base_url} broke ({exc.__class__.__name__}): the server may have "
                "restarted; it will be retried."
            ) from None

    def _timeout_error(self) -> ServerError:
        return ServerError(
            f"The LTX server at {self.base_url} did not answer within {self.timeout:g} s: it may be busy "
            "loading its model; try again or raise the timeout in the add-on preferences."
        )

    def _http_error(self, code: int, detail: str, job_id: str | None) -> ServerError:
        url = self.base_url
        if code in (401, 403):
            msg = (
                f"The LTX server at {url} refused the request ({detail or 'unauthorized'}): set the add-on's "
                "token to the server's --token."
            )
        elif code == 404 and job_id is not None:
            msg = (
                f"Job {job_id} is not on the server at {url}: it was started on another server or data "
                "folder; generate the shot again."
            )
        elif code == 409:
            msg = f"Job {job_id}'s clip is not ready yet ({detail}): wait until the job has succeeded."
        elif code == 413:
            msg = (
                f"The request is too large for the server at {url} ({detail}): "
                "use fewer or smaller guide frames."
            )
        elif code in (400, 422):
            msg = f"The server rejected the request: {detail}"
        elif code >= 500:
            msg = f"The LTX server at {url} failed (HTTP {code}: {detail}): see the server's log."
        else:
            msg = f"The LTX server at {url} answered HTTP {code}: {detail}"
        if not msg.endswith((".", "!", "?")):
            msg += "."
        return ServerError(msg, status=code)


def _quote(job_id: str) -> str:
    return urllib.parse.quote(str(job_id), safe="")


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
