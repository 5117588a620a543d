"""Single-file checkpoints: the tiny LTX-2 transformer written in Lightricks' original key layout
loads through diffusers' from_single_file (the other parts from --components) and makes the same clip as the
folder; files diffusers cannot convert, or that lack their other parts, are refused with one sentence before
loading."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def single_file(tiny_ltx2_dir, tmp_path_factory):
    from diffusers import LTX2VideoTransformer3DModel

    from server.backends.single_file import write_ltx2_single_file

    transformer = LTX2VideoTransformer3DModel.from_pretrained(str(tiny_ltx2_dir), subfolder="transformer")
    return write_ltx2_single_file(transformer, tmp_path_factory.mktemp("sf") / "tiny-ltx2-dev.safetensors")


def _request():
    from server.backends.base import GenerateRequest

    return GenerateRequest(
        prompt="a red cube",
        negative_prompt="",
        seed=5,
        num_frames=17,
        width=96,
        height=64,
        frame_rate=24.0,
        num_inference_steps=2,
        guidance_scale=3.0,
    )


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
    a = folder.generate(_request(), lambda p: None, lambda: False).frames.astype(np.float32)
    b = one_file.generate(_request(), lambda p: None, lambda: False).frames.astype(np.float32)
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
