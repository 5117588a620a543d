"""One control vocabulary (issue 15 item 6): the add-on's menu, the CLI's --control, the server's accepted
``control.kind`` and its --ic-lora kinds are all blender_ltx.core.control's lists, asked of each part as
a user would meet it (the registered property, the parser, the request check), not by name."""

from __future__ import annotations

import argparse

import bpy
from addon_env import registered_addon

from blender_ltx.bl.cli.commands import build_parser
from blender_ltx.core import control
from blender_ltx.core.protocol import ProtocolError
from server.backends import loras
from server.generation.control.request import check_control

#: Names a kind list might hold: the core's, the menu's extra choices, and kinds no part offers.
CANDIDATES = control.CHOICES + ("normal", "pose", "edges")


def _server_accepts(kind: str) -> bool:
    caps = [control.CAPABILITY_PREFIX + k for k in CANDIDATES]
    request = {"num_frames": 9, "width": 64, "height": 64}
    try:
        check_control({"kind": kind}, request, caps, None)
    except ProtocolError as exc:
        return exc.field != "control.kind"  # a later field's rule: the kind itself passed
    return True


def _ic_lora_accepts(kind: str) -> bool:
    try:
        loras.ic_specs([f"{kind}=/nowhere/lora.safetensors"])
    except ValueError:
        return False
    return True


def test_the_server_accepts_exactly_the_core_kinds():
    assert [k for k in CANDIDATES if _server_accepts(k)] == list(control.KINDS)
    assert [k for k in CANDIDATES if _ic_lora_accepts(k)] == list(control.KINDS)


def test_the_cli_offers_exactly_the_core_choices():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    generate = sub.choices["generate"]
    action = next(a for a in generate._actions if "--control" in a.option_strings)
    assert list(action.choices) == list(control.CHOICES)


def test_the_addon_menu_offers_exactly_the_core_choices():
    with registered_addon():
        settings = bpy.types.Scene.bl_rna.properties["ltx"].fixed_type
        prop = settings.properties["shots"].fixed_type.properties["control_kind"]
        assert [item.identifier for item in prop.enum_items] == list(control.CHOICES)


def test_possible_kinds_follow_the_shots_data():
    assert control.possible(has_tracks=False) == ["depth", "canny"]
    assert control.possible(has_tracks=True, has_frames=False) == ["tracks"]
    assert control.possible(has_tracks=True) == list(control.KINDS)


def test_every_choice_has_a_menu_label():
    assert set(control.LABELS) == set(control.CHOICES)
