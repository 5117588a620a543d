"""Fixtures shared by every suite."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.server import SERVER_PYTHON

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The built-in tiny LTX model, made once per session (in a subprocess: keeps torch out of pytest)."""
    out = tmp_path_factory.mktemp("tiny") / "tiny-model"
    subprocess.run(
        [SERVER_PYTHON, "-m", "server", "make-tiny-model", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def tiny_ltx2_dir(tmp_path_factory) -> Path:
    """The tiny LTX-2 with its random camera LoRAs and IC-LoRAs, made once per session (in a subprocess)."""
    out = tmp_path_factory.mktemp("tiny-ltx2") / "tiny-ltx2-model"
    subprocess.run(
        [SERVER_PYTHON, "-m", "server", "make-tiny-model", "--family", "ltx2", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return out
