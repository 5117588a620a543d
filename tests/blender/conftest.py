"""Blender tests: real bpy (Blender as a Python module), reset to an empty factory scene per test."""

from __future__ import annotations

from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    # Everything under tests/blender needs bpy, whether or not the module says so.
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.blender)


@pytest.fixture
def scene():
    """An empty factory-settings scene (the state Blender starts from with ``--factory-startup``)."""
    from scenes import reset

    return reset()
