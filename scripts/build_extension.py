"""Build the installable extension zip.

The manifest lives at the repository root while the add-on's code lives in ``blender_ltx/``, so the
zip is built from a staging folder holding exactly those two (server, tests and benches never ship).
The build itself is Blender's own extension CLI: taken from the bpy module when installed
(``bpy/<ver>/scripts/addons_core/bl_pkg/cli/blender_ext.py``), otherwise run with a real Blender::

    blender --command extension build --source-dir build/extension --output-dir dist

Usage: ``python scripts/build_extension.py [--out dist] [--stage-only]``; prints the zip's path.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


def stage(dest: Path) -> Path:
    """Copy the manifest and the add-on package into ``dest`` (emptied first)."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(ROOT / "blender_ltx", dest, ignore=IGNORE)
    shutil.copy2(ROOT / "blender_manifest.toml", dest / "blender_manifest.toml")
    return dest


def find_blender_ext_cli() -> Path:
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "bpy is not installed in this Python: pip install bpy, or build with a real Blender:\n"
            "  blender --command extension build --source-dir build/extension --output-dir dist"
        )
    base = Path(list(spec.submodule_search_locations)[0])
    found = sorted(base.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise SystemExit(f"Blender's extension CLI (blender_ext.py) was not found under {base}")
    return found[-1]


def build(out_dir: Path, stage_dir: Path) -> Path:
    stage(stage_dir)
    cli = find_blender_ext_cli()
    out_dir.mkdir(parents=True, exist_ok=True)
    for cmd in (
        [sys.executable, str(cli), "validate", str(stage_dir)],
        [sys.executable, str(cli), "build", "--source-dir", str(stage_dir), "--output-dir", str(out_dir)],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[1:3])} failed:\n{proc.stdout}{proc.stderr}")
    zips = sorted(out_dir.glob("blender_ltx-*.zip"), key=lambda p: p.stat().st_mtime)
    if not zips:
        raise SystemExit(f"the build printed success but no blender_ltx-*.zip is in {out_dir}")
    return zips[-1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder for the zip")
    ap.add_argument("--stage", type=Path, default=ROOT / "build" / "extension", help="staging folder")
    ap.add_argument("--stage-only", action="store_true", help="only lay out the staging folder")
    args = ap.parse_args(argv)
    if args.stage_only:
        print(stage(args.stage))
    else:
        print(build(args.out, args.stage))
    return 0


if __name__ == "__main__":
    sys.exit(main())
