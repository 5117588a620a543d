"""GGUF single files (``--model FILE.gguf``, ComfyUI-GGUF's quantized transformers): a tiny LTX-2 transformer
quantized in the original key layout loads through diffusers' GGUF quantizer with its Linear weights kept
quantized, makes a clip close to the unquantized one, and says so in health's ``memory``; ``fit`` reads the
file's header for its parameters and bytes, and names a GGUF quantization for cards the bf16 release would
only fit by offloading."""

from __future__ import annotations

import numpy as np
import pytest
from support.server import backend_request

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")

#: Grey levels (0-255) by which the Q8_0 file's clip may differ from the folder's (measured: max 1,
#: mean 0.013; Q4_0: max 5, mean 0.28). A plain re-load differs by max 1, mean 3e-5 (test_single_file).
Q8_MAX, Q8_MEAN = 2, 0.1
#: Mean grey-level difference of the Q4_K file's clip from its folder's on the 256-wide tiny transformer
#: (measured: 1.42, Q8_0 0.10; the same file with its nibble halves swapped: 23.4).
Q4K_MEAN = 5.0


def _write(tiny_ltx2_dir, folder, qtype):  # any LTX-2 folder: its transformer, in the original layout
    from diffusers import LTX2VideoTransformer3DModel
    from support.checkpoint_files import write_gguf

    from server.backends.single_file import ltx2_transformer_to_original

    transformer = LTX2VideoTransformer3DModel.from_pretrained(str(tiny_ltx2_dir), subfolder="transformer")
    state = {k: v.detach() for k, v in transformer.state_dict().items()}
    return write_gguf(ltx2_transformer_to_original(state), folder / f"tiny-ltx2-{qtype}.gguf", qtype)


@pytest.fixture(scope="module")
def q8(tiny_ltx2_dir, tmp_path_factory):
    return _write(tiny_ltx2_dir, tmp_path_factory.mktemp("gguf"), "Q8_0")


def _clip(model, tmp_path, **kw):
    from server.backends.ltx2 import LTX2Backend

    torch.set_num_threads(1)
    backend = LTX2Backend(str(model), device="cpu", data_dir=tmp_path, **kw)
    backend.load()
    return backend, backend.generate(backend_request(), lambda p: None, lambda: False).frames.astype(
        np.float32
    )


def test_a_gguf_transformer_stays_quantized_and_its_clip_is_close(q8, tiny_ltx2_dir, tmp_path):
    from diffusers.quantizers.gguf.utils import GGUFLinear

    from server.backends import model_family

    assert model_family(str(q8)) == "ltx2"
    _, folder = _clip(tiny_ltx2_dir, tmp_path)
    backend, q8_frames = _clip(q8, tmp_path, components=str(tiny_ltx2_dir))
    quantized = [m for m in backend.pipe.transformer.modules() if isinstance(m, GGUFLinear)]
    kinds = {m.weight.quant_type.name for m in quantized}
    assert len(quantized) >= 10 and kinds == {"Q8_0"}
    assert all(m.weight.dtype == torch.uint8 for m in quantized)  # held as GGUF blocks, not dequantized
    diff = np.abs(q8_frames - folder)
    assert diff.max() <= Q8_MAX and diff.mean() < Q8_MEAN, (diff.max(), diff.mean())
    memory = backend.memory_report()
    assert memory["mode"] == "resident" and memory["quantization"].startswith("GGUF Q8_0")

    q4 = _write(tiny_ltx2_dir, tmp_path, "Q4_0")
    _, q4_frames = _clip(q4, tmp_path, components=str(tiny_ltx2_dir), memory_mode="group-offload")
    # Fewer bits, further from the folder's clip: the quantization is what the file says.
    assert np.abs(q4_frames - folder).mean() > diff.mean()


def test_fit_reads_the_gguf_header_without_loading_it(q8, tiny_ltx2_dir):
    import gguf  # a server dependency: missing, this fails rather than skips

    from server.fit import files, plan

    ckpt = plan.load_checkpoint(str(q8), str(tiny_ltx2_dir))
    folder = plan.load_checkpoint(str(tiny_ltx2_dir))
    tr, full = ckpt.components["transformer"], folder.components["transformer"]
    assert tr.params == full.params and tr.quant == "Q8_0" == ckpt.quant
    assert set(tr.stored) == {"Q8_0", "F32"}
    q8_bytes = tr.stored["Q8_0"]["bytes"]
    assert q8_bytes == tr.stored["Q8_0"]["params"] * 34 // 32  # 34 bytes per block of 32 weights
    assert tr.quant_bytes == q8_bytes + 2 * tr.stored["F32"]["params"] < tr.bf16_bytes
    assert "fp8" not in " ".join(ckpt.modes())  # no casting on top of a quantization
    assert ckpt.components["vae"].params == folder.components["vae"].params  # from --components
    # The bytes-per-parameter table fit plans with is GGUF's own block sizes.
    for name, bpp in files.BYTES_PER_PARAM.items():
        if name.startswith("Q"):
            block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[name]]
            assert bpp == size / block, name


