"""Command line: ``python -m server --model tiny --port 8765 --data-dir DIR`` (serve) and
``python -m server make-tiny-model DIR [--family ltx|ltx2|ltx2.5|sana-wm|look] [--timestep-vae]`` and
``python -m server analyze-motion CLIP.mp4 ...`` (the motion meter, server/meter/cli.py) and
``python -m server fit --model M [--vram GB]`` (what a checkpoint needs on a card, server/fit/cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
import time
from pathlib import Path

from blender_ltx.core import protocol

from .backends.profiles import KINDS as PROFILE_KINDS
from .api.settings import Settings, check_data_dir, check_exposure, check_token

log = logging.getLogger("server")


def parse_args(argv: list[str]) -> Settings:
    p = argparse.ArgumentParser(prog="python -m server", description="blender-ltx generation server")
    p.add_argument(
        "--model",
        default="tiny",
        help="diffusers model id, local checkpoint dir, a single .safetensors file, 'tiny', 'tiny-ltx2', "
        "'tiny-ltx25' or 'tiny-sana-wm'",
    )
    p.add_argument(
        "--look-model",
        default="auto",
        metavar="ID|DIR",
        help="the look model (FLUX.2 klein: hub id or folder), 'tiny-look', or 'none'; auto: tiny-look "
        "beside the tiny video models, none otherwise. It takes the GPU in turn with the video model",
    )
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    single = p.add_argument_group(
        "single-file checkpoints (--model FILE.safetensors: LTX-2.0, LTX-Video 0.9)"
    )
    single.add_argument(
        "--components",
        default=None,
        metavar="DIR",
        help="a diffusers-format folder of the same family for "
        "the parts the file lacks (text encoder, tokenizer, connectors, vocoder, scheduler) and the configs",
    )
    single.add_argument(
        "--text-encoder", default=None, metavar="DIR", help="a text encoder folder to use instead"
    )
    single.add_argument("--vae", default=None, metavar="FILE", help="a single-file VAE to use instead")
    p.add_argument(
        "--dtype",
        default=None,
        choices=("bfloat16", "float16", "float32"),
        help="default: bfloat16 on cuda, float32 on cpu",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=protocol.DEFAULT_PORT, help="0 picks a free port")
    p.add_argument("--data-dir", default="ltx-server-data", type=Path)
    p.add_argument(
        "--token",
        default=os.environ.get("LTX_SERVER_TOKEN") or None,
        help="require 'Authorization: Bearer TOKEN' (env LTX_SERVER_TOKEN)",
    )
    p.add_argument("--port-file", type=Path, default=None, help="write the port here once listening")
    p.add_argument("--vae-tiling", action="store_true", help="decode in tiles (less GPU memory)")
    p.add_argument("--cpu-offload", action="store_true", help="keep idle components in CPU memory")
    p.add_argument(
        "--memory-mode",
        default="auto",
        help="auto (CUDA: the mode `python -m server fit` picks for the card; CPU: resident) or one of: "
        "resident, fp8, text-encoder-cpu, fp8+text-encoder-cpu, group-offload, sequential",
    )
    p.add_argument(
        "--vram", default="auto", help="the card's memory in GiB for --memory-mode auto (auto: ask it)"
    )
    p.add_argument(
        "--profile",
        default="auto",
        choices=PROFILE_KINDS,
        help="sampling defaults (steps, guidance, schedule) for requests that leave them out; auto: "
        "'distilled' when the model's name says so, 'tiny' for the built-in model, else 'standard'",
    )
    p.add_argument("--max-frames", type=int, default=Settings.max_frames, help="the longest job accepted")
    p.add_argument(
        "--segment-frames",
        type=int,
        default=None,
        help="one generation's maximum (8k+1); longer jobs run as a chain of segments into one clip "
        f"(default: {Settings.segment_frames}, SANA-WM 961)",
    )
    p.add_argument(
        "--segment-overlap",
        type=int,
        default=Settings.segment_overlap,
        help="frames of the previous segment each chained segment starts from (rounded down to 8k+1)",
    )
    p.add_argument(
        "--sequential-offload", action="store_true", help="LTX-2: offload layer by layer (least GPU memory)"
    )
    p.add_argument(
        "--text-encoder-offload",
        action="store_true",
        help="LTX-2: keep the text encoder on the CPU; only its embeddings go to the GPU",
    )
    p.add_argument(
        "--camera-loras",
        default=None,
        metavar="DIR_OR_IDS",
        help="LTX-2: camera-control LoRAs (comma-separated folders or hub ids), picked per shot by its move",
    )
    p.add_argument(
        "--ic-lora",
        action="append",
        default=[],
        metavar="KIND=PATH_OR_ID",
        help="LTX-2: an IC-LoRA for a control kind (depth, canny, tracks); repeatable",
    )
    p.add_argument(
        "--latent-upsampler",
        default=None,
        metavar="DIR_OR_ID",
        help="the x2 latent upsampler that finalizes drafts (default: the checkpoint's latent_upsampler/)",
    )
    p.add_argument(
        "--no-refiner",
        action="store_true",
        help="SANA-WM: skip stage 2 (the LTX-2 refiner) for speed; stage 1 is decoded directly",
    )
    p.add_argument(
        "--prompt-enhancement",
        action="store_true",
        help='LTX-2.5: load the checkpoint\'s prompt enhancer so jobs may ask for "enhance_prompt": true '
        "(off by default: it costs memory and a generation per job)",
    )
    p.add_argument(
        "--duration-head",
        action="store_true",
        help="LTX-2.5: load the checkpoint's duration head, which advises how long each prompt's action runs "
        "(applied.duration); a shot's length still comes from its markers",
    )
    p.add_argument("--pixel-budget", type=int, default=Settings.pixel_budget)
    p.add_argument("--max-body-bytes", type=int, default=Settings.max_body_bytes)
    ray = p.add_argument_group("more GPUs (Ray; pip install -e '.[server,ray]')")
    ray.add_argument("--ray", action="store_true", help="run generation on Ray replicas (one job each)")
    ray.add_argument("--ray-address", default=None, help="join this Ray cluster (default: start a local Ray)")
    ray.add_argument("--replicas", type=int, default=None, help="model replicas (default: one per GPU, or 1)")
    ray.add_argument("--gpus-per-replica", type=float, default=Settings.gpus_per_replica)
    p.add_argument("--max-steps", type=int, default=Settings.max_steps)
    p.add_argument(
        "--keep-days",
        type=float,
        default=Settings.keep_days,
        help="remove finished jobs and their videos after this many days (0: keep them)",
    )
    p.add_argument(
        "--video-budget-gb",
        type=float,
        default=Settings.video_budget_gb,
        help="remove the oldest finished jobs while their videos take more than this (0: no budget)",
    )
    p.add_argument(
        "--keep-draft-days",
        type=float,
        default=Settings.keep_draft_days,
        help="remove a draft's kept latents this many days after it finished; it can no longer be "
        "finalized (0: keep them as long as the job)",
    )
    p.add_argument(
        "--stall-timeout",
        type=float,
        default=Settings.stall_timeout_s,
        help="close connections that stop mid-headers or mid-body for this many seconds",
    )
    a = p.parse_args(argv)
    if (a.ray_address or a.replicas is not None) and not a.ray:
        p.error("--ray-address and --replicas need --ray")
    if a.replicas is not None and a.replicas < 1:
        p.error("--replicas must be 1 or more")
    from .generation.chain import segment_overlap

    segment_frames_given = a.segment_frames is not None
    if not segment_frames_given:
        a.segment_frames = Settings.segment_frames
    try:
        segment_overlap(a.segment_frames, a.segment_overlap)
    except ValueError as exc:
        p.error(f"--segment-frames/--segment-overlap: {exc}")
    from .fit.modes import check_mode, check_vram

    bad_memory = check_mode(a.memory_mode, a.model) or check_vram(a.vram)
    if bad_memory:
        p.error(bad_memory)
    if not protocol.is_valid_num_frames(a.max_frames):
        p.error(f"--max-frames must be 8k+1 (e.g. 1025) but is {a.max_frames}")
    return Settings(
        model=a.model,
        look_model=a.look_model,
        device=a.device,
        dtype=a.dtype,
        host=a.host,
        port=a.port,
        data_dir=a.data_dir,
        token=a.token,
        port_file=a.port_file,
        vae_tiling=a.vae_tiling,
        cpu_offload=a.cpu_offload,
        memory_mode=None if a.memory_mode == "auto" else a.memory_mode,
        components=a.components,
        text_encoder=a.text_encoder,
        vae_file=a.vae,
        vram=a.vram,
        profile=a.profile,
        sequential_offload=a.sequential_offload,
        text_encoder_offload=a.text_encoder_offload,
        camera_loras=a.camera_loras,
        ic_loras=a.ic_lora,
        latent_upsampler=a.latent_upsampler,
        max_frames=a.max_frames,
        segment_frames=a.segment_frames,
        segment_frames_given=segment_frames_given,
        segment_overlap=a.segment_overlap,
        no_refiner=a.no_refiner,
        prompt_enhancement=a.prompt_enhancement,
        duration_head=a.duration_head,
        pixel_budget=a.pixel_budget,
        max_body_bytes=a.max_body_bytes,
        ray=a.ray,
        ray_address=a.ray_address,
        replicas=a.replicas,
        gpus_per_replica=a.gpus_per_replica,
        max_steps=a.max_steps,
        keep_days=a.keep_days,
        video_budget_gb=a.video_budget_gb,
        keep_draft_days=a.keep_draft_days,
        stall_timeout_s=a.stall_timeout,
    )


def look_backend(settings: Settings):
    """The look model named by --look-model, checked but not loaded (it loads on its first job)."""
    from .backends.look import TINY_LOOK, LookBackend
    from .backends.tiny import is_tiny_model

    name = settings.look_model
    if name == "auto":
        tiny = settings.model in ("tiny", "tiny-ltx2", "tiny-ltx25", "tiny-sana-wm") or is_tiny_model(
            settings.model
        )
        name = TINY_LOOK if tiny else "none"
    if name == "none":
        return None
    look = LookBackend(name, device=settings.device, dtype=settings.dtype, data_dir=settings.data_dir)
    look.probe()
    return look


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


async def _serve(app, settings: Settings, sock: socket.socket) -> None:
    import uvicorn

    from .api.connections import stall_guarded_h11

    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
            http=stall_guarded_h11(settings.stall_timeout_s),
            # Idle keep-alive connections; partial requests are the stall guard's (h11 caps headers at 16 KB).
            timeout_keep_alive=5,
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started:
        port = sock.getsockname()[1]
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        if settings.port_file:
            tmp = settings.port_file.with_name(settings.port_file.name + ".tmp")
            tmp.write_text(str(port))
            os.replace(tmp, settings.port_file)
        print(f"listening on http://{host}:{port}", flush=True)
    await task


def serve(settings: Settings) -> int:
    refusal = check_token(settings.token) or check_exposure(settings) or check_data_dir(settings.data_dir)
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        print(
            f"error: cannot listen on {settings.host}:{settings.port} ({exc.strerror}); "
            "pick another --port (0 = any free port).",
            file=sys.stderr,
        )
        return 2
    from .queue.store import DataDirInUse, JobStore

    try:  # before the model loads: a second server on this data dir fails in a moment, not minutes
        store = JobStore(settings.data_dir)
    except DataDirInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Held (and never closed) until the process ends: a runner thread still in its last step after the
    # shutdown's short wait may write to it until then.
    return _load_and_serve(settings, sock, store)


def _load_and_serve(settings: Settings, sock: socket.socket, store) -> int:
    from .api.app import create_app
    from .backends import load_backend
    from .backends.base import WeightsNotFound

    t0 = time.perf_counter()
    pool = None
    if settings.ray:
        from .backends.ray_pool import RayPool

        pool = RayPool(settings)
        try:
            pool.start()
            pool.wait_loaded()
        except Exception as exc:
            pool.stop()
            cause = getattr(exc, "cause", None) or exc
            print(f"error: the Ray replicas could not load the model: {cause}", file=sys.stderr)
            return 3 if isinstance(cause, WeightsNotFound) else 2
        backend = pool.replicas[0]
    else:
        backend = load_backend(settings)
        try:
            backend.load()
        except WeightsNotFound as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
    if not settings.segment_frames_given and getattr(backend, "segment_frames", None):
        settings.segment_frames = backend.segment_frames  # the family's one pass (SANA-WM: a minute)
    info = backend.info()
    profile = backend.profile()
    log.info(
        "loaded %s (%s) on %s as %s in %.1f s; profile %s (default %d steps, guidance %g%s)",
        info["model"],
        info["model_path"],
        info["device"],
        info["dtype"],
        time.perf_counter() - t0,
        profile.name,
        profile.num_inference_steps,
        profile.guidance_scale,
        ", timestep-aware VAE" if profile.timestep_vae else "",
    )
    look = None
    if pool is not None and settings.look_model not in ("auto", "none"):
        log.warning("--look-model is not served with --ray yet; this server makes no looks")
    elif pool is None:
        try:
            look = look_backend(settings)
        except WeightsNotFound as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
    app = create_app(settings, backend, pool=pool, store=store, look=look)
    try:
        asyncio.run(_serve(app, settings, sock))
    finally:
        if pool is not None:
            pool.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if argv[:1] == ["analyze-motion"]:
        from .meter.cli import main as analyze_motion

        return analyze_motion(argv[1:])
    if argv[:1] == ["fit"]:
        from .fit.cli import main as fit

        return fit(argv[1:])
    if argv[:1] == ["make-tiny-model"]:
        mk = argparse.ArgumentParser(prog="python -m server make-tiny-model")
        mk.add_argument("dir")
        mk.add_argument("--family", choices=("ltx", "ltx2", "ltx2.5", "sana-wm", "look"), default="ltx")
        mk.add_argument("--timestep-vae", action="store_true", help="ltx only: a timestep-aware VAE")
        a = mk.parse_args(argv[1:])
        if a.family == "look":
            from .backends.tiny_look import make_tiny_look_model

            print(f"tiny look model written to {make_tiny_look_model(a.dir)}")
            return 0
        if a.family == "sana-wm":
            from .backends.tiny_sana_wm import make_tiny_sana_wm_model

            print(f"tiny SANA-WM model written to {make_tiny_sana_wm_model(a.dir)}")
            return 0
        if a.family == "ltx2.5":
            from .backends.tiny_ltx25 import make_tiny_ltx25_model

            print(f"tiny LTX-2.5 model written to {make_tiny_ltx25_model(a.dir)}")
            return 0
        if a.family == "ltx2":
            from .backends.tiny_ltx2 import make_tiny_ltx2_model

            print(f"tiny LTX-2 model written to {make_tiny_ltx2_model(a.dir)}")
            return 0
        from .backends.tiny import make_tiny_model

        print(f"tiny model written to {make_tiny_model(a.dir, timestep_conditioning=a.timestep_vae)}")
        return 0
    return serve(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
