"""``python -m blender_ltx looks`` against the real server (tiny LTX + the tiny look model it starts with):
look strips on the muted Looks channel at the shot's frames, the first one the shot's look, *Use Look*,
and the references and layout uploaded once (a second run sends 0 bytes)."""

from __future__ import annotations

import os

import pytest

pytestmark = [
    pytest.mark.blender,
    pytest.mark.server,
    pytest.mark.slow,
    pytest.mark.usefixtures("registered"),
]
bpy = pytest.importorskip("bpy")

from blender_ltx.bl.edit import look_strips  # noqa: E402
from addon_env import cli, reopen, saved_demo  # noqa: E402
from support.pngs import noise_png  # noqa: E402


def _reference_png(path, seed: int) -> str:
    return noise_png(path, seed, 64)


def _add_reference(scene, name: str, kind: str, path: str) -> None:
    ref = scene.ltx.references.add()
    ref.name, ref.kind, ref.image = name, kind, path


def test_looks_cli_places_muted_look_strips_and_a_rerun_uploads_nothing(server, tmp_path):
    blend = saved_demo(tmp_path / "shot.blend")
    scene = reopen(blend)
    _add_reference(scene, "Ana", "character", _reference_png(tmp_path / "ana.png", 1))
    _add_reference(scene, "the street", "set", _reference_png(tmp_path / "street.png", 2))
    bpy.ops.wm.save_mainfile()

    out = tmp_path / "looks.blend"
    run = cli("looks", str(blend), "--count", "2", "--shots", "SH010", "--server", server.url, "--wait",
              "--output", str(out))  # fmt: skip
    assert run.returncode == 0, run.stderr + run.stdout
    assert "2 look(s) for 1 shot(s)" in run.stdout and "(0 bytes of references)" not in run.stdout

    scene = reopen(out)
    strips = look_strips.look_strips(scene, "SH010")
    assert len(strips) == 2 and all(s.mute for s in strips)
    assert {(s.frame_final_start, s.frame_final_duration) for s in strips} == {(1, 48)}
    channels = {s.channel for s in strips}
    assert any(scene.sequence_editor.channels[c].name == "Looks" for c in channels)
    assert look_strips.look_strips(scene, "SH020") == []
    chosen = look_strips.chosen_look(scene, "SH010")
    assert chosen is not None and chosen["ltx_look_seed"] == min(s["ltx_look_seed"] for s in strips)
    assert os.path.isfile(look_strips.look_file(chosen))

    other = next(s for s in strips if s.name != chosen.name)
    other_name = other.name  # strips die with the file on reopen: keep the name
    look_strips.use_look(scene, other)
    assert look_strips.chosen_look(scene, "SH010").name == other_name
    bpy.ops.wm.save_mainfile()

    again = cli("looks", str(out), "--count", "1", "--shots", "SH010", "--server", server.url, "--wait")
    assert again.returncode == 0, again.stderr + again.stdout
    # Both references were already on the server (the layout render may differ by a few pixels).
    assert "(0 bytes of references)" in again.stdout
    scene = reopen(out)
    assert len(look_strips.look_strips(scene, "SH010")) == 3
    assert look_strips.chosen_look(scene, "SH010").name == other_name  # a new look does not replace it


def test_looks_cli_refuses_a_reference_without_its_file(server, tmp_path):
    blend = saved_demo(tmp_path / "shot.blend")
    scene = reopen(blend)
    _add_reference(scene, "Rex", "character", str(tmp_path / "missing.png"))
    bpy.ops.wm.save_mainfile()
    run = cli("looks", str(blend), "--count", "1", "--server", server.url, "--wait")
    assert run.returncode == 1 and "Reference 'Rex': no image file at" in run.stderr, run.stderr
