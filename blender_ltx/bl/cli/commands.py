"""Command line, one code path for both entry points:

- inside Blender: ``blender -b -c ltx plan FILE.blend [--json OUT]`` (``register_cli_command``);
- where bpy is a Python module: ``python -m blender_ltx plan FILE.blend [--json OUT]``.

Adding a subcommand is one ``cmd_<name>(args) -> int`` function plus one ``_add_<name>(sub)`` call in
``build_parser``. bpy is imported inside the command functions only, so parsing and ``--help`` stay cheap
and this module imports anywhere.

Exit codes: 0 done, 1 the input cannot be used (the message on stderr says what to change), 2 bad
command-line usage (argparse).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from ...core import control as control_rules

#: Blender's command id: ``blender -c ltx ...``.
CLI_ID = "ltx"

# What a .blend starts with: plain, gzip (Blender < 3.0 compression), zstd (3.0+ compression).
_BLEND_MAGIC = (b"BLENDER", b"\x1f\x8b", b"\x28\xb5\x2f\xfd")


class CliError(Exception):
    """A problem with the command's input; the message is one sentence saying what to change."""


# --- shared helpers --------------------------------------------------------------------------------


def open_blend(path: str) -> None:
    """Load ``path`` as Blender's main file, with one-sentence errors for the usual mistakes."""
    if not os.path.exists(path):
        raise CliError(f"{path} does not exist: pass the path of a saved .blend file.")
    if not os.path.isfile(path):
        raise CliError(f"{path} is not a file: pass the path of a saved .blend file.")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head.startswith(_BLEND_MAGIC):
        raise CliError(f"{path} is not a .blend file: pass a file saved by Blender.")
    import bpy  # after the checks: a wrong path fails fast, without loading Blender

    try:
        bpy.ops.wm.open_mainfile(filepath=os.path.abspath(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown error"
        raise CliError(
            f"Blender could not open {path} ({first}): check that the file is not damaged."
        ) from exc


def pick_scene(name: str | None):
    """The scene called ``name``, or the file's active scene."""
    import bpy

    if name is None:
        return bpy.context.scene
    scene = bpy.data.scenes.get(name)
    if scene is None:
        have = ", ".join(repr(s.name) for s in bpy.data.scenes)
        raise CliError(f"There is no scene named {name!r}: pick one of {have} with --scene.")
    return scene


def scene_setting(scene, name: str, default):
    """A ``scene.ltx`` setting: from the registered add-on, else from the file's stored properties."""
    settings = getattr(scene, "ltx", None)
    if settings is not None and hasattr(settings, name):
        return getattr(settings, name)
    stored = scene.get("ltx")
    if stored is not None and name in stored:
        return stored[name]
    return default


# --- plan --------------------------------------------------------------------------------------------


def _add_plan(sub) -> None:
    p = sub.add_parser(
        "plan",
        help="read a .blend's cameras and markers as a shot plan",
        description="Read a .blend's cameras and markers as a shot plan and print it (or write its JSON).",
    )
    p.add_argument("blend", metavar="FILE.blend", help="the saved .blend file to read")
    p.add_argument("--json", metavar="OUT", help="write the plan as JSON to OUT (ShotPlan.to_json())")
    p.add_argument("--scene", metavar="NAME", help="scene to plan (default: the file's active scene)")
    p.add_argument("--pixel-budget", type=int, help="max width*height (default: the scene's LTX setting)")
    p.add_argument("--max-frames", type=int, help="longest clip, 8k+1 (default: the scene's LTX setting)")
    p.add_argument(
        "--no-preview-range", action="store_true", help="plan the scene range, ignore the preview range"
    )
    p.set_defaults(func=cmd_plan)


def _summary(plan) -> str:
    lines = [f"Scene {plan.scene!r}, {plan.fps:g} fps, {len(plan.shots)} shot(s):"]
    for s in plan.shots:
        g = s.generation
        segs = f", {len(g.segments)} segments" if len(g.segments) > 1 else ""
        lines.append(
            f"  {s.name:<16} {s.camera:<12} {s.frame_start:>6}-{s.frame_end:<6} "
            f"{g.num_frames:>3} f {g.width}x{g.height}{segs}  {s.script}"
        )
    return "\n".join(lines)


def cmd_plan(args: argparse.Namespace) -> int:
    from ...core.protocol import DEFAULT_MAX_FRAMES, DEFAULT_PIXEL_BUDGET
    from ..plan.scene import plan_scene

    open_blend(args.blend)
    scene = pick_scene(args.scene)
    pixel_budget = args.pixel_budget or scene_setting(scene, "pixel_budget", DEFAULT_PIXEL_BUDGET)
    max_frames = args.max_frames or scene_setting(scene, "max_frames", DEFAULT_MAX_FRAMES)
    plan = plan_scene(
        scene,
        pixel_budget=int(pixel_budget),
        max_frames=int(max_frames),
        use_preview_range=not args.no_preview_range,
    )
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        out_dir = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(out_dir):
            raise CliError(
                f"The folder of --json {args.json} does not exist: create it or pick another path."
            )
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(plan.to_json())
        print(f"Wrote {len(plan.shots)} shot(s) to {args.json}")
    else:
        print(_summary(plan))
    return 0


# --- generate ----------------------------------------------------------------------------------------


def _add_generate(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="generate the shots of a .blend on the LTX server and cut them into its VSE",
        description="Plan, render guide frames, submit the shots, wait for the clips (--wait), import them "
        "as takes and save. Without --wait: submit, store the job ids, save and exit (a later run with "
        "--wait, or opening the file in Blender, picks the jobs up).",
    )
    p.add_argument("blend", metavar="FILE.blend", help="the saved .blend file")
    p.add_argument("--shots", metavar="A,B", help="shot names, comma separated (default: the changed ones)")
    p.add_argument("--force", action="store_true", help="generate even shots whose inputs did not change")
    p.add_argument("--server", metavar="URL", help="server URL (default: the add-on preference)")
    p.add_argument("--token", help="server token (default: the add-on preference)")
    p.add_argument("--start-server", action="store_true", help="start a local server from this Python")
    p.add_argument("--model", default="tiny", help="model of --start-server (default: tiny)")
    p.add_argument("--wait", action="store_true", help="wait for the clips and import them")
    p.add_argument("--timeout", type=float, help="with --wait: stop waiting after this many seconds")
    p.add_argument("--output", metavar="OUT.blend", help="save here (default: back to FILE, backup FILE1)")
    p.add_argument("--scene", metavar="NAME", help="scene to generate (default: the file's active scene)")
    p.add_argument(
        "--control",
        choices=control_rules.CHOICES,
        help="previs control video of every shot of this run (default: each shot's setting, auto: the "
        "strongest the server offers, depth > tracks > canny)",
    )
    p.add_argument(
        "--look",
        choices=("previs", "prompt", "frame"),
        help="where the picture of this run's shots comes from, saved as their Look: previs (the render), "
        "prompt (no picture: words and control), frame (the shot's chosen look frame or Look Image)",
    )
    p.add_argument(
        "--draft",
        action="store_true",
        help="make draft takes: the model's first stage at half size, fast; `finalize` makes them final",
    )
    p.add_argument(
        "--enhance-prompt",
        action="store_true",
        help="turn on Enhance Prompt for this run's shots (saved with them): the server's prompt enhancer "
        "rewrites each prompt, keeping the camera sentence (LTX-2.5 started with --prompt-enhancement)",
    )
    p.set_defaults(func=cmd_generate)


def ensure_registered() -> None:
    """Register the add-on where bpy is a module (inside Blender the extension is already enabled)."""
    import bpy

    if not hasattr(bpy.types.Scene, "ltx"):
        import atexit

        from ... import register, unregister

        register()
        # bpy as a module hangs or crashes at exit while add-on preferences are still registered.
        atexit.register(unregister)
        # Runs before unregister (atexit is last-in, first-out): freeing the session's data first keeps
        # Blender from printing "Error: Not freed memory blocks" at exit after renders and movie strips.
        atexit.register(bpy.ops.wm.read_factory_settings, use_empty=True)


def _set_shots(scene, shots: list[str] | None, **values) -> None:
    """The shots of this run (named, else all planned) get ``values`` as their settings, saved with them."""
    from ..addon import props
    from ..plan.scene import plan_scene

    for name in shots or [s.name for s in plan_scene(scene).shots]:
        ss = props.shot_settings(scene, name)
        for key, value in values.items():
            setattr(ss, key, value)


def cmd_generate(args: argparse.Namespace) -> int:
    from ...core.paths import check_writable_file
    from ..flow import generate
    from ..link import server_process

    ensure_registered()
    out = os.path.abspath(args.output or args.blend)
    if not os.path.isdir(os.path.dirname(out)):
        raise CliError(f"The folder of --output {out} does not exist: create it or pick another path.")
    # Before anything is generated: an edit that cannot be saved would lose the takes and the job ids.
    check_writable_file(out, "--output" if args.output else "The .blend")
    if args.start_server:
        from types import SimpleNamespace

        from ..addon.prefs import DEFAULTS, get_prefs

        prefs = get_prefs()
        spec = SimpleNamespace(**{k: getattr(prefs, k) for k in DEFAULTS})
        spec.server_model = args.model
        here = os.path.dirname(os.path.abspath(args.blend))
        spec.server_data_dir = spec.server_data_dir or os.path.join(here, "ltx-server")
        spec.server_url = args.server or spec.server_url
        print(f"Starting the local server ({args.model}, data in {spec.server_data_dir}) ...", flush=True)
        # No --server: a free port, so a server already on the default port is never in the way.
        args.server = server_process.start(spec, port=None if args.server else 0, wait_s=300)
    generate.set_server(args.server, args.token)
    open_blend(args.blend)
    scene = pick_scene(args.scene)
    shots = [s.strip() for s in args.shots.split(",") if s.strip()] if args.shots else None
    if args.look:
        _set_shots(scene, shots, look_mode=args.look.upper())  # generate --look
    if args.enhance_prompt:
        _set_shots(scene, shots, enhance_prompt=True)
    try:
        result = generate.run_sync(
            scene,
            shots,
            force=args.force,
            report=lambda line: print(line, flush=True),
            wait_for_clips=args.wait,
            timeout=args.timeout,
            control=args.control,
            draft=args.draft,
        )
    finally:
        if args.start_server:
            server_process.stop()
    return _save(args, out, result)


def _save(args: argparse.Namespace, out: str, result: dict) -> int:
    """Save the edit (the user's file kept as FILE.blend1 when saved over) and say what happened."""
    import shutil

    import bpy

    if out == os.path.abspath(args.blend):
        shutil.copy2(out, out + "1")  # never lose the user's file: the previous version stays as FILE.blend1
    bpy.ops.wm.save_as_mainfile(filepath=out)
    print(result["message"])
    print(f"Saved {out}")
    if result["waiting"]:
        names = ", ".join(result["waiting"])
        print(f"Not imported within --timeout {args.timeout:g} s: {names}.", file=sys.stderr)
    return 1 if result["failed"] or result["waiting"] else 0


# --- looks -------------------------------------------------------------------------------------------


def _add_looks(sub) -> None:
    p = sub.add_parser(
        "looks",
        help="make candidate look frames of each shot on the server and put them on the Looks channel",
        description="Render each shot's first frame through its camera (the layout), send it with the "
        "scene's references and prompt as a look job, wait for the stills and place them as image strips "
        "on a muted Looks channel; the first becomes the shot's look. Saves the file.",
    )
    p.add_argument("blend", metavar="FILE.blend", help="the saved .blend file")
    p.add_argument("--count", type=int, default=4, help="candidate stills per shot (1 to 8; default 4)")
    p.add_argument("--shots", metavar="A,B", help="shot names, comma separated (default: all)")
    p.add_argument("--server", metavar="URL", help="server URL (default: the add-on preference)")
    p.add_argument("--token", help="server token (default: the add-on preference)")
    p.add_argument("--wait", action="store_true", help="wait for the stills (required for now)")
    p.add_argument("--timeout", type=float, help="stop waiting for a shot's stills after this many seconds")
    p.add_argument("--output", metavar="OUT.blend", help="save here (default: back to FILE, backup FILE1)")
    p.add_argument("--scene", metavar="NAME", help="scene (default: the file's active scene)")
    p.set_defaults(func=cmd_looks)


def cmd_looks(args: argparse.Namespace) -> int:
    import shutil

    import bpy

    from ...core.client import Client
    from ...core.looks import MAX_LOOK_COUNT
    from ...core.paths import check_writable_file
    from ..addon.prefs import get_prefs
    from ..flow import looks

    if not args.wait:
        raise CliError("looks runs with --wait for now (the background path comes with the panel).")
    if not 1 <= args.count <= MAX_LOOK_COUNT:
        raise CliError(f"--count must be 1 to {MAX_LOOK_COUNT} but is {args.count}.")
    ensure_registered()
    out = os.path.abspath(args.output or args.blend)
    if not os.path.isdir(os.path.dirname(out)):
        raise CliError(f"The folder of --output {out} does not exist: create it or pick another path.")
    check_writable_file(out, "--output" if args.output else "The .blend")
    open_blend(args.blend)
    scene = pick_scene(args.scene)
    prefs = get_prefs()
    client = Client(args.server or prefs.server_url, args.token or getattr(prefs, "token", None) or None)
    shots = [s.strip() for s in args.shots.split(",") if s.strip()] if args.shots else None
    result = looks.make_looks(
        scene, client, count=args.count, shot_names=shots, timeout=args.timeout, report=print
    )
    if out == os.path.abspath(args.blend):
        shutil.copy2(out, out + "1")
    bpy.ops.wm.save_as_mainfile(filepath=out)
    made = sum(len(v) for v in result["shots"].values())
    print(
        f"{made} look(s) for {len(result['shots'])} shot(s); {result['uploaded_bytes']} bytes uploaded "
        f"({result['reference_bytes']} bytes of references)"
    )
    print(f"Saved {out}")
    return 1 if result["failed"] else 0


# --- finalize ----------------------------------------------------------------------------------------


def _add_finalize(sub) -> None:
    p = sub.add_parser(
        "finalize",
        help="finalize the draft takes of a .blend's shots on the LTX server",
        description="Finalize each shot's active draft take (made with `generate --draft`): the server "
        "refines it into the final size with the draft's seed and conditions; with --wait the finals are "
        "imported as new takes above their drafts, and the file is saved.",
    )
    p.add_argument("blend", metavar="FILE.blend", help="the saved .blend file")
    p.add_argument(
        "--shot",
        action="append",
        metavar="NAME",
        help="a shot to finalize (repeatable; default: every shot whose active take is a draft)",
    )
    p.add_argument("--server", metavar="URL", help="server URL (default: the add-on preference)")
    p.add_argument("--token", help="server token (default: the add-on preference)")
    p.add_argument("--wait", action="store_true", help="wait for the finals and import them")
    p.add_argument("--timeout", type=float, help="with --wait: stop waiting after this many seconds")
    p.add_argument("--output", metavar="OUT.blend", help="save here (default: back to FILE, backup FILE1)")
    p.add_argument("--scene", metavar="NAME", help="scene to finalize (default: the file's active scene)")
    p.set_defaults(func=cmd_finalize)


def cmd_finalize(args: argparse.Namespace) -> int:
    from ...core.paths import check_writable_file
    from ..flow import finalize, generate

    ensure_registered()
    out = os.path.abspath(args.output or args.blend)
    if not os.path.isdir(os.path.dirname(out)):
        raise CliError(f"The folder of --output {out} does not exist: create it or pick another path.")
    check_writable_file(out, "--output" if args.output else "The .blend")
    generate.set_server(args.server, args.token)
    open_blend(args.blend)
    scene = pick_scene(args.scene)
    result = finalize.run_sync(
        scene,
        args.shot,
        report=lambda line: print(line, flush=True),
        wait_for_clips=args.wait,
        timeout=args.timeout,
    )
    return _save(args, out, result)


# --- demo --------------------------------------------------------------------------------------------


def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="build the demo previs, generate it on the tiny model, save the edit and a preview mp4",
        description="Build a gray-box previs with three shots, start the tiny server, generate every shot, "
        "save OUT/demo.blend with the edit (clips in OUT/ltx) and render OUT/preview.mp4.",
    )
    p.add_argument("--out", default="out/demo", metavar="DIR", help="output folder (default: out/demo)")
    p.add_argument("--server", metavar="URL", help="use this server instead of starting the tiny one")
    p.add_argument(
        "--model",
        default=None,
        help="the tiny model the started server runs (default: tiny-ltx2; or tiny, tiny-sana-wm)",
    )
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    ensure_registered()
    kw = {"model": args.model} if args.model else {}
    where = demo.run(args.out, report=lambda line: print(line, flush=True), server_url=args.server, **kw)
    print(f"The edit: {where['blend']}\nThe clips: {where['clips']}\nThe preview: {where['preview']}")
    return 0


# --- entry points -----------------------------------------------------------------------------------


def build_parser(prog: str = "ltx") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="blender-ltx: Blender previs to LTX-Video.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_plan(sub)
    _add_generate(sub)
    _add_finalize(sub)
    _add_looks(sub)
    _add_demo(sub)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "ltx") -> int:
    """Run one command; returns the exit code (argparse's own exits included, never raises SystemExit)."""
    parser = build_parser(prog)
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, usage errors
        return int(exc.code or 0)
    try:
        return int(args.func(args) or 0)
    except (CliError, ValueError) as exc:  # PlanError and the planners' checks are ValueErrors
        print(f"{prog} {args.command}: error: {exc}", file=sys.stderr)
        return 1


_handle = None


def register() -> None:
    global _handle
    import bpy

    if _handle is None:
        _handle = bpy.utils.register_cli_command(CLI_ID, lambda argv: main(argv, prog=f"blender -c {CLI_ID}"))


def unregister() -> None:
    global _handle
    import bpy

    if _handle is not None:
        bpy.utils.unregister_cli_command(_handle)
        _handle = None
