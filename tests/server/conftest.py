"""One tiny-model server shared by the server tests that don't need their own process."""

from __future__ import annotations

import importlib.util

import pytest

import requests
from support.server import SHARED_BODY_LIMIT as BODY_LIMIT
from support.server import SHARED_STALL_S as STALL_S
from support.server import run_server

# These tests import the server stack (Pillow, PyAV) next to the server; the bpy 5.1+ venv (Python 3.13, no
# torch wheel) holds bpy only and runs the Blender tests against a server on LTX_SERVER_PYTHON instead.
# There none of them is collected, and the run's summary says so in one line (tests/conftest.py).
if importlib.util.find_spec("PIL") is None:
    collect_ignore_glob = ["test_*.py"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/server/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.server)


@pytest.fixture(scope="session")
def server(tiny_model_dir, tmp_path_factory):
    # A small body limit so the 413 test need not send 64 MB.
    args = ("--max-body-bytes", str(BODY_LIMIT), "--stall-timeout", str(STALL_S))
    with run_server(tmp_path_factory.mktemp("srv"), model=str(tiny_model_dir), extra_args=args) as handle:
        yield handle


@pytest.fixture()
def http():
    with requests.Session() as s:
        yield s


@pytest.fixture(scope="session")
def ltx2_server(tiny_ltx2_dir, tmp_path_factory):
    """A server on the tiny LTX-2 (it loads the model's own camera LoRAs and IC-LoRAs)."""
    # One torch thread: on the shared test machines two threads under load run the tiny LTX-2 5x slower.
    env = {"OMP_NUM_THREADS": "1"}
    with run_server(tmp_path_factory.mktemp("srv-ltx2"), model=str(tiny_ltx2_dir), env=env) as handle:
        yield handle


@pytest.fixture(scope="module")
def ltx2_backend(tiny_ltx2_dir, tmp_path_factory):
    """The tiny LTX-2 loaded in this process by the server's own backend (one per module: tests switch
    its adapters and run its pipelines, so modules do not share one)."""
    import torch

    from server.backends.ltx2 import LTX2Backend

    torch.set_num_threads(1)
    backend = LTX2Backend(str(tiny_ltx2_dir), device="cpu", data_dir=tmp_path_factory.mktemp("b"))
    backend.load()
    return backend
