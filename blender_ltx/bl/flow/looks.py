"""Generate Looks: for each shot, the previs layout (the first frame through the shot's camera) and the
scene's references go to the server's look job; the candidate stills come back as image strips on the
muted Looks channel (``bl/edit/look_strips.py``), the first one the shot's look until another is used.

References are the scene's list (``scene["ltx_references"]``: [{name, kind, path}], kind character |
prop | set), uploaded once as content-addressed assets: a second run sends 0 bytes of them.
This is the synchronous path (the headless ``looks`` command); the panel's background path through
the courier is still to come.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Callable

from ...core import looks as vocab
from ...core.client import Client
from ..addon import blend_paths, props
from ..edit import look_strips, vse
from ..plan.scene import plan_scene
from ..render.guides import render_guides

REFERENCES_KEY = "ltx_references"


def scene_references(scene) -> list[dict[str, Any]]:
    """The scene's references as {name, kind, png}; a missing file or a wrong kind is one sentence."""
    out = []
    for i, ref in enumerate(scene.get(REFERENCES_KEY, [])):
        ref = dict(ref)
        if ref.get("kind") not in vocab.REFERENCE_KINDS:
            raise ValueError(
                f"Reference {i + 1} ({ref.get('name')!r}) has kind {ref.get('kind')!r}; use one of "
                f"{', '.join(vocab.REFERENCE_KINDS)}."
            )
        path = blend_paths.abspath(ref.get("path", ""))
        if not os.path.isfile(path):
            raise ValueError(f"Reference {ref.get('name')!r}: no image file at {path}; fix its path.")
        with open(path, "rb") as f:
            out.append(
                {"name": ref.get("name") or f"reference {i + 1}", "kind": ref["kind"], "png": f.read()}
            )
    return out


def _wait(client: Client, job_id: str, timeout: float | None) -> dict[str, Any]:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status = client.status(job_id)
        if status["status"] in ("succeeded", "failed", "cancelled"):
            return status
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"look job {job_id} still {status['status']} after {timeout:g} s")
        time.sleep(0.2)


def make_looks(
    scene,
    client: Client,
    *,
    count: int,
    shot_names: list[str] | None = None,
    report: Callable[[str], None] = print,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Look jobs for the shots (all, or ``shot_names``), waited for; their stills placed as strips.
    Returns {"shots": {name: [strip names]}, "uploaded_bytes": n, "reference_bytes": n of them for the
    references, "failed": [names]}."""
    health = client.health()
    if vocab.CAPABILITY_LOOK_FRAMES not in health.get("capabilities", []):
        raise ValueError(f"The server at {client.base_url} makes no looks; start it with --look-model.")
    references = scene_references(scene)
    plan = plan_scene(scene)
    shots = [s for s in plan.shots if shot_names is None or s.name in shot_names]
    # Uploaded once per run before any shot (the look requests then find them on the server).
    reference_bytes = sum(vocab.upload_once(client, r["png"])[1] for r in references)
    result: dict[str, Any] = {
        "shots": {},
        "uploaded_bytes": reference_bytes,
        "reference_bytes": reference_bytes,
        "failed": [],
    }
    for shot in shots:
        with tempfile.TemporaryDirectory(prefix="ltx_look_") as tmp:
            layout = render_guides(scene, shot, tmp)[0][1]
            with open(layout, "rb") as f:
                layout_png = f.read()
        ss = props.shot_settings(scene, shot.name)
        req, sent = vocab.look_request(
            client,
            prompt=props.full_prompt(scene, ss),
            width=shot.generation.width,
            height=shot.generation.height,
            count=count,
            layout=("beauty", layout_png),
            references=references,
            shot=shot.name,
        )
        result["uploaded_bytes"] += sent
        job = client.submit(req)
        report(f"{shot.name}: look job {job['id']} queued ({count} stills, {sent} bytes uploaded)")
        done = _wait(client, job["id"], timeout)
        if done["status"] != "succeeded":
            report(f"{shot.name}: look job {done['status']}: {done.get('error')}")
            result["failed"].append(shot.name)
            continue
        folder = blend_paths.abspath(f"{vse.shot_dir(scene, shot.name)}/looks")
        os.makedirs(folder, exist_ok=True)
        stills = []
        for still in done["applied"]["stills"]:
            path = os.path.join(folder, f"look_{done['id'][:8]}_{still['index']}.png")
            with open(path, "wb") as f:
                f.write(client.get_asset(still["asset"]))
            stills.append({**still, "path": path})
        strips = look_strips.place_looks(scene, shot, stills, done["id"])
        result["shots"][shot.name] = [s.name for s in strips]
        report(f"{shot.name}: {len(strips)} look(s) on the Looks channel")
    return result
