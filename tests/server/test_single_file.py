"""Single-file checkpoints: the tiny LTX-2 transformer written in Lightricks' original key layout
loads through diffusers' from_single_file (the other parts from --components) and makes the same clip as the
folder; files diffusers cannot convert, or that lack their other parts, are refused with one sentence before
loading."""

from __future__ import annotations

import numpy as np
import pytest
from support.backend_requests import tiny_request

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def single_file(tiny_ltx2_dir, tmp_path_factory):
    from diffusers import LTX2VideoTransformer3DModel

    from server.backends.single_file import write_ltx2_single_file

    transformer = LTX2VideoTransformer3DModel.from_pretrained(str(tiny_ltx2_dir), subfolder="transformer")
    return write_ltx2_single_file(transformer, tmp_path_factory.mktemp("sf") / "tiny-ltx2-dev.safetensors")


def test_the_file_is_in_the_original_layout(single_file):
    from server.backends.single_file import file_keys, sniff

    keys = file_keys(single_file)
    assert all(k.startswith("model.diffusion_model.") for k in keys)
    assert "model.diffusion_model.patchify_proj.weight" in keys
    assert "model.diffusion_model.adaln_single.linear.weight" in keys
    assert not any(".proj_in." in k or "time_embed." in k or "norm_q" in k for k in keys)
    assert sniff(single_file) == "ltx2"


def test_a_single_file_makes_the_same_clip_as_the_folder(single_file, tiny_ltx2_dir, tmp_path):
    from server.backends import model_family
    from server.backends.ltx2 import LTX2Backend

    torch.set_num_threads(1)
    assert model_family(str(single_file)) == "ltx2"
    folder = LTX2Backend(str(tiny_ltx2_dir), device="cpu", data_dir=tmp_path)
    folder.load()
    one_file = LTX2Backend(str(single_file), device="cpu", data_dir=tmp_path, components=str(tiny_ltx2_dir))
    one_file.load()
    a = folder.generate(tiny_request(), lambda p: None, lambda: False).frames.astype(np.float32)
    b = one_file.generate(tiny_request(), lambda p: None, lambda: False).frames.astype(np.float32)
    # The weights are identical (bit for bit); two loads in one process round a few pixels apart (measured:
    # max 1 grey level, mean 3e-5).
    assert np.abs(a - b).max() <= 1 and np.abs(a - b).mean() < 0.01
    state, loaded = folder.pipe.transformer.state_dict(), one_file.pipe.transformer.state_dict()
    assert state.keys() == loaded.keys() and all(torch.equal(state[k], loaded[k]) for k in state)


