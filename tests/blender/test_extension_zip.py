"""The built extension zip installs into real Blender (bpy) headless and registers its UI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support.server import run_server

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


# The round trip through the *installed* extension: its operators, its preferences, its VSE import.
ROUND_TRIP = r"""
import json, sys
import bpy, addon_utils, importlib
zip_path, server_url, blend = sys.argv[-3:]
mod = "bl_ext.user_default.blender_ltx"
bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
pkg = importlib.import_module(mod)
bpy.ops.wm.read_homefile(use_empty=True)  # an empty scene; unlike factory settings, keeps add-ons
prefs = bpy.context.preferences.addons[mod].preferences
prefs.server_url = server_url
importlib.import_module(mod + ".bl.cli.demo").build_scene(bpy.context.scene, pixel_budget=128 * 96, steps=1)
scene = bpy.context.scene
render_before = (scene.render.engine, scene.render.resolution_x, scene.render.filepath, scene.frame_current)
bpy.ops.wm.save_as_mainfile(filepath=blend)
bpy.ops.ltx.refresh_plan()
bpy.ops.ltx.generate_all()
vse = importlib.import_module(mod + ".bl.edit.vse")
out = {"shots": []}
for ss in scene.ltx.shots:
    strip = vse.active_take(scene, ss.name)
    out["shots"].append({
        "name": ss.name, "start": ss.frame_start, "end": ss.frame_end, "status": ss.job_status,
        "strip": None if strip is None else [strip.frame_final_start, strip.frame_final_end - 1,
                                             strip.filepath, strip.ltx.job_id],
    })
out["render_same"] = render_before == (
    scene.render.engine, scene.render.resolution_x, scene.render.filepath, scene.frame_current)
print("RESULT " + json.dumps(out))
"""


def run_in_fresh_blender(code: str, tmp_path: Path, *args: str) -> dict:
    """Run ``code`` in a new bpy process whose user resources (extensions, prefs) live in ``tmp_path``;
    returns the JSON it printed after ``RESULT ``."""
    script = tmp_path / "child.py"
    script.write_text(code)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


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
    out = run_in_fresh_blender(CHILD, tmp_path, str(extension_zip))
    assert out["enabled"]
    # Installed under the user resources of this test, not the repository or the home folder.
    assert out["pkg_file"].startswith(str(tmp_path / "user"))
    for op in ("refresh_plan", "generate_shot", "generate_all", "cancel", "promote_take"):
        assert op in out["ops"]
    assert out["scene_prop"] and len(out["panels"]) >= 2
    assert out["shots"] == [["Cam", 1, 30]] or out["shots"][0][1:] == [1, 30]
    assert not out["disabled_scene_prop"]


def test_installed_extension_generates_all_shots(
    extension_zip: Path, tmp_path: Path, tiny_model_dir: Path
) -> None:
    blend = tmp_path / "project" / "previs.blend"
    blend.parent.mkdir()
    with run_server(tmp_path / "srv", model=str(tiny_model_dir)) as srv:
        out = run_in_fresh_blender(ROUND_TRIP, tmp_path, str(extension_zip), srv.url, str(blend))
    assert len(out["shots"]) == 3
    for shot in out["shots"]:
        assert shot["strip"] is not None, shot
        start, end, filepath, job_id = shot["strip"]
        assert (start, end) == (shot["start"], shot["end"])
        assert job_id and filepath.startswith("//ltx/")
        assert (blend.parent / filepath[2:]).is_file()
    assert out["render_same"]
