"""Draft, then final, in Blender against the tiny LTX-2 on a real server: a draft take is the server's
half-size first stage; Finalize posts {"finalize": its job} and the final lands as a new take above the
draft, active, its strip linked to the draft; Finalize says why when there is no draft to finalize (none
made, its take deleted, the active take already a final); headless ``generate --draft`` and
``finalize FILE --shot NAME --wait --output OUT``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.blender,
    pytest.mark.server,
    pytest.mark.slow,
    pytest.mark.usefixtures("registered"),
]
bpy = pytest.importorskip("bpy")

from blender_ltx.bl.addon import compat, props  # noqa: E402
from blender_ltx import plan_scene  # noqa: E402
from blender_ltx.bl.edit import vse  # noqa: E402
from blender_ltx.bl.flow import finalize, generate, session  # noqa: E402
from blender_ltx.core.client import Client  # noqa: E402
from addon_env import cli, demo_blend  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
#: Large enough that a half-size draft has two latent rows (the tiny VAE needs them): 192x128 finals.
BUDGET = 256 * 128


def quiet(_line: str) -> None:
    pass


def draft_scene(path: Path):
    scene = demo_blend(path)
    props.scene_settings(scene).pixel_budget = BUDGET
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return scene


def test_a_final_lands_above_its_draft_linked_to_it(ltx2, tmp_path, fresh):
    scene = draft_scene(tmp_path / "edit.blend")
    generate.set_server(ltx2.url)
    client = Client(ltx2.url)

    result = generate.run_sync(scene, ["SH010"], report=quiet, draft=True)
    assert result["imported"] == ["SH010"], result["shots"]
    (draft,) = vse.takes(scene, "SH010")
    assert (draft.ltx.stage, draft.ltx.take) == ("draft", 1)
    job = client.status(draft.ltx.job_id)
    final_w, final_h = job["request"]["width"], job["request"]["height"]
    assert final_w % 64 == 0 and final_h % 64 == 0
    (stage,) = job["applied"]["stages"]
    assert (stage["stage"], stage["width"], stage["height"]) == ("draft", final_w // 2, final_h // 2)

    result = finalize.run_sync(scene, ["SH010"], report=quiet)
    assert result["imported"] == ["SH010"], result
    takes = {s.ltx.take: s for s in vse.takes(scene, "SH010")}
    assert sorted(takes) == [1, 2]
    final = takes[2]
    assert (final.ltx.stage, final.ltx.draft_job_id, final.ltx.draft_take) == ("final", draft.ltx.job_id, 1)
    assert final.channel > takes[1].channel  # above its draft
    assert (final.mute, takes[1].mute) == (False, True)  # the final is the active take
    assert compat.strip_span(final) == compat.strip_span(draft)
    assert final.ltx.seed == draft.ltx.seed
    fjob = client.status(final.ltx.job_id)
    assert fjob["applied"]["finalize"]["draft"] == draft.ltx.job_id
    assert [s["stage"] for s in fjob["applied"]["stages"]] == ["latent_upsample_x2", "refine"]
    assert fjob["request"]["num_frames"] == job["request"]["num_frames"]
    assert json.loads(final.ltx.applied)["finalize"]["draft"] == draft.ltx.job_id

    # Finalize again: the active take is the final now, and it says so.
    with pytest.raises(ValueError, match="take 2 is already the final of draft take 1"):
        finalize.finalize(scene, ["SH010"], report=quiet)
    # Finalize All skips shots without a draft to finalize, sending nothing.
    assert finalize.finalize(scene, None, report=quiet)["submitted"] == []


def test_finalize_says_why_there_is_no_draft(ltx2, tmp_path, fresh):
    scene = draft_scene(tmp_path / "edit.blend")
    generate.set_server(ltx2.url)
    with pytest.raises(
        ValueError, match="Shot SH020 has no draft take to finalize; use Generate Draft first"
    ):
        finalize.finalize(scene, ["SH020"], report=quiet)
    assert generate.run_sync(scene, ["SH020"], report=quiet, draft=True)["imported"] == ["SH020"]
    (draft,) = vse.takes(scene, "SH020")
    job_id = draft.ltx.job_id
    for strip in vse._shot_strips(scene.sequence_editor, "SH020"):  # the user deletes the draft take
        vse.compat.strips(scene.sequence_editor).remove(strip)
    with pytest.raises(ValueError, match=f"SH020's draft take 1 \\(job {job_id}\\) was deleted from the VSE"):
        finalize.finalize(scene, ["SH020"], report=quiet)


def test_headless_generate_draft_then_finalize(ltx2, tmp_path, fresh):
    blend = tmp_path / "shot.blend"
    draft_scene(blend)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    out = cli("generate", str(blend), "--shots", "SH010", "--server", ltx2.url, "--draft", "--wait")
    assert out.returncode == 0, out.stderr + out.stdout
    final_blend = tmp_path / "final.blend"
    out = cli(
        "finalize",
        str(blend),
        "--shot",
        "SH010",
        "--server",
        ltx2.url,
        "--wait",
        "--output",
        str(final_blend),
    )
    assert out.returncode == 0, out.stderr + out.stdout
    assert "Finalizing draft take 1 as take 2" in out.stdout
    bpy.ops.wm.open_mainfile(filepath=str(final_blend), load_ui=False)
    session.reset()  # this process only inspects the file: no re-attaching here
    stages = {s.ltx.take: s.ltx.stage for s in vse.takes(bpy.context.scene, "SH010")}
    assert stages == {1: "draft", 2: "final"}
    out = cli("finalize", str(blend), "--shot", "SH030", "--server", ltx2.url, "--wait")
    assert out.returncode == 1 and "Shot SH030 has no draft take to finalize" in out.stderr


def test_best_of_two_drafts_then_finalize_the_best(ltx2, tmp_path, fresh):
    """Takes per Shot 2 with drafts: the meter keeps the best draft active, and Finalize finalizes it."""
    scene = draft_scene(tmp_path / "edit.blend")
    props.scene_settings(scene).takes_per_shot = 2
    generate.set_server(ltx2.url)
    assert generate.run_sync(scene, ["SH030"], report=quiet, draft=True)["imported"] == ["SH030"]
    drafts = vse.draft_takes(scene, "SH030")
    assert [s.ltx.take for s in drafts] == [1, 2]
    best = vse.active_take(scene, "SH030")
    assert best.ltx.stage == "draft" and vse.take_motion(best) is not None
    assert finalize.run_sync(scene, ["SH030"], report=quiet)["imported"] == ["SH030"]
    final = vse.active_take(scene, "SH030")
    assert (final.ltx.take, final.ltx.stage) == (3, "final")
    assert (final.ltx.draft_take, final.ltx.draft_job_id) == (best.ltx.take, best.ltx.job_id)


def test_an_ltx25_draft_at_half_the_frame_rate_covers_its_shot_and_its_final_too(ltx25, tmp_path, fresh):
    """LTX-2.5 drafts at half the size and half the frame rate (the same seconds in about half the frames):
    the draft strip still covers the shot's frames, slowed to the scene's rate, and the final covers them
    at the scene's rate with the shot's frame count."""
    scene = draft_scene(tmp_path / "edit.blend")
    generate.set_server(ltx25.url)
    client = Client(ltx25.url)
    shot = next(s for s in plan_scene(scene).shots if s.name == "SH010")

    result = generate.run_sync(scene, ["SH010"], report=quiet, draft=True)
    assert result["imported"] == ["SH010"], result["shots"]
    (draft,) = vse.takes(scene, "SH010")
    job = client.status(draft.ltx.job_id)
    (stage,) = job["applied"]["stages"]
    assert stage["frame_rate"] == job["request"]["frame_rate"] / 2
    assert stage["num_frames"] < job["request"]["num_frames"]
    assert compat.strip_span(draft) == (shot.frame_start, shot.frame_end + 1)
    assert _speed_takes(scene) == [1]  # the half-rate clip is slowed to the scene's rate

    result = finalize.run_sync(scene, ["SH010"], report=quiet)
    assert result["imported"] == ["SH010"], result
    final = {s.ltx.take: s for s in vse.takes(scene, "SH010")}[2]
    fjob = client.status(final.ltx.job_id)
    assert [s["stage"] for s in fjob["applied"]["stages"]][-2:] == ["temporal_refine_x2", "diffusion_decode"]
    assert fjob["applied"]["stages"][-1]["num_frames"] == job["request"]["num_frames"]
    assert compat.strip_span(final) == compat.strip_span(draft)
    assert _speed_takes(scene) == [1]  # the final plays at the scene's rate: no speed effect


def _speed_takes(scene) -> list[int]:
    strips = compat.strips(scene.sequence_editor)
    return sorted(s.ltx.take for s in strips if s.ltx.shot == "SH010" and s.ltx.role == vse.ROLE_SPEED)
