"""Start the real generation server as a subprocess on a free loopback port.

    with run_server(tmp_path / "srv", model=str(tiny_model_dir)) as srv:
        requests.get(srv.url + "/v1/health")

``model="tiny"`` makes the server build the tiny model into its data dir on first use (about a second);
tests that start many servers pass the session ``tiny_model_dir`` fixture (tests/conftest.py) instead.

The server runs on ``LTX_SERVER_PYTHON`` when set, else this interpreter: bpy 5.1+ needs Python 3.13, which
has no local torch wheel, so that venv holds bpy only and borrows the bl45 venv's Python for the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Sequence

REPO = Path(__file__).resolve().parents[2]
#: The shared test server's small body limit (so the 413 test need not send 64 MB) and stall timeout
#: (it closes connections that stall this long, mid-headers or mid-body). Here, not in a conftest: two
#: conftest modules (tests/server, tests/blender) cannot both be imported by that name.
SHARED_BODY_LIMIT = 8 * 1024 * 1024
SHARED_STALL_S = 2.0
SERVER_PYTHON = os.environ.get("LTX_SERVER_PYTHON") or sys.executable


class ServerHandle:
    def __init__(self, proc: subprocess.Popen, data_dir: Path, url: str, token: str | None, log_path: Path):
        self.proc = proc
        self.data_dir = data_dir
        self.url = url
        self.token = token
        self.log_path = log_path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def health(self) -> dict:
        with urllib.request.urlopen(self.url + "/v1/health", timeout=10) as resp:
            return json.loads(resp.read())

    def kill9(self) -> None:
        """Crash it: SIGKILL, no cleanup (what a power cut or the OOM killer does)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()


def free_port() -> int:
    """A loopback port nobody listens on right now (for 'nothing there' and restart-on-same-port tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(
    data_dir: Path, model: str, extra_args: Sequence[str] = (), python: str | None = None
) -> list:
    return [
        python or SERVER_PYTHON,
        "-m",
        "server",
        "--model",
        model,
        "--device",
        "cpu",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--port-file",
        str(data_dir / "port"),
        "--data-dir",
        str(data_dir),
        *extra_args,
    ]


def start_server(
    data_dir: str | os.PathLike,
    model: str = "tiny",
    extra_args: Sequence[str] = (),
    *,
    token: str | None = None,
    timeout: float = 180.0,
    env: dict[str, str] | None = None,
    python: str | None = None,
) -> ServerHandle:
    """Start and wait until /v1/health answers; raises RuntimeError with the server's log if it exits."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port_file = data_dir / "port"
    port_file.unlink(missing_ok=True)
    args = list(extra_args) + (["--token", token] if token else [])
    log_path = data_dir / "server.log"
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            server_command(data_dir, model, args, python),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}"
            )
        if port_file.exists():
            handle = ServerHandle(
                proc, data_dir, f"http://127.0.0.1:{port_file.read_text().strip()}", token, log_path
            )
            try:
                handle.health()
                return handle
            except OSError:
                pass
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise RuntimeError(
        f"server did not start within {timeout:.0f} s:\n{log_path.read_text(errors='replace')}"
    )


@contextlib.contextmanager
def run_server(
    data_dir: str | os.PathLike, model: str = "tiny", extra_args: Sequence[str] = (), **kwargs
) -> Iterator[ServerHandle]:
    handle = start_server(data_dir, model, extra_args, **kwargs)
    try:
        yield handle
    finally:
        handle.stop()


# -- request helpers (used by the server tests and the bench) ---------------------------------------------
def png_b64(width: int = 96, height: int = 64, seed: int = 0) -> str:
    """A random-noise PNG as base64 (what the extension sends for a keyframe)."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def job_request(**overrides) -> dict:
    """A small valid request (9 frames 64x64, 1 step); override any field."""
    req = {
        "prompt": "a red car drives down a city street at night",
        "negative_prompt": "blurry",
        "seed": 1,
        "num_frames": 9,
        "width": 64,
        "height": 64,
        "frame_rate": 24.0,
        "num_inference_steps": 1,
        "guidance_scale": 3.0,
    }
    req.update(overrides)
    return req


def backend_request(**overrides):
    """A small GenerateRequest for a backend called in process (17 frames 96x64, 2 steps); override any
    field."""
    from server.backends.base import GenerateRequest

    base = dict(
        prompt="a red cube",
        negative_prompt="",
        seed=5,
        num_frames=17,
        width=96,
        height=64,
        frame_rate=24.0,
        num_inference_steps=2,
        guidance_scale=3.0,
    )
    return GenerateRequest(**{**base, **overrides})


def dolly_in(n: int) -> dict:
    """A trajectory of ``n`` frames: a camera looking along +Y, moving forward 0.1 units a frame."""
    import numpy as np

    mats = []
    for i in range(n):
        m = np.array([[1, 0, 0, 0], [0, 0, -1, -10 + 0.1 * i], [0, 1, 0, 1.6], [0, 0, 0, 1]], dtype=float)
        mats.append(m.ravel().tolist())
    return {"frames": list(range(1, n + 1)), "matrix_world": mats, "lens_mm": [35.0] * n}


def wait_for(
    session, url: str, job_id: str, statuses=("succeeded", "failed", "cancelled"), timeout=180.0
) -> dict:
    """Poll a job until its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        r = session.get(f"{url}/v1/jobs/{job_id}", timeout=10)
        r.raise_for_status()
        status = r.json()
        if status["status"] in statuses:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {status['status']} after {timeout:.0f} s: {status}")
        time.sleep(0.05)


def run_to_video(session, url: str, req: dict, out_dir, timeout: float = 300.0) -> tuple[dict, Path]:
    """Submit ``req``, wait until it succeeded and download its mp4 into ``out_dir``: (the finished job,
    the file)."""
    r = session.post(url + "/v1/jobs", json=req)
    assert r.status_code == 202, r.text
    done = wait_for(session, url, r.json()["id"], timeout=timeout)
    assert done["status"] == "succeeded", done
    path = Path(out_dir) / f"{done['id']}.mp4"
    path.write_bytes(session.get(url + done["video_url"]).content)
    return done, path


def wait_progress(session, url: str, job_id: str, timeout: float = 120.0) -> dict:
    """Poll until the job is running and has finished at least one denoising step."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = session.get(f"{url}/v1/jobs/{job_id}", timeout=10).json()
        if status["status"] == "running" and status["progress"] > 0:
            return status
        assert status["status"] in ("queued", "running"), status
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not start making progress within {timeout:.0f} s")
