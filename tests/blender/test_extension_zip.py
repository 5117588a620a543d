"""The built extension zip installs into real Blender (bpy) headless and registers its UI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.blender

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, sys
import bpy, addon_utils
zip_path = sys.argv[-1]
out = {}
bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
mod = "bl_ext.user_default.blender_ltx"
out["enabled"] = bool(addon_utils.check(mod)[1])
out["ops"] = sorted(n for n in dir(bpy.ops.ltx) if not n.startswith("_"))
out["scene_prop"] = hasattr(bpy.types.Scene, "ltx")
out["panels"] = sorted(n for n in dir(bpy.types) if n.startswith("LTX_PT_"))
# The installed package (not the repository checkout) plans a scene.
import importlib
pkg = importlib.import_module(mod)
out["pkg_file"] = pkg.__file__
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
scene.collection.objects.link(cam)
scene.camera = cam
scene.frame_start, scene.frame_end = 1, 30
plan = pkg.plan_scene(scene)
out["shots"] = [(s.name, s.frame_start, s.frame_end) for s in plan.shots]
addon_utils.disable(mod)
out["disabled_scene_prop"] = hasattr(bpy.types.Scene, "ltx")
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build_extension.py"),
            "--out",
            str(out),
            "--stage",
            str(out / "stage"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])


def test_zip_ships_only_the_extension(extension_zip: Path) -> None:
    names = zipfile.ZipFile(extension_zip).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert any(n.startswith("core/") for n in names) and any(n.startswith("bl/") for n in names)
    foreign = ("server/", "tests/", "bench/", "scripts/")
    leaked = [n for n in names if n.startswith(foreign) or "__pycache__" in n]
    assert leaked == []


def test_zip_installs_enables_and_plans(extension_zip: Path, tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    proc = subprocess.run(
        [sys.executable, str(script), str(extension_zip)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT ") :])
    assert out["enabled"]
    # Installed under the user resources of this test, not the repository or the home folder.
    assert out["pkg_file"].startswith(str(tmp_path / "user"))
    for op in ("refresh_plan", "generate_shot", "generate_all", "cancel", "promote_take"):
        assert op in out["ops"]
    assert out["scene_prop"] and len(out["panels"]) >= 2
    assert out["shots"] == [["Cam", 1, 30]] or out["shots"][0][1:] == [1, 30]
    assert not out["disabled_scene_prop"]
