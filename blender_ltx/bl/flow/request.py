"""Shot -> job request(s): check that a shot can be generated, render its guide frames, build the
request of each generation segment. Nothing is sent here (``submit.py`` sends).

A shot up to the server's ``max_frames`` is one job, whatever its length: a server with the
``long_shots`` capability chains longer jobs into ONE clip itself. Only beyond that (or for a server
that cannot chain, or was not asked yet) is a shot generated in segments, one job each; each segment's
first frame is conditioned on the guide render at the segment's own first frame.
"""

from __future__ import annotations

import os

import bpy

from ...core import job_request, server_info
from ...core.paths import check_writable_dir
from ...core.protocol import ProtocolError
from ...core.shots import Shot
from ..addon import blend_paths, props
from ..edit import vse
from .runs import Report, Run, sid
from ...core.courier_wire import ClientConfig


def check_shot(scene, shot: Shot) -> None:
    """Raise ValueError (one sentence) when ``shot`` cannot be generated as planned: its camera is
    not a camera, or its clip folder cannot be written. Called for every shot before any is sent."""
    cam = bpy.data.objects.get(shot.camera)
    if cam is None or cam.type != "CAMERA":
        what = "missing" if cam is None else f"a {cam.type.lower()}, not a camera"
        raise ValueError(
            f"Shot {shot.name} is filmed through {shot.camera!r}, which is {what}: bind its marker to a "
            "camera object (or unbind it) in the .blend, then generate again."
        )
    check_writable_dir(
        blend_paths.abspath(vse.shot_dir(scene, shot.name)), f"The clip folder of shot {shot.name}"
    )


def control_kind(ss, control: str | None, info: dict | None, staged: bool = False) -> tuple[str, float]:
    """(kind, reference scale) of a new take: the run's ``control`` or else the shot's, chosen against
    the server's health ``info`` where known (a kind it lacks raises ValueError before any render).

    Where the server was not asked yet, an explicit kind is rendered and the courier checks it before
    posting; ``auto`` is rendered only when ``staged`` (a click: in the background, the courier then
    picks the kind), since a script would wait for frames an LTX-Video server throws away."""
    from ...core import control as rules

    kind = control or ss.control_kind
    if info is None and kind == "auto" and not staged:
        return "none", 1.0
    if info is None or kind == "none":
        return kind, 1.0 / rules.DEFAULT_DOWNSCALE
    try:
        chosen, scale = rules.settle(kind, info)
    except ValueError as exc:
        raise ValueError(f"Shot {ss.name}: {exc}") from None
    return chosen or "none", scale


