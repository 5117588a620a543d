"""Blend-relative paths (``//``) made absolute, also for a .blend that was never saved."""

from __future__ import annotations

import logging
import os
import tempfile

import bpy

log = logging.getLogger(__name__)


def unsaved_base() -> str:
    """Where blend-relative paths resolve while the .blend was never saved: a temp project folder."""
    return os.path.join(tempfile.gettempdir(), "blender-ltx-unsaved")


_warned_unsaved = False


def abspath(path: str) -> str:
    """An absolute path for reading/writing. ``//`` is the .blend's folder; for an unsaved .blend it is
    :func:`unsaved_base` (with a warning, once: save the .blend first to keep clips next to it)."""
    global _warned_unsaved
    if path.startswith("//") and not bpy.data.filepath:
        if not _warned_unsaved:
            _warned_unsaved = True
            log.warning(
                "The .blend is not saved; clips go to %s. Save the .blend to keep them next to it.",
                unsaved_base(),
            )
        return os.path.normpath(os.path.join(unsaved_base(), path[2:]))
    return os.path.normpath(bpy.path.abspath(path))
