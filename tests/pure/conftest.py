"""The pure suite runs without a server (or Blender): a test here that starts one fails with where it
belongs instead of quietly making the fast suite slow."""

from __future__ import annotations

import pytest
import support.server


@pytest.fixture(autouse=True)
def _no_server(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("tests/pure starts no server: move this test to tests/server or tests/blender.")

    monkeypatch.setattr(support.server, "start_server", refuse)
