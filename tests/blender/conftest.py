"""Blender tests: real bpy (Blender as a Python module), reset to an empty factory scene per test."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

if importlib.util.find_spec("bpy") is None:
    # Not one test here runs without bpy: none is collected, and the run's summary says so in one line
    # (tests/conftest.py); LTX_REQUIRE=bpy makes it a failure.
    collect_ignore_glob = ["test_*.py"]

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    # Everything under tests/blender needs bpy, whether or not the module says so.
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.blender)


@pytest.fixture
def scene():
    """An empty factory-settings scene (the state Blender starts from with ``--factory-startup``)."""
    from scenes import reset

    return reset()


@pytest.fixture(scope="module")
def registered():
    """The add-on registered for a whole test module, unless something registered it already (then it is
    left as it was). A module asks for it with ``pytest.mark.usefixtures("registered")``."""
    from addon_env import registered_addon

    with registered_addon():
        yield


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_dir):
    """A real server on the tiny LTX-Video (no control videos), one per test module."""
    from support.server import run_server

    with run_server(tmp_path_factory.mktemp("srv"), model=str(tiny_model_dir)) as srv:
        yield srv


@pytest.fixture(scope="module")
def ltx2(tmp_path_factory, tiny_ltx2_dir):
    """A real server on the tiny LTX-2 (its tiny camera LoRAs and IC-LoRAs), one per test module."""
    from support.server import run_server

    env = {"OMP_NUM_THREADS": "1"}  # one torch thread: the shared test machines run it far steadier
    with run_server(tmp_path_factory.mktemp("srv2"), model=str(tiny_ltx2_dir), env=env) as srv:
        yield srv


@pytest.fixture(scope="module")
def sana_wm(tmp_path_factory, tiny_sana_wm_dir):
    """A real server on the tiny SANA-WM (the shot's exact camera path; no keyframes after frame 0, no
    control, camera LoRAs or audio), one per test module."""
    from support.server import run_server

    env = {"OMP_NUM_THREADS": "1"}
    with run_server(tmp_path_factory.mktemp("srv-sana"), model=str(tiny_sana_wm_dir), env=env) as srv:
        yield srv


@pytest.fixture
def fresh():
    """No job of an earlier test followed, nothing staged, no server override and nothing known of any
    server (a test learns what it needs); the same again afterwards."""
    from addon_env import no_jobs_in_flight

    with no_jobs_in_flight():
        yield


@pytest.fixture(scope="module")
def ltx25(tmp_path_factory, tiny_ltx25_dir):
    """A real server on the tiny LTX-2.5 (its DFR recipe: a draft at half the size and frame rate) with its
    prompt enhancer (used only when a job asks) and duration head (advice on every job) loaded, one per test
    module."""
    from support.server import run_server

    env = {"OMP_NUM_THREADS": "1"}
    folder, args = tmp_path_factory.mktemp("srv-ltx25"), ("--prompt-enhancement", "--duration-head")
    with run_server(folder, model=str(tiny_ltx25_dir), extra_args=args, env=env) as srv:
        yield srv
