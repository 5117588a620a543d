"""Main-thread time of background generation: how long each timer tick holds Blender's main thread.

    .venvs/bl45/bin/python bench/bench_tick.py
    .venvs/bl50/bin/python bench/bench_tick.py --budget 393216 --steps 4   # default-size clips
    .venvs/bl45/bin/python bench/bench_tick.py --control depth   # the click with control (tiny LTX-2)
    .venvs/bl45/bin/python bench/bench_tick.py --shots 48 --budget 393216 --click-only   # the click alone
    .venvs/bl45/bin/python bench/bench_tick.py --shots 48 --looks-click   # the Generate Looks click alone

Builds the demo previs (three shots, or ``--shots N``: the three repeated), starts the real server
(tiny model) on a free loopback port, starts async generation of every shot (``generate.start_async``,
the click: plan, checks, requests and one copy of the file on the main thread; the guide renders run in
the background since issue 15 #20), then pumps ``tick.drain()`` every 100 ms exactly as the ``bpy.app.timers``
callback does in a running Blender, until every take is imported. Prints per tick: the longest and
mean main-thread time (all ticks, and ticks that applied messages), the cost per message type (the
import of a clip as a strip is the heaviest), and for comparison the latency of one status request
made on the main thread (what polling without the courier would cost per poll). The network I/O runs
in the courier child process (bl/courier_link.py), so a tick only reads its socket and applies messages.

With ``--control KIND`` every shot gets that control kind and the server runs the tiny LTX-2 (its tiny
IC-LoRAs): the click then saves one copy of the file and stages the shots (``bl/flow/staged.py``), and the
ticks while shots are staged (ask the server, start the background renders, read their progress, send a
shot once its frames are in: ``staged.poll`` on the courier's tick) are reported apart, as the
main-thread stall of a click with control.

Then, with the server stopped (so only the other users of the machine load it), the strip-creation tick
in isolation, ``--repeats`` times each, interleaved: a bare ``new_movie`` of a downloaded clip (the
floor: Blender opens the mp4 to create the strip), ``vse.import_take`` given the clip's rate as
generation does, and ``vse.import_take`` reading ``strip.fps`` instead (how it worked before).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402

import blender_ltx  # noqa: E402
from blender_ltx.bl.addon import compat, props  # noqa: E402
from blender_ltx.bl.cli import demo  # noqa: E402
from blender_ltx.bl.flow import clips, generate, look_jobs  # noqa: E402
from blender_ltx.bl.flow.session import session  # noqa: E402
from blender_ltx.bl.edit import vse  # noqa: E402
from blender_ltx.bl.link import connection, courier_link, tick  # noqa: E402
from blender_ltx.core.client import Client  # noqa: E402
from tests.support.server import start_server  # noqa: E402


def idle_imports(scene, repeats: int) -> dict[str, list[float]]:
    """Seconds per strip creation, by way of creating it (see the module docstring)."""
    shot = props.load_plan(scene).shots[0]
    clip = vse.active_take(scene, shot.name).filepath
    sed = scene.sequence_editor
    out: dict[str, list[float]] = defaultdict(list)
    take = 1000
    for _ in range(repeats):
        t = time.perf_counter()
        strip = compat.strips(sed).new_movie(
            name="probe",
            filepath=clip,
            channel=vse.MAX_CHANNEL,
            frame_start=shot.frame_start,
            fit_method="FIT",
        )
        out["bare new_movie (the floor)"].append(time.perf_counter() - t)
        compat.strips(sed).remove(strip)
        for label, fps in (("import_take, rate from the job", shot.generation.frame_rate),
                           ("import_take, reads strip.fps", None)):  # fmt: skip
            take += 1
            t = time.perf_counter()
            vse.import_take(scene, shot, clip, take, {}, fps=fps)
            out[label].append(time.perf_counter() - t)
    return out


def more_shots(scene, count: int) -> None:
    """Repeat the demo's three shots (48 frames each, same cameras and prompts) up to ``count`` shots."""
    from blender_ltx.bl.addon import props

    markers = sorted(scene.timeline_markers, key=lambda m: m.frame)
    base = [(m.camera, props.shot_settings(scene, m.name).prompt) for m in markers]
    for i in range(len(markers), count):
        cam, prompt = base[i % len(base)]
        name = f"SH{(i + 1) * 10:03d}"
        scene.timeline_markers.new(name, frame=1 + 48 * i).camera = cam
        ss = props.shot_settings(scene, name)
        ss.prompt, ss.steps = prompt, props.shot_settings(scene, markers[0].name).steps
    scene.frame_end = max(scene.frame_end, 48 * count)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=int, default=demo.DEMO_PIXEL_BUDGET, help="pixel budget per clip")
    ap.add_argument("--steps", type=int, default=demo.DEMO_STEPS, help="denoising steps")
    ap.add_argument("--tick", type=float, default=tick.TICK_BUSY_S, help="seconds between ticks")
    ap.add_argument("--repeats", type=int, default=15, help="idle strip creations per way (<= 60)")
    ap.add_argument("--control", default="none", help="control kind of every shot (tiny LTX-2 server)")
    ap.add_argument("--shots", type=int, default=3, help="shots in the edit (the demo's three, repeated)")
    ap.add_argument(
        "--click-only", action="store_true", help="time the Generate All click, cancel, and stop there"
    )
    ap.add_argument(
        "--looks-click",
        action="store_true",
        help="time the Generate Looks click (4 looks a shot) instead, cancel, and stop there",
    )
    args = ap.parse_args()

    blender_ltx.register()
    work = Path(tempfile.mkdtemp(prefix="bench_tick_"))
    srv = start_server(work / "server", model="tiny" if args.control == "none" else "tiny-ltx2")
    try:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = demo.build_scene(bpy.context.scene, pixel_budget=args.budget, steps=args.steps)
        more_shots(scene, args.shots)
        bpy.ops.wm.save_as_mainfile(filepath=str(work / "bench.blend"))
        scene = bpy.context.scene
        for shot in generate.refresh_plan(scene).shots:
            props.shot_settings(scene, shot.name).control_kind = args.control
        generate.set_server(srv.url)

        per_type: dict[str, list[float]] = defaultdict(list)

        imports = [0]

        def timed(message) -> None:
            imports[0] += isinstance(message, courier_link.Downloaded)
            t = time.perf_counter()
            generate.apply_message(message)
            per_type[type(message).__name__].append(time.perf_counter() - t)

        tick.set_handler(timed, clips.fail_run)
        if args.looks_click:
            shots = [ss.name for ss in scene.ltx.shots]
            t0 = time.perf_counter()
            look_jobs.start(scene, connection.client_config(), count=4)
            click = time.perf_counter() - t0
            version = bpy.app.version_string
            print(f"bpy {version}; {len(shots)} shots: Generate Looks click {click * 1e3:.1f} ms")
            for name in shots:
                look_jobs.cancel(scene, name)
            return
        t0 = time.perf_counter()
        generate.start_async(bpy.context, None, force=True)
        t_start = time.perf_counter() - t0
        if args.click_only:
            r = scene.render
            size = f"render {r.resolution_x}x{r.resolution_y}, budget {args.budget} px"
            print(f"bpy {bpy.app.version_string}; {args.shots} shots, {size}: click {t_start * 1e3:.0f} ms")
            generate.cancel(scene, [ss.name for ss in scene.ltx.shots])
            return

        ticks: list[tuple[float, int]] = []
        staged_ms: list[float] = []
        t_sent = None
        status_calls: list[float] = []
        client = Client(srv.url)
        t_run = time.perf_counter()
        while generate.pending(scene):
            was_staged = len(session.staged)
            before = imports[0]
            t = time.perf_counter()
            n = tick.drain()  # with shots staged, this tick also advances their control renders
            ticks.append((time.perf_counter() - t, n, imports[0] > before))
            if was_staged:
                if imports[0] == before:  # a clip's import in the same tick is counted below
                    staged_ms.append(ticks[-1][0] * 1e3)
                if not session.staged:
                    t_sent = time.perf_counter() - t_run
            if len(ticks) % 10 == 0:  # the alternative: a status request on the main thread
                job = scene.ltx.shots[0].job_id.split(",")[0]
                if job:
                    t = time.perf_counter()
                    client.status(job)
                    status_calls.append(time.perf_counter() - t)
            time.sleep(args.tick)
        t_run = time.perf_counter() - t_run
        imported = [ss.name for ss in scene.ltx.shots if ss.job_status == "imported"]
        srv.stop()
        idle = idle_imports(scene, args.repeats)
    finally:
        tick.set_handler(generate.apply_message, clips.fail_run)
        srv.stop()
        blender_ltx.unregister()
        shutil.rmtree(work, ignore_errors=True)

    all_ms = [dt * 1e3 for dt, _, _ in ticks]
    busy_ms = [dt * 1e3 for dt, n, _ in ticks if n]
    status_ms = [dt * 1e3 for dt, _, imported in ticks if not imported]  # reading the courier, status
    print(f"bpy {bpy.app.version_string}; {len(imported)} shots imported ({', '.join(imported)}); "
          f"budget {args.budget} px, {args.steps} steps; tick every {args.tick * 1e3:.0f} ms")  # fmt: skip
    print(
        f"start_async (plan + guide renders + queueing, once): {t_start * 1e3:.0f} ms"
        + (f" with control {args.control} (includes saving the copy of the file)" if staged_ms else "")
    )
    if staged_ms:
        print(
            f"ticks while shots were staged (without an import): {len(staged_ms)}, "
            f"longest {max(staged_ms):.2f} ms, "
            f"mean {statistics.mean(staged_ms):.3f} ms; every shot sent after {t_sent:.1f} s"
        )
    print(f"generation wall time while ticking: {t_run:.1f} s, {len(ticks)} ticks, "
          f"{len(busy_ms)} with messages")  # fmt: skip
    print(f"main thread per tick, all ticks:        longest {max(all_ms):.2f} ms, "
          f"mean {statistics.mean(all_ms):.3f} ms")  # fmt: skip
    print(f"main thread per tick, ticks with work:  longest {max(busy_ms):.2f} ms, "
          f"mean {statistics.mean(busy_ms):.3f} ms")  # fmt: skip
    print(f"main thread per tick, status ticks (no import, {len(status_ms)}): "
          f"longest {max(status_ms):.2f} ms, median {statistics.median(status_ms):.3f} ms, "
          f"mean {statistics.mean(status_ms):.3f} ms")  # fmt: skip
    for name, times in sorted(per_type.items()):
        ms = [t * 1e3 for t in times]
        print(f"  {name:<10} x{len(ms):<4} longest {max(ms):.2f} ms, mean {statistics.mean(ms):.3f} ms")
    if status_calls:
        ms = [t * 1e3 for t in status_calls]
        print(f"one GET /v1/jobs/ID on the main thread (what the courier saves per poll): "
              f"mean {statistics.mean(ms):.2f} ms, longest {max(ms):.2f} ms")  # fmt: skip
    print(f"strip creation with the server stopped, {args.repeats} each (median / longest):")
    for label, times in idle.items():
        ms = [t * 1e3 for t in times]
        print(f"  {label:<32} {statistics.median(ms):6.2f} / {max(ms):6.2f} ms")


if __name__ == "__main__":
    main()
