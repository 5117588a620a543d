"""Every memory mode loads and runs the tiny LTX-Video and the tiny LTX-2 on the CPU through the backends (the
same load path real weights take). Lossless modes match resident within LOSSLESS_TOL grey levels; fp8
storage differs but stays close (FP8_MEAN_TOL). Group offload runs without CUDA streams here (the CPU has
none); the CUDA stream path is bench/gpu_check.sh's. Health's ``memory`` says which mode runs and why."""

from __future__ import annotations

import numpy as np
import pytest
from support.backend_requests import tiny_request

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")

MODES = ("resident", "fp8", "text-encoder-cpu", "fp8+text-encoder-cpu", "group-offload", "sequential")
#: Grey levels (0-255) a lossless mode may differ from resident by at any pixel (measured: 0).
LOSSLESS_TOL = 1
#: Mean grey-level difference fp8 storage may make (measured on these tiny models: 0.3-2.1, max 15-30 at one
#: pixel); it must also differ at all, or the casting was not applied.
FP8_MEAN_TOL = 6.0


def _request(**overrides):
    return tiny_request(**{"prompt": "a red cube on a table", "seed": 3, **overrides})


def _frames(backend_cls, model_dir, tmp_path, mode, **kw):
    torch.set_num_threads(1)
    b = backend_cls(str(model_dir), device="cpu", data_dir=tmp_path, memory_mode=mode, **kw)
    b.load()
    clip = b.generate(_request(), lambda p: None, lambda: False)
    return b, clip.frames.astype(np.float32)


@pytest.fixture(scope="module", params=["ltx", "ltx2"])
def family(request, tiny_model_dir, tiny_ltx2_dir, tmp_path_factory):
    from server.backends.ltx import LTXBackend
    from server.backends.ltx2 import LTX2Backend

    cls, model = (LTXBackend, tiny_model_dir) if request.param == "ltx" else (LTX2Backend, tiny_ltx2_dir)
    tmp = tmp_path_factory.mktemp(request.param)
    _, resident = _frames(cls, model, tmp, "resident")
    return request.param, cls, model, tmp, resident


@pytest.mark.parametrize("mode", [m for m in MODES if m != "resident"])
def test_each_mode_runs_and_matches_resident_where_lossless(family, mode):
    name, cls, model, tmp, resident = family
    backend, frames = _frames(cls, model, tmp, mode)
    assert backend.memory_report()["mode"] == mode and backend.memory_report()["forced"]
    diff = np.abs(frames - resident)
    if "fp8" in mode:
        assert 0 < diff.mean() < FP8_MEAN_TOL, (name, mode, diff.mean())
        assert backend.pipe.transformer.proj_in.weight.dtype != torch.float8_e4m3fn  # kept in compute dtype
        blocks = backend.pipe.transformer.transformer_blocks
        assert any(p.dtype == torch.float8_e4m3fn for p in blocks.parameters())
    else:
        assert diff.max() <= LOSSLESS_TOL, (name, mode, diff.max())
    if "text-encoder-cpu" in mode:
        assert next(backend.pipe.text_encoder.parameters()).device.type == "cpu"
    if mode in ("group-offload", "sequential"):
        assert backend.memory_report()["group_offload_streams"] is False  # no CUDA streams on the CPU


def test_cpu_runs_resident_unless_a_mode_is_forced(tiny_ltx2_dir, tmp_path):
    from server.backends.ltx2 import LTX2Backend

    b = LTX2Backend(str(tiny_ltx2_dir), device="cpu", data_dir=tmp_path)
    b.load()
    report = b.memory_report()
    assert report["mode"] == "resident" and not report["forced"]
    assert "cpu" in report["why"]


def test_fit_chooses_for_the_card_on_cuda(tiny_ltx2_dir):
    """The decision a CUDA server makes (it needs no GPU to decide): the tiny model fits resident on any card,
    a 22 B release on a 24 GiB card needs offloading."""
    from server.fit.modes import decide

    tiny = decide(None, "8", "cuda", str(tiny_ltx2_dir))
    assert tiny.mode == "resident" and "--vram 8" in tiny.why and tiny.predicted_peak_gib < 8
    big = decide(None, "24", "cuda", "ltx-2.3-22b")
    assert big.mode == "group-offload" and big.predicted_peak_gib <= 24
    assert decide("fp8", "auto", "cuda", "ltx-2.3-22b").forced


def test_bad_memory_flags_get_one_sentence():
    from server.__main__ import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--memory-mode", "fp4"])
    with pytest.raises(SystemExit):
        parse_args(["--vram", "lots"])
    settings = parse_args(["--memory-mode", "fp8+text-encoder-cpu", "--vram", "24"])
    assert (settings.memory_mode, settings.vram) == ("fp8+text-encoder-cpu", "24")


@pytest.mark.server
def test_health_says_which_memory_mode_runs_and_why(tiny_ltx2_dir, tmp_path):
    import requests
    from support.server import run_server

    args = ("--memory-mode", "group-offload")
    with run_server(tmp_path, model=str(tiny_ltx2_dir), extra_args=args, env={"OMP_NUM_THREADS": "1"}) as srv:
        memory = requests.get(f"{srv.url}/v1/health", timeout=30).json()["memory"]
    assert memory["mode"] == "group-offload" and memory["forced"]
    assert memory["why"] == "--memory-mode group-offload was asked for"
