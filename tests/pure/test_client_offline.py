"""The stdlib client without a server: URL rules, Online Access, and the sentence for nobody listening."""

from __future__ import annotations

import pytest

from blender_ltx.core.client import Client, is_loopback_url, normalize_url
from blender_ltx.core.protocol import ServerError
from support.server import free_port


def test_nothing_listening_is_one_actionable_sentence():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServerError) as err:
        Client(url, timeout=2).health()
    msg = str(err.value)
    assert msg.startswith(f"No LTX server at {url}:") and "python -m server" in msg and "preferences" in msg
    assert msg.count("\n") == 0


def test_remote_server_refused_without_online_access():
    with pytest.raises(ServerError, match="Online Access"):
        Client("http://example.invalid:8765", online_access=False)
    Client("http://127.0.0.1:8765", online_access=False)  # loopback is always allowed
    Client("http://localhost:8765", online_access=False)


def test_url_helpers():
    assert normalize_url("127.0.0.1:8765/") == "http://127.0.0.1:8765"
    assert (
        is_loopback_url("http://[::1]:80")
        and is_loopback_url("http://127.3.4.5")
        and not is_loopback_url("http://10.0.0.1")
    )
    with pytest.raises(ServerError, match="empty"):
        normalize_url(" ")
    with pytest.raises(ServerError, match="http"):
        normalize_url("ftp://x")
