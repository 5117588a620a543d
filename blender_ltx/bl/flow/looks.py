"""Generate Looks: for each shot, the previs layout (the first frame through the shot's camera) and the
scene's references go to the server's look job; the candidate stills come back as image strips on the
muted Looks channel (``bl/edit/look_strips.py``), the first one the shot's look until another is used.

References are the scene's list (``scene.ltx.references``: name, image, kind character | prop | set),
each shot showing all but its ``hidden_references``, uploaded once as content-addressed assets: a second
run sends 0 bytes of them. A shot that continues from the previous shot adds that shot's chosen look.
This is the synchronous path (the ``looks`` command and the Generate Looks operator's execute() wait
here); a click goes through the courier instead (``look_jobs.py``).

``take_look`` is the other half: what picture a take's request carries for the shot's look (``previs``,
``prompt``, ``frame``, ``previous take``), the scene's Auto choosing by ``core.looks.default_look``.
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
from ..render.guides import first_frame_from_image, render_guides

#: A take's look as the server's ``look`` field names it (previous take's frame is a picture: previs).
_SERVER_LOOK = {"PREVIS": "previs", "PROMPT": "prompt", "FRAME": "frame", "PREVIOUS_TAKE": "previs"}


def _read_png(path: str, what: str) -> bytes:
    """A reference's PNG bytes (the server takes PNG)."""
    if not os.path.isfile(path):
        raise ValueError(f"{what}: no image file at {path}; fix its path.")
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{what}: {path} is not a PNG file; save it as PNG.")
    return data


def shot_reference_names(scene, ss) -> list[str]:
    """The scene references this shot shows: all but its hidden ones."""
    hidden = {n.strip() for n in ss.hidden_references.splitlines() if n.strip()}
    return [r.name for r in scene.ltx.references if r.name not in hidden]


def scene_references(scene, names: list[str] | None = None) -> list[dict[str, Any]]:
    """The scene's references (those in ``names``, default all) as {name, kind, png}; a missing file or
    an unnamed reference is one sentence."""
    out = []
    for i, ref in enumerate(scene.ltx.references):
        if names is not None and ref.name not in names:
            continue
        if not ref.name.strip():
            raise ValueError(f"Reference {i + 1} has no name; name it as the prompt calls it.")
        png = _read_png(blend_paths.abspath(ref.image), f"Reference {ref.name!r}")
        out.append({"name": ref.name, "kind": ref.kind, "png": png})
    return out


def previous_shot(scene, shot_name: str):
    """The shot before ``shot_name`` in the plan (by start frame), or None."""
    shots = sorted(plan_scene(scene, pixel_budget=scene.ltx.pixel_budget).shots, key=lambda s: s.frame_start)
    names = [s.name for s in shots]
    i = names.index(shot_name) if shot_name in names else 0
    return shots[i - 1] if i > 0 else None


def continuity_reference(scene, shot_name: str) -> dict[str, Any] | None:
    """*Continue from the previous shot*: the previous shot's chosen look as a ``set`` reference."""
    prev = previous_shot(scene, shot_name)
    strip = look_strips.chosen_look(scene, prev.name) if prev is not None else None
    if strip is None:
        where = f"shot {prev.name}" if prev is not None else "no earlier shot"
        raise ValueError(
            f"Shot {shot_name} continues from the previous shot, but {where} has no chosen look: make "
            "its looks first (or untick Continue from the Previous Shot)."
        )
    png = _read_png(look_strips.look_file(strip), f"The look of shot {prev.name}")
    return {"name": f"shot {prev.name}", "kind": "set", "png": png}


def shot_references(scene, shot_name: str) -> list[dict[str, Any]]:
    """The references a shot's look job conditions on: its scene references, and the previous shot's
    chosen look where it continues from it."""
    ss = props.shot_settings(scene, shot_name)
    refs = scene_references(scene, shot_reference_names(scene, ss))
    if ss.continue_previous:
        refs.append(continuity_reference(scene, shot_name))
    return refs[: vocab.MAX_LOOK_REFERENCES]


def look_mode(scene, ss, capabilities: list[str] | None, control_kind: str = "auto") -> str:
    """The shot's look as the enum (PREVIS, PROMPT, FRAME, PREVIOUS_TAKE): its own, else the scene's;
    Auto picks with ``core.looks.default_look`` (a look frame where the shot has one; words where the
    server offers control and the shot uses it; the previs render only where nothing else is offered)."""
    mode = ss.look_mode if ss.look_mode != "SCENE" else scene.ltx.look_mode
    if mode != "AUTO":
        return mode
    caps = list(capabilities or []) if control_kind != "none" else []
    return vocab.default_look(caps, has_frame=look_frame_file(scene, ss) is not None).upper()


