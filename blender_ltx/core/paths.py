"""Can we write there? Checked before anything is sent, so no job runs whose clip or edit has nowhere
to go."""

from __future__ import annotations

import os


def check_writable_dir(path: str, what: str) -> None:
    """Raise ValueError (one sentence naming ``what`` and the fix) unless ``path`` is a folder we can
    write in, or one we can create: its nearest existing ancestor must be a writable folder."""
    path = os.path.abspath(path)
    probe = path
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise ValueError(f"{what} {path} cannot be created because {probe} is a file: pick another folder.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(
            f"{what} {path} is not writable ({probe} is read-only): pick a folder you can write to."
        )


def check_writable_file(path: str, what: str) -> None:
    """Like ``check_writable_dir`` for a file that will be written (or overwritten) at ``path``."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{what} {path} is a folder: pass a file path.")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise ValueError(f"{what} {path} is read-only: make it writable or pick another path.")
    check_writable_dir(os.path.dirname(path), f"The folder of {what.lower()}")
