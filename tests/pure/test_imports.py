"""The add-on's package and its core import without Blender (the server and scripts rely on it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHECK = """
import importlib, pkgutil, sys
import blender_ltx, blender_ltx.core
core = [m.name for m in pkgutil.iter_modules(blender_ltx.core.__path__)]
mods = ["blender_ltx"] + [f"blender_ltx.core.{name}" for name in core]
for name in mods:
    importlib.import_module(name)
heavy = sorted(m for m in ("bpy", "mathutils", "torch", "diffusers", "requests") if m in sys.modules)
print(len(mods), ",".join(heavy))
"""


def test_core_imports_without_bpy_or_heavy_libraries() -> None:
    # A fresh interpreter, so nothing another test imported counts.
    proc = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    count, heavy = proc.stdout.split()[0], proc.stdout.strip().partition(" ")[2]
    assert int(count) >= 8  # every core module was imported
    assert heavy == ""


def test_cli_help_does_not_load_blender() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "blender_ltx", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "plan" in proc.stdout
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "bpy" not in imported
