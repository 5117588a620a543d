"""Fixtures shared by every suite."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.server import SERVER_PYTHON

REPO = Path(__file__).resolve().parents[1]


def pytest_sessionstart(session) -> None:
    """A venv that should hold bpy, torch, PIL... fails the run at once when one is missing, instead of
    skipping every test that needs it (a broken venv then looks green). ``LTX_REQUIRE`` (comma separated
    module names) is set per venv by the Makefile's test targets."""
    wanted = [m.strip() for m in os.environ.get("LTX_REQUIRE", "").split(",") if m.strip()]
    # find_spec, not import: torch stays out of the test process (the server runs in its own).
    missing = [m for m in wanted if importlib.util.find_spec(m) is None]
    if missing:
        raise pytest.UsageError(
            f"LTX_REQUIRE lists {', '.join(missing)} but {sys.executable} cannot import it: rebuild this "
            "venv (make venvs) or drop the module from LTX_REQUIRE."
        )


#: Folders whose conftest skips all of them where a module is missing (a venv without it runs the rest).
FOLDER_NEEDS = {"tests/blender": "bpy", "tests/server": "PIL"}


def pytest_terminal_summary(terminalreporter) -> None:
    """One line per folder a missing module left out, so a plain ``pytest`` never looks green over a
    folder it did not run (``LTX_REQUIRE`` makes it a failure instead)."""
    for folder, module in FOLDER_NEEDS.items():
        if importlib.util.find_spec(module) is None:
            terminalreporter.write_line(
                f"NOT RUN: {folder} (this Python has no {module}; LTX_REQUIRE={module} makes that a failure)",
                yellow=True,
                bold=True,
            )


def pytest_sessionfinish(session, exitstatus) -> None:
    session.config._ltx_exitstatus = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config) -> None:
    """Leave without running the process's exit handlers where bpy was loaded: after the whole suite,
    bpy 4.5 as a module hung at exit in a C++ static destructor (pthread_cond_destroy on a condition
    Blender's task threads still wait on; seen with gdb), after every result had been reported. This
    runs last, once the summary is printed, so nothing of pytest's is lost."""
    if "bpy" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(getattr(config, "_ltx_exitstatus", 0))


def _make_tiny_model(tmp_path_factory, folder: str, name: str, family: str | None = None) -> Path:
    """``server make-tiny-model`` (of ``family``, or the built-in LTX-Video) into a new ``folder``/``name``,
    in a subprocess: keeps torch out of pytest."""
    out = tmp_path_factory.mktemp(folder) / name
    family_args = ["--family", family] if family else []
    subprocess.run(
        [SERVER_PYTHON, "-m", "server", "make-tiny-model", *family_args, str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The built-in tiny LTX model, made once per session (in a subprocess: keeps torch out of pytest)."""
    return _make_tiny_model(tmp_path_factory, "tiny", "tiny-model")


@pytest.fixture(scope="session")
def tiny_ltx2_dir(tmp_path_factory) -> Path:
    """The tiny LTX-2 with its random camera LoRAs and IC-LoRAs, made once per session (in a subprocess)."""
    return _make_tiny_model(tmp_path_factory, "tiny-ltx2", "tiny-ltx2-model", "ltx2")


@pytest.fixture(scope="session")
def tiny_ltx25_dir(tmp_path_factory) -> Path:
    """The tiny LTX-2.5 (DFR pipeline, its recipe's models, a tiny enhancer), made once per session."""
    return _make_tiny_model(tmp_path_factory, "tiny-ltx25", "tiny-ltx25-model", "ltx2.5")


@pytest.fixture(scope="session")
def tiny_sana_wm_dir(tmp_path_factory) -> Path:
    """The tiny SANA-WM (stage 1 and its refiner), made once per session (in a subprocess)."""
    return _make_tiny_model(tmp_path_factory, "tiny-sana-wm", "tiny-sana-wm-model", "sana-wm")


@pytest.fixture(scope="session")
def tiny_look_dir(tmp_path_factory) -> Path:
    """The tiny look model (FLUX.2 klein classes, random weights), made once per session (in a subprocess)."""
    return _make_tiny_model(tmp_path_factory, "tiny-look", "tiny-look-model", "look")