def look_frame_file(scene, ss) -> str | None:
    """The shot's look frame: its Look Image, else its chosen look strip's file; None without one."""
    if ss.look_image:
        return blend_paths.abspath(ss.look_image)
    strip = look_strips.chosen_look(scene, ss.name)
    return look_strips.look_file(strip) if strip is not None else None


def take_look(
    scene, part, ss, guides: list[tuple[int, str]], out_dir: str, mode: str, first: bool = True
) -> tuple[str, list[tuple[int, str]]]:
    """The server's ``look`` and the guides a take sends for ``mode``: ``previs`` keeps the previs guides,
    ``prompt`` none (guides are previs pixels: the caller drops the request's conditions; the guides come
    back unchanged), ``frame`` the look frame at frame 0 alone (later segments of a split shot: prompt)."""
    if mode in ("PREVIS", "PREVIOUS_TAKE"):
        return "previs", guides
    if mode == "PROMPT" or not first:
        return "prompt", guides
    src = look_frame_file(scene, ss)
    if src is None:
        raise ValueError(
            f"Shot {ss.name} has look Look Frame but no look: make its looks (Generate Looks), use a look "
            "strip, or pick a Look Image."
        )
    w, h = part.generation.width, part.generation.height
    if _png_size(src) == (w, h):  # a look made for this shot: its very bytes (the server has them)
        return "frame", [(0, src)]
    png = os.path.join(blend_paths.abspath(out_dir), "look_frame.png")
    first_frame_from_image(src, w, h, png)
    return "frame", [(0, png)]


def _png_size(path: str) -> tuple[int, int] | None:
    """(width, height) from a PNG's header, or None for another file."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def look_sentence(scene, ss, capabilities: list[str] | None, control_kind: str = "auto") -> str:
    """What the model will see of the shot, in words (the shot panel)."""
    mode = look_mode(scene, ss, capabilities, control_kind)
    engine = scene.ltx.guide_engine
    if mode == "PREVIS":
        grey = " (untextured Workbench shading)" if engine == "BLENDER_WORKBENCH" else ""
        return f"The model sees the previs render{grey} as the picture."
    if mode == "PROMPT":
        return "The model sees no picture: the words make it, control keeps the camera and layout."
    if mode == "PREVIOUS_TAKE":
        return "The model starts from the last frame of the previous take of this camera."
    src = look_frame_file(scene, ss)
    if src is None:
        return "Look Frame, but the shot has no look yet: Generate Looks first."
    return f"The model starts from the look frame {os.path.basename(src)}, its only picture."


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
    plan = plan_scene(scene, pixel_budget=scene.ltx.pixel_budget)
    shots = sorted(
        (s for s in plan.shots if shot_names is None or s.name in shot_names), key=lambda s: s.frame_start
    )
    for shot in shots:  # every reference checked before any job is sent
        scene_references(scene, shot_reference_names(scene, props.shot_settings(scene, shot.name)))
    # Uploaded once per run before any shot (the look requests then find them on the server).
    reference_bytes = sum(vocab.upload_once(client, r["png"])[1] for r in scene_references(scene))
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
            references=shot_references(scene, shot.name),
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


def check_reference_image(path: str, what: str) -> None:
    """A reference's image must be a PNG file that exists (one sentence otherwise): checked when it is
    added, so the look job never finds out later."""
    _read_png(blend_paths.abspath(path), what)


def set_reference_shown(scene, ss, name: str, show: bool) -> None:
    """Show the scene reference ``name`` in this shot or hide it (``hidden_references``, one a line)."""
    if name not in {r.name for r in scene.ltx.references}:
        raise ValueError(f"The scene has no reference named {name!r}; add it first.")
    hidden = [n.strip() for n in ss.hidden_references.splitlines() if n.strip() and n.strip() != name]
    if not show:
        hidden.append(name)
    ss.hidden_references = "\n".join(hidden)


def remove_reference(scene, name: str) -> None:
    """Remove the scene reference ``name``, and its name from every shot's hidden references."""
    refs = scene.ltx.references
    index = next((i for i, r in enumerate(refs) if r.name == name), None)
    if index is None:
        raise ValueError(f"The scene has no reference named {name!r}; pick one of the list.")
    refs.remove(index)
    for ss in scene.ltx.shots:
        kept = [n for n in ss.hidden_references.splitlines() if n.strip() and n.strip() != name]
        if len(kept) != len([n for n in ss.hidden_references.splitlines() if n.strip()]):
            ss.hidden_references = "\n".join(kept)
