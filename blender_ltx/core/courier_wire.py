"""What the add-on and its network courier say to each other (no bpy, no I/O).

Commands go from Blender to the courier process, messages come back; both are the dataclasses below,
sent as one JSON object per line with a ``type`` tag (``encode`` / ``decode``). Besides these, the link
has a few control lines of its own: ``hello`` (the child proves it is ours), ``beat`` (the child is
alive), ``done`` (a command is handled), ``reset`` (another .blend: drop every watch) and
``server_gone`` (the local server this Blender started has exited).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from .client import Client

#: The environment variable that hands the child its token (not the command line: others can read that).
TOKEN_ENV = "LTX_COURIER_TOKEN"

#: (scene session_uid, shot name, segment index): whom a job belongs to.
Key = tuple[int, str, int]
#: The segment index of a shot's look job (``"kind": "look"``): its stills, not a clip.
LOOK_SEGMENT = -1


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


# -- commands: Blender -> courier ----------------------------------------------------------------------
@dataclass
class Submit:
    key: Key
    cfg: ClientConfig
    request: dict[str, Any]
    dest: str  # absolute path the clip is downloaded to
    #: The previs control to resolve against the server before posting (``bl/control.spec_for``).
    control: dict[str, Any] | None = None
    #: One per submit, made with it: a courier that restarts sends the submit again with the same key,
    #: and the server makes one job of the two (``Client.submit``).
    idempotency_key: str = field(default_factory=lambda: secrets.token_hex(16))
    #: A look job's pictures, files the courier uploads as content-addressed assets and names in the
    #: request: {"layout": [kind, path] | None, "references": [{name, kind, path}]}. ``dest`` is then
    #: the folder the stills are downloaded to.
    look: dict[str, Any] | None = None


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


@dataclass
class Probe:
    """Test Connection: ask the server's health and answer with a sentence (``Probed``)."""

    probe_id: int
    cfg: ClientConfig


Command = Submit | Track | Cancel | Probe


# -- messages: courier -> Blender ----------------------------------------------------------------------
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
    #: A look job's stills as downloaded, in the order of ``job["applied"]["stills"]``.
    files: list[str] = field(default_factory=list)


@dataclass
class Measured:
    """The clip's camera motion as the server's meter measured it (sent after ``Downloaded``):
    ``motion`` is the job status's final ``motion`` (see server/meter/job_motion.py), or None when
    none came (``note`` says why: a server without the meter, or no answer within the wait)."""

    key: Key
    job_id: str
    motion: dict[str, Any] | None = None
    note: str = ""
    epoch: int = 0


@dataclass
class Failed:
    """Nothing more will come of this job: failed or cancelled on the server, rejected, or lost."""

    key: Key
    job_id: str
    status: str  # failed | cancelled | error
    message: str
    epoch: int = 0


@dataclass
class Probed:
    """Test Connection's answer (``probe_id`` 0: a health the courier asked on its own, e.g. at the
    first submit to a server); ``health`` is the server's answer, kept as live state by the add-on."""

    probe_id: int
    ok: bool
    sentence: str
    epoch: int = 0
    health: dict[str, Any] = field(default_factory=dict)
    url: str = ""


Message = Submitted | Update | Note | Downloaded | Measured | Failed | Probed

_TYPES = {
    cls.__name__: cls
    for cls in (Submit, Track, Cancel, Probe, Submitted, Update, Note, Downloaded, Measured, Failed, Probed)
}


def encode(obj: Any, **extra: Any) -> bytes:
    """One line for the link: a command or message dataclass, or a control dict (``{"type": ...}``)."""
    if dataclasses.is_dataclass(obj):
        data = {"type": type(obj).__name__, **dataclasses.asdict(obj), **extra}
    else:
        data = {**obj, **extra}
    return json.dumps(data, separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n"


def decode(line: bytes) -> tuple[Any, dict[str, Any]]:
    """(dataclass or None, the raw dict) of one line; control lines give None and their dict."""
    data = json.loads(line.decode("utf-8"))
    cls = _TYPES.get(data.get("type"))
    if cls is None:
        return None, data
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    if "key" in kwargs:
        kwargs["key"] = tuple(kwargs["key"])
    if "cfg" in kwargs:
        kwargs["cfg"] = ClientConfig(**kwargs["cfg"])
    return cls(**kwargs), data


class LineBuffer:
    """Bytes in, whole lines out (a socket read may end in the middle of a line)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        if b"\n" not in data:  # the middle of a long line (a submit with its guide frames)
            self._buf += data
            return []
        self._buf += data
        *lines, rest = bytes(self._buf).split(b"\n")
        self._buf = bytearray(rest)
        return [ln for ln in lines if ln.strip()]
