"""Control frames of a shot (real depth and Workbench beauty) rendered without freezing Blender.

The render runs in a background process on a saved copy of the file (``control_frames_child.py``):
Blender's binary with ``-b`` where there is one, or this Python with bpy as a module (tests, the CLI).
The session only saves the copy and starts the process, then polls it (a click: ``staged.py``, on the
courier's timer tick) or waits for it (``render_control_frames``, for scripts and ``execute()``). The
user's render settings, current frame and selection are never touched: the copy is what changes.

Frames: exactly the clip's, scene frame ``shot.frame_start + i`` for clip index i (as guides map them);
size: the generation size times the IC-LoRA's reference downscale (0.5 for ``ref0.5`` files).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import bpy

CHILD = Path(__file__).resolve().with_name("control_frames_child.py")
#: The IC-LoRAs' reference downscale factor (Lightricks' ``ref0.5`` files): half the generation size.
DEFAULT_SCALE = 0.5


def clip_frames(shot) -> list[int]:
    """Scene frames of the clip's frames, index 0 first (the first segment's ``num_frames``)."""
    return [shot.frame_start + i for i in range(shot.generation.num_frames)]


def reference_size(shot, scale: float = DEFAULT_SCALE) -> tuple[int, int]:
    """(width, height) of the control frames: the generation size times ``scale``, even numbers (video
    encoders want them), at least 2."""
    if not 0.0 < scale <= 1.0:
        raise ValueError(f"The reference scale must be in (0, 1], got {scale}; use 0.5 for ref0.5 IC-LoRAs.")

    def even(v: float) -> int:
        return max(2, int(round(v / 2.0)) * 2)

    return even(shot.generation.width * scale), even(shot.generation.height * scale)


def _command(blend: str, job: str, script: str | Path = CHILD) -> list[str]:
    if bpy.app.binary_path:  # a Blender build: its own binary, headless, without the user's add-ons
        return [bpy.app.binary_path, "-b", "--factory-startup", blend, "--python", str(script), "--", job]
    return [sys.executable, str(script), job]  # bpy as a module: the same code in this Python


@dataclass
class ControlRender:
    """A running control render. ``poll()`` is cheap (a file read and a process check)."""

    proc: subprocess.Popen
    out_dir: str
    frames: int

    def progress(self) -> float:
        try:
            return float(Path(self.out_dir, "progress").read_text() or 0.0)
        except (OSError, ValueError):
            return 0.0

    def poll(self) -> dict | None:
        """The result (see control_frames_child.run) once done; None while running. Raises RuntimeError
        with the render's own sentence when it failed."""
        if self.proc.poll() is None:
            return None
        error = Path(self.out_dir, "error.txt")
        if error.is_file():
            raise RuntimeError(error.read_text().strip())
        result = Path(self.out_dir, "result.json")
        if self.proc.returncode != 0 or not result.is_file():
            log = Path(self.out_dir, "render.log")
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.is_file() else []
            raise RuntimeError(
                f"The background render stopped (exit code {self.proc.returncode}) without a result: "
                f"{tail[0] if tail else 'see ' + str(log)}."
            )
        return json.loads(result.read_text())

    def cancel(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def save_copy(directory: str) -> str:
    """Write the session's file as it is now to ``directory/previs_copy.blend`` (what a background
    render reads; several renders may share one copy) and return its path."""
    os.makedirs(directory, exist_ok=True)
    blend = os.path.join(directory, "previs_copy.blend")
    # copy=True writes the file without making it the session's file (title, path, dirty flag stay).
    bpy.ops.wm.save_as_mainfile(filepath=blend, copy=True, check_existing=False)
    return blend


def _camera(shot):
    cam = bpy.data.objects.get(shot.camera)
    if cam is None:
        raise ValueError(f"Shot {shot.name!r} uses camera {shot.camera!r}, which is not in this file.")
    return cam


def prepare_job(
    scene, shot, out_dir: str, blend: str, scale: float = DEFAULT_SCALE, extra: dict | None = None
) -> dict:
    """The background render's job for ``shot`` (checked, written to ``out_dir/job.json``, stale
    results there removed), rendering from the saved copy ``blend``; ``launch`` starts it. ``extra``:
    more of the job (``tracks``: the track numbers to compute too)."""
    cam = _camera(shot)
    width, height = reference_size(shot, scale)
    out = os.path.abspath(bpy.path.abspath(out_dir))
    os.makedirs(out, exist_ok=True)
    for stale in ("result.json", "error.txt", "progress", "tracks.json"):
        Path(out, stale).unlink(missing_ok=True)
    job = {
        "blend": blend,
        "scene": scene.name,
        "camera": cam.name,
        "frames": clip_frames(shot),
        "width": width,
        "height": height,
        "out_dir": out,
        **(extra or {}),
    }
    write_job(job)
    return job


def write_job(job: dict) -> None:
    Path(job["out_dir"], "job.json").write_text(json.dumps(job))


def launch(job: dict) -> ControlRender:
    """Start the background process of a ``prepare_job`` job (needs no bpy: a timer may call it). A job
    with a ``script`` runs that script instead of ``control_frames_child.py`` (a higher floor's child that
    adds its own tasks, e.g. ``flow/depth_child.py``)."""
    out = job["out_dir"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(os.path.join(out, "render.log"), "wb") as log:
        proc = subprocess.Popen(
            _command(job["blend"], os.path.join(out, "job.json"), job.get("script") or CHILD),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=out,
            env=env,
        )
    return ControlRender(proc=proc, out_dir=out, frames=len(job.get("frames", ())))


class PendingRender:
    """A background render of one shot's frames (a control render or a click's guide frames): the
    subclass sets ``job`` and names the shot (``shot_name``); ``start`` launches the process, ``poll``
    follows it and hands its result to ``accept`` (which sets ``finished``), ``progress`` reads its
    progress file. ``poll`` raises ValueError (one sentence) when the render failed."""

    job: dict
    shot_name: str
    render: ControlRender | None = None
    finished = False

    @property
    def running(self) -> bool:
        return self.render is not None and not self.finished

    def start(self) -> None:
        self.render = launch(self.job)

    def progress(self) -> float:
        if self.finished:
            return 1.0
        return self.render.progress() if self.render is not None else 0.0

    def poll(self) -> None:
        """Follow the render; ``accept`` its result once it is done. ValueError (one sentence) when it
        failed."""
        if self.finished or self.render is None:
            return
        try:
            done = self.render.poll()
        except RuntimeError as exc:
            raise ValueError(f"Shot {self.shot_name}: {exc}") from None
        if done is not None:
            self.accept(done)

    def accept(self, done: dict) -> None:
        """Take the finished render's result and set ``finished`` (raises ValueError when it is short)."""
        raise NotImplementedError

    def cancel(self) -> None:
        if self.render is not None and not self.finished:
            self.render.cancel()


def start_control_render(scene, shot, out_dir: str, scale: float = DEFAULT_SCALE) -> ControlRender:
    """Save a copy of the file and start rendering ``shot``'s control frames into ``out_dir``."""
    _camera(shot)  # checked before the copy is written
    blend = save_copy(os.path.abspath(bpy.path.abspath(out_dir)))
    return launch(prepare_job(scene, shot, out_dir, blend, scale))


def render_control_frames(
    scene, shot, out_dir: str | None = None, scale: float = DEFAULT_SCALE, timeout: float = 600.0
) -> dict:
    """Start and wait (scripts, ``blender -b``, an operator's ``execute()``)."""
    render = start_control_render(scene, shot, out_dir or tempfile.mkdtemp(prefix="ltx_control_"), scale)
    deadline = time.monotonic() + timeout
    while (result := render.poll()) is None:
        if time.monotonic() > deadline:
            render.cancel()
            raise RuntimeError(f"The control render took longer than {timeout:g} s and was stopped.")
        time.sleep(0.1)
    return result