def prepare(
    scene,
    shot: Shot,
    ss,
    cfg: ClientConfig,
    report: Report | None,
    control: str | None = None,
    info=None,
    copy=None,
) -> tuple[Run, list[dict], list, list]:
    """Guides rendered and requests built for a new take of ``shot`` (nothing sent yet), with each
    request's control spec for the courier (``bl/flow/control.py``; None without control); with Takes per
    Shot N > 1, for N takes with the seeds seed, seed + 1... (one guide and control render serves all).
    ``info``: the server's health (default: what this session learned of it, ``core.server_info``).

    ``copy`` (a ``staged.FileCopy``: the click path) renders nothing here: the guide frames and control
    frames are rendered later from that copy of the file, in the background. The specs are then
    ``control.PendingControl``s, the requests are checked but wait for their guide images
    (``job_request.embed_images``), and the last item lists the ``guides.PendingGuides``, one per
    segment ([] without ``copy``), and the shot's first-frame depth where the server takes the exact
    camera path: measured by the first guide render, or by a ``depth.PendingDepth`` of its own in the list
    (the requests' ``poses`` then wait for it: ``depth.with_depth``)."""
    from ..render import guides
    from . import control as ctl
    from . import depth as bg_depth
    from . import looks

    if info is None:
        info = server_info.get(cfg.url)
    kind, scale = control_kind(ss, control, info, staged=copy is not None)
    caps = server_info.capability_names(info) if info is not None else None
    mode = looks.look_mode(scene, ss, caps, kind)
    st = props.scene_settings(scene)
    take = vse.next_take(scene, shot.name)
    seed = props.resolve_seed(ss)
    n_takes = max(1, getattr(st, "takes_per_shot", 1))
    takes = [take + t for t in range(n_takes)]
    seeds = [(seed + t) % (props.SEED_MAX + 1) for t in range(n_takes)]
    prompt = props.full_prompt(scene, ss)
    parts = job_request.segment_shots(shot)
    inputs = props.input_hash(scene, shot, ss, control)
    run = Run(
        sid(scene), shot, parts, take, seed, prompt, cfg, inputs, report, takes=takes, seeds=seeds,
    )  # fmt: skip
    # Checked before any render; a click leaves the track numbers to the background render.
    part_specs = [ctl.base_spec(scene, part, kind, defer_tracks=copy is not None) for part in parts]
    # Once per shot: every segment keeps its scale. A click measures the depth in the background.
    poses = poses_fields(scene, shot, ss, cfg.url, measure=copy is None)
    keyframes = server_info.capability(cfg.url, "keyframes")[0]
    guides_of, looks_of, pending = [], [], []
    first_guides = None  # the first segment's guide render (a click's), which measures the depth too
    for i, part in enumerate(parts):
        guide_dir = blend_paths.abspath(f"{vse.shot_dir(scene, shot.name)}/guides/take_{take}")
        if len(parts) > 1:
            guide_dir = os.path.join(guide_dir, f"part{i + 1}")
        # The look decides the picture: a look frame or no picture at all renders no previs guide.
        look, look_guides = looks.take_look(scene, part, ss, [], guide_dir, mode, first=i == 0)
        looks_of.append(look)
        source = "PREVIOUS_TAKE" if mode == "PREVIOUS_TAKE" else None
        options = guide_options(scene, part, first=i == 0, keyframes=keyframes, source=source)
        if look != "previs":
            guides_of.append(look_guides)
        elif copy is None:
            guides_of.append(guides.shot_guides(scene, part, guide_dir, **options))
        else:
            planned = guides.planned_guides(
                part, guide_dir, options["every_n"], options["at_motion_changes"], options["first"][0]
            )
            # The first segment's guide render measures the first frame's depth too, where it is needed.
            extra = bg_depth.fields(shot) if poses and i == 0 else None
            job = guides.guide_job(scene, part, guide_dir, copy.path(), extra=extra, **options)
            pending.append(guides.PendingGuides(shot.name, job, planned))
            guides_of.append(planned)
            first_guides = pending[-1] if i == 0 else first_guides
        previs = ctl.previs_dir(scene, shot.name) + (f"/part{i + 1}" if len(parts) > 1 else "")
        if part_specs[i] is None:
            continue
        if copy is None:
            part_specs[i] = ctl.spec_for(scene, part, part_specs[i], previs, scale)
        else:
            part_specs[i] = ctl.stage_spec(scene, part, part_specs[i], previs, copy.path(), scale)
    if poses and copy is not None and first_guides is None:  # no guide render to measure it with
        out = blend_paths.abspath(f"{vse.shot_dir(scene, shot.name)}/guides/take_{take}/depth")
        pending.append(bg_depth.depth_job(scene, shot, out, copy.path()))
    requests, specs = [], []
    for t, take_seed in zip(takes, seeds, strict=True):
        for i, part in enumerate(parts):
            tags = {"scene": scene.name, "take": t, "segment": f"{i + 1}/{len(parts)}"}
            try:
                request = job_request.build_request(
                    part,
                    props.settings_dict(ss),
                    guides_of[i],
                    prompt=prompt,
                    seed=take_seed,
                    tags=tags,
                    max_frames=job_max_frames(scene, cfg.url),
                    pixel_budget=st.pixel_budget,
                    encode=copy is None,
                    look=looks_of[i],
                )
            except ProtocolError as exc:
                raise ValueError(f"Shot {shot.name} cannot be sent: {exc}.") from None
            request.update(ltx2_fields(ss, cfg.url))
            request.update(poses)
            requests.append(request)
            specs.append(part_specs[i])
    return run, requests, specs, pending


def job_max_frames(scene, url: str) -> int:
    """The longest shot one job covers: the server's ``max_frames`` when it makes long shots one clip
    (``long_shots``; learned from its health), else the scene's Max Frames (longer shots split here)."""
    chained = server_info.max_job_frames(url)
    return chained or props.scene_settings(scene).max_frames