def test_files_diffusers_cannot_convert_get_one_sentence(single_file, tiny_ltx2_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    from server.backends.base import WeightsNotFound
    from server.backends.ltx2 import LTX2Backend

    state = load_file(str(single_file))
    state["model.diffusion_model.prompt_adaln_single.linear.weight"] = torch.zeros(2, 2)  # the 2.3 layout
    newer = tmp_path / "ltx-2.3-22b-dev.safetensors"
    save_file(state, str(newer))
    with pytest.raises(WeightsNotFound, match="diffusers/LTX-2.3-Distilled-Diffusers"):
        LTX2Backend(str(newer), device="cpu", data_dir=tmp_path, components=str(tiny_ltx2_dir)).load()
    with pytest.raises(WeightsNotFound, match="add --components DIR"):
        LTX2Backend(str(single_file), device="cpu", data_dir=tmp_path).load()


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_an_ltx_video_single_file_makes_the_same_clip_as_the_folder(tiny_model_dir, tmp_path):
    from diffusers import LTXVideoTransformer3DModel
    from support.checkpoint_files import ltx_video_transformer_to_original, write_safetensors

    from server.backends import model_family
    from server.backends.ltx import LTXBackend
    from server.backends.single_file import file_keys, sniff

    torch.set_num_threads(1)
    transformer = LTXVideoTransformer3DModel.from_pretrained(str(tiny_model_dir), subfolder="transformer")
    path = write_safetensors(
        ltx_video_transformer_to_original(transformer.state_dict()), tmp_path / "ltx-video-0.9.safetensors"
    )
    keys = file_keys(path)
    assert "model.diffusion_model.adaln_single.linear.weight" in keys and not any(
        "proj_in" in k for k in keys
    )
    assert sniff(path) == "ltx-video" and model_family(str(path)) == "ltx-video"
    folder = LTXBackend(str(tiny_model_dir), device="cpu", data_dir=tmp_path)
    folder.load()
    one_file = LTXBackend(str(path), device="cpu", data_dir=tmp_path, components=str(tiny_model_dir))
    one_file.load()
    assert _same_weights(folder.pipe.transformer, one_file.pipe.transformer)
    a = folder.generate(tiny_request(), lambda p: None, lambda: False).frames.astype(np.float32)
    b = one_file.generate(tiny_request(), lambda p: None, lambda: False).frames.astype(np.float32)
    assert np.abs(a - b).max() <= 1  # equal weights; two loads may round a pixel apart


def test_the_video_vae_loads_from_the_single_file_or_from_vae_file(single_file, tiny_ltx2_dir, tmp_path):
    """LTX-2's VAE in the original ``vae.`` layout: inside the checkpoint (as Lightricks ship it) and as a
    separate ``--vae FILE``; either way the loaded VAE is the folder's, weight for weight."""
    from diffusers import AutoencoderKLLTX2Video
    from safetensors.torch import load_file
    from support.checkpoint_files import ltx2_vae_to_original, write_safetensors

    from server.backends.ltx2 import LTX2Backend

    torch.set_num_threads(1)
    folder_vae = AutoencoderKLLTX2Video.from_pretrained(str(tiny_ltx2_dir), subfolder="vae")
    # A different VAE for the folder to hold, so a VAE taken from the folder instead of the file shows.
    other = AutoencoderKLLTX2Video.from_config(folder_vae.config)
    components = tmp_path / "components"
    import shutil

    shutil.copytree(tiny_ltx2_dir, components)
    other.save_pretrained(str(components / "vae"))
    vae_state = ltx2_vae_to_original(folder_vae.state_dict())
    combined = write_safetensors(
        {**load_file(str(single_file)), **vae_state}, tmp_path / "ltx-2-19b.safetensors"
    )
    vae_file = write_safetensors(vae_state, tmp_path / "ltx-2-19b-vae.safetensors")
    for model, extra in ((combined, {}), (single_file, {"vae_file": str(vae_file)})):
        b = LTX2Backend(str(model), device="cpu", data_dir=tmp_path, components=str(components), **extra)
        b.load()
        assert _same_weights(b.pipe.vae, folder_vae), model
        assert not _same_weights(b.pipe.vae, other)


def test_fit_reads_a_safetensors_header(single_file, tiny_ltx2_dir, tmp_path):
    """fit --model FILE.safetensors counts the file's own tensors from its header (no weights loaded)."""
    import json
    import subprocess
    import sys

    from server.fit import files, plan

    from test_fit import REPO

    tensors = files.read_tensors(single_file)
    assert all(t.dtype == "F32" for t in tensors.values())
    assert sum(t.nbytes for t in tensors.values()) + 8 < single_file.stat().st_size  # header + data
    out = tmp_path / "plan.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            "fit",
            "--model",
            str(single_file),
            "--components",
            str(tiny_ltx2_dir),
        ]
        + ["--vram", "8", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    folder = plan.load_checkpoint(str(tiny_ltx2_dir)).components["transformer"]
    tr = data["components"]["transformer"]
    assert tr["params"] == folder.params and tr["stored"]["F32"]["bytes"] == 4 * folder.params
    assert data["quantization"] is None and "transformer as stored in the file: F32" in proc.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "server", "fit", "--model", str(tiny_ltx2_dir), "--components", "x"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "--components goes with a single" in bad.stderr
