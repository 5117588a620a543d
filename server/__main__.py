"""Command line: ``python -m server --model tiny --port 8765 --data-dir DIR`` (serve) and
``python -m server make-tiny-model DIR [--timestep-vae]`` and ``python -m server analyze-motion CLIP.mp4 ...``
(the motion meter, server/meter/cli.py)."""

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
from .settings import Settings, check_exposure

log = logging.getLogger("server")


def parse_args(argv: list[str]) -> Settings:
    p = argparse.ArgumentParser(prog="python -m server", description="blender-ltx generation server")
    p.add_argument("--model", default="tiny", help="diffusers model id, local checkpoint dir, or 'tiny'")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
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
        "--profile",
        default="auto",
        choices=PROFILE_KINDS,
        help="sampling defaults (steps, guidance, schedule) for requests that leave them out; auto: "
        "'distilled' when the model's name says so, 'tiny' for the built-in model, else 'standard'",
    )
    p.add_argument("--max-frames", type=int, default=Settings.max_frames)
    p.add_argument("--pixel-budget", type=int, default=Settings.pixel_budget)
    p.add_argument("--max-body-bytes", type=int, default=Settings.max_body_bytes)
    a = p.parse_args(argv)
    return Settings(
        model=a.model,
        device=a.device,
        dtype=a.dtype,
        host=a.host,
        port=a.port,
        data_dir=a.data_dir,
        token=a.token,
        port_file=a.port_file,
        vae_tiling=a.vae_tiling,
        cpu_offload=a.cpu_offload,
        profile=a.profile,
        max_frames=a.max_frames,
        pixel_budget=a.pixel_budget,
        max_body_bytes=a.max_body_bytes,
    )


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

    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
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
    refusal = check_exposure(settings)
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
    from .app import create_app
    from .backends.base import WeightsNotFound
    from .backends.ltx import LTXBackend

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    backend = LTXBackend(
        settings.model,
        device=settings.device,
        dtype=settings.dtype,
        data_dir=settings.data_dir,
        vae_tiling=settings.vae_tiling,
        cpu_offload=settings.cpu_offload,
        profile=settings.profile,
    )
    t0 = time.perf_counter()
    try:
        backend.load()
    except WeightsNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
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
    from .jobs import DataDirInUse

    try:
        app = create_app(settings, backend)
    except DataDirInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_serve(app, settings, sock))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if argv[:1] == ["analyze-motion"]:
        from .meter.cli import main as analyze_motion

        return analyze_motion(argv[1:])
    if argv[:1] == ["make-tiny-model"]:
        args = argv[1:]
        timestep_vae = "--timestep-vae" in args
        args = [a for a in args if a != "--timestep-vae"]
        if len(args) != 1 or args[0].startswith("-"):
            print("usage: python -m server make-tiny-model DIR [--timestep-vae]", file=sys.stderr)
            return 2
        from .backends.tiny import make_tiny_model

        print(f"tiny model written to {make_tiny_model(args[0], timestep_conditioning=timestep_vae)}")
        return 0
    return serve(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
