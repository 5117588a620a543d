"""Which server generation talks to: the preferences' (or the command line's) URL and token, a local
server this Blender starts when asked to, and the one-sentence connection test."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any, Callable

import bpy

from ...core import courier, server_info
from ...core.client import is_loopback_url
from ...core.courier_wire import ClientConfig
from ..addon.prefs import DEFAULTS, get_prefs
from . import courier_link, server_process, tick

#: How long a submit waits for a local server that this Blender has just started (model loading).
LOCAL_START_WAIT_S = 300.0

_server_override: dict[str, Any] = {}


def set_server(url: str | None = None, token: str | None = None) -> None:
    """Use this server instead of the preferences' (the command line's ``--server``)."""
    _server_override.clear()
    if url:
        _server_override["url"] = url
    if token:
        _server_override["token"] = token


def client_config(context=None) -> ClientConfig:
    prefs = get_prefs(context)
    return ClientConfig(
        url=_server_override.get("url") or prefs.server_url,
        token=_server_override.get("token", prefs.token),
        timeout=float(prefs.timeout_s),
        online_access=bool(getattr(bpy.app, "online_access", True)),
    )


def with_local_server(cfg: ClientConfig, context=None) -> ClientConfig:
    """With "Start Local Server" on and the URL on this computer, start the server if this Blender has
    not yet (it keeps running across generations); submits then wait for it to come up.

    Never waits: whether someone else's server already answers there is the courier's question (as
    for Test Connection); the tick starts ours once it says no. The settings are checked here, so a
    wrong Server Python is still refused in the click with its sentence."""
    prefs = get_prefs(context)
    wanted = getattr(prefs, "start_local_server", False) and "url" not in _server_override
    if not wanted or not is_loopback_url(cfg.url):
        return cfg
    if not server_process.is_running():
        spec = SimpleNamespace(**{k: getattr(prefs, k) for k in DEFAULTS})  # as they are at the click
        server_process.check(spec)
        _start_unless_answered(cfg, spec)
    return replace(cfg, start_wait_s=LOCAL_START_WAIT_S)


def _start_unless_answered(cfg: ClientConfig, spec) -> None:
    link = courier_link.get()
    probe_id = link.probe(cfg)

    def start_local_server() -> int:
        answer = link.probe_answer(probe_id)
        if answer is None:
            return 1  # asked, not answered yet
        if not answer[0] and not server_process.is_running():
            server_process.start(spec)  # nobody answers there: ours
        return 0

    def failed(sentence: str) -> None:
        link.server_gone(sentence)  # the submits waiting for it fail with why

    tick.add_hook(start_local_server, failed)


def test_connection(context=None) -> tuple[bool, str]:
    """(ok, one sentence): the server's model, device and capabilities, or what is wrong."""
    return connection_probe(context)()


def connection_probe(context=None) -> Callable[[], tuple[bool, str]]:
    """The connection test as a call that touches no bpy: the settings are read here (main thread), the
    returned function asks the server from wherever it runs. The Test Connection click does not call it
    in Blender: it hands the same question to the courier (``courier_link.get().probe``) and waits on a modal
    timer, so a hung server never freezes Blender."""
    cfg = client_config(context)
    return lambda: _probe(cfg)


def _probe(cfg: ClientConfig) -> tuple[bool, str]:
    ok, sentence, health = courier.probe_health(cfg)  # the courier's own sentence: a click and a script
    if ok:
        server_info.remember(cfg.url, health)
    return ok, sentence


# -- what the server can do (live state, filled by the courier: Test Connection, the first submit) ----
def server_url(context=None) -> str:
    return _server_override.get("url") or get_prefs(context).server_url


def capability(context, name: str) -> tuple[bool, str]:
    """(available, reason) of capability ``name`` ("audio", "camera_lora", "control_depth"...) on the
    server generation talks to, from what the courier last heard of it. A server not asked yet counts as
    able ("not checked yet"); the server refuses what it cannot do with a sentence anyway."""
    return server_info.capability(server_url(context), name)


def draw_capability(layout, context, name: str):
    """A sub-layout for the switches of capability ``name``: greyed out, with the reason on a line of its
    own (Blender cannot change a property's tooltip), when the server lacks it. Draw the switches in it."""
    ok, reason = capability(context, name)
    col = layout.column()
    col.enabled = ok
    if not ok:
        layout.label(text=reason, icon="INFO")
    return col


def server_loras(context=None, role: str | None = None) -> list[dict]:
    """The usable LoRAs the server generation talks to has loaded ("camera" or "ic" when ``role``)."""
    return server_info.loras(server_url(context), role)