def test_fit_names_a_gguf_quantization_where_bf16_only_fits_by_offloading():
    from server.fit import plan

    ckpt = plan.load_checkpoint("ltx-2-19b")
    choice = plan.choose_mode(ckpt, 24)
    assert choice["mode"] == "group-offload"
    g = choice["gguf"]
    assert g["quant"] in ("Q8_0", "Q6_K", "Q5_K", "Q4_K") and g["peak_gib"] <= 24
    assert g["mode"] in ("resident", "text-encoder-cpu")
    tr = ckpt.components["transformer"]
    assert tr.bytes_in("Q4_K") < tr.bytes_in("Q8_0") < tr.fp8_bytes * 1.1 < tr.bf16_bytes
    assert plan.choose_mode(ckpt, 80)["gguf"] is None  # resident already: nothing to suggest


def test_fp8_on_a_gguf_file_is_refused_before_loading(q8):
    from server.__main__ import parse_args
    from server.fit.modes import check_mode

    assert "already quantized (GGUF)" in check_mode("fp8", str(q8))
    assert check_mode("group-offload", str(q8)) is None
    with pytest.raises(SystemExit):
        parse_args(["--model", str(q8), "--memory-mode", "fp8+text-encoder-cpu"])


def test_the_fit_cli_prints_the_file_as_stored(q8, tiny_ltx2_dir):
    import subprocess
    import sys

    from support.server import REPO

    proc = subprocess.run(
        [sys.executable, "-m", "server", "fit", "--model", str(q8), "--components", str(tiny_ltx2_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "transformer as stored in the file: Q8_0" in proc.stdout and "Q8_0 0.0" in proc.stdout
    assert "fp8" not in proc.stdout.split("card GiB")[1]


@pytest.fixture(scope="module")
def wide_ltx2_dir(tiny_ltx2_dir, tmp_path_factory):
    """The tiny LTX-2 with a transformer whose attention is 256 wide (2 heads of 128): rows whole K-quant
    blocks (256 weights) fit in, which the tiny transformer's 16-wide rows do not."""
    import shutil

    from diffusers import LTX2VideoTransformer3DModel

    from server.backends import tiny_ltx2

    folder = tmp_path_factory.mktemp("wide") / "tiny-ltx2-wide"
    shutil.copytree(tiny_ltx2_dir, folder)
    for part in ("transformer", "loras"):  # its tiny LoRAs fit the 16-wide transformer only
        shutil.rmtree(folder / part)
    torch.manual_seed(31)
    kwargs = {**tiny_ltx2.transformer_kwargs(), "attention_head_dim": 128, "cross_attention_dim": 256}
    LTX2VideoTransformer3DModel(**kwargs).save_pretrained(folder / "transformer")
    return folder


def test_a_q4_k_transformer_stays_quantized_and_fit_reads_its_blocks(wide_ltx2_dir, tmp_path):
    """Q4_K, the K-quant ComfyUI-GGUF users pick most, in a file the real reader decodes: the 256-wide Linear
    weights load as Q4_K blocks through diffusers' GGUF quantizer, the clip stays near the unquantized one,
    and fit counts 144 bytes per 256 weights from the header."""
    from diffusers.quantizers.gguf.utils import GGUFLinear

    from server.fit import plan

    q4k = _write(wide_ltx2_dir, tmp_path, "Q4_K")
    _, folder = _clip(wide_ltx2_dir, tmp_path)
    backend, frames = _clip(q4k, tmp_path, components=str(wide_ltx2_dir))
    quantized = [m for m in backend.pipe.transformer.modules() if isinstance(m, GGUFLinear)]
    assert len(quantized) >= 8 and {m.weight.quant_type.name for m in quantized} == {"Q4_K"}
    assert all(m.weight.dtype == torch.uint8 for m in quantized)
    assert backend.memory_report()["quantization"].startswith("GGUF Q4_K")
    diff = np.abs(frames - folder).mean()
    # Between the folder and the Q8_0 file, as a 4-bit file should be; a misread block layout is far off.
    _, q8_frames = _clip(_write(wide_ltx2_dir, tmp_path, "Q8_0"), tmp_path, components=str(wide_ltx2_dir))
    assert np.abs(q8_frames - folder).mean() < diff < Q4K_MEAN, diff
    tr = plan.load_checkpoint(str(q4k), str(wide_ltx2_dir)).components["transformer"]
    assert tr.quant == "Q4_K" and tr.stored["Q4_K"]["bytes"] == tr.stored["Q4_K"]["params"] * 144 // 256