def ltx2_fields(ss, url: str) -> dict:
    """``audio`` and camera-LoRA fields of the shot's requests (``core.job_request.ltx2_fields``)."""
    from ..addon.prefs import get_prefs

    return job_request.ltx2_fields(
        audio=bool(getattr(get_prefs(), "generate_audio", True)) and ss.audio,
        camera_lora=ss.camera_lora,
        camera_lora_scale=ss.camera_lora_scale,
        camera_lora_ok=server_info.capability(url, "camera_lora")[0],
        enhance_prompt=ss.enhance_prompt,
        enhance_ok=server_info.capability(url, "prompt_enhancement")[0],
    )


def poses_fields(scene, shot: Shot, ss, url: str, *, measure: bool = True) -> dict:
    """The request's ``poses`` (``core.job_request.poses_field``) for a server that takes the exact
    camera path (SANA-WM), or was not asked yet (other families ignore it): the median depth of the
    shot's first frame (a grid of ray casts; ``measure=False``: left for the background, ``depth.py``),
    the scene's unit scale and the shot's Pose Scale. A camera such a server cannot take (orthographic)
    raises ValueError before anything is rendered."""
    from ...core import poses as core_poses
    from ..plan import scene_depth

    if not server_info.capability(url, "camera_poses")[0]:
        return {}
    if server_info.get(url) is not None:
        try:
            core_poses.camera_poses(shot.trajectory, shot.generation.width, shot.generation.height)
        except ValueError as exc:
            raise ValueError(f"Shot {shot.name} cannot be sent: {exc}") from None
    camera = bpy.data.objects[shot.camera]
    depth = scene_depth.first_frame_depth(scene, camera, shot.frame_start) if measure else None
    try:
        return job_request.poses_field(depth, scene_depth.metres_per_unit(scene), ss.pose_scale)
    except ProtocolError as exc:
        raise ValueError(f"Shot {shot.name} cannot be sent: {exc}.") from None


def guide_options(
    scene, part: Shot, *, first: bool = True, keyframes: bool = True, source: str | None = None
) -> dict:
    """``guides.shot_guides``' options for one (segment) shot from the scene's settings; the first frame
    of the shot's first segment comes from the First Frame setting (a render, an image, or the previous
    take of the same camera) unless ``source`` names one, checked here (a missing image or take raises, one
    sentence). Without ``keyframes`` (a server that takes the picture at frame 0 only) only that one is
    made."""
    st = props.scene_settings(scene)
    source = (source or st.first_frame_source) if first else "RENDER"
    src = ""
    if source == "IMAGE":
        if not st.first_frame_image:
            raise ValueError("First Frame is set to Image but no image is chosen: pick one or use Render.")
        src = blend_paths.abspath(st.first_frame_image)
        if not os.path.isfile(src):
            raise FileNotFoundError(
                f"The first-frame image {st.first_frame_image!r} does not exist; pick another image."
            )
    elif source != "RENDER":
        clip = _previous_take_clip(scene, part)
        src = blend_paths.abspath(clip)
        if not os.path.isfile(src):
            raise FileNotFoundError(f"The clip {clip!r} does not exist; generate that take again.")
    return {
        "engine": st.guide_engine,
        "every_n": st.guide_every_n if keyframes else 0,
        "at_motion_changes": st.guide_at_motion_changes and keyframes,
        "first": (source, src),
    }


def _previous_take_clip(scene, shot: Shot) -> str:
    """The clip of the active take of the nearest earlier shot filmed by the same camera."""
    plan = props.load_plan(scene)
    shots = plan.shots if plan else []
    earlier = [s for s in shots if s.camera == shot.camera and s.frame_end < shot.frame_start]
    for prev in sorted(earlier, key=lambda s: s.frame_start, reverse=True):
        strip = vse.active_take(scene, prev.name)
        if strip is not None:  # a take in segments ends with its last one
            return vse.take_strips(scene, prev.name, strip.ltx.take)[-1].filepath
    raise ValueError(
        f"Shot {shot.name}: no earlier shot of camera {shot.camera} has a take to continue from; "
        "generate it first or set First Frame to Render."
    )
