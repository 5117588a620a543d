"""What the LTX-2 pipeline really receives: IC-LoRA reference videos at the reference size with the kind's
adapter active, keyframes and multi-frame video conditions at their indices. The backend runs in this
process on the tiny LTX-2 and the pipeline's call is wrapped to record its arguments."""

from __future__ import annotations

import numpy as np
import pytest
from support.server import backend_request

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def backend(ltx2_backend):
    return ltx2_backend


@pytest.fixture()
def calls(backend, monkeypatch):
    """Each pipeline call's keyword arguments and the adapters active during it."""
    seen = []
    pipe_cls = type(backend.pipe)
    original = pipe_cls.__call__

    def recording(self, *args, **kwargs):
        from peft.tuners.tuners_utils import BaseTunerLayer

        layers = [m for m in self.transformer.modules() if isinstance(m, BaseTunerLayer)]
        enabled = any(not m.disable_adapters for m in layers)
        seen.append({**kwargs, "_active": list(self.get_active_adapters()) if enabled else []})
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pipe_cls, "__call__", recording)
    return seen


def _request(**overrides):
    return backend_request(
        **{"prompt": "a red car", "seed": 3, "width": 128, "guidance_scale": 1.0, **overrides}
    )


def _video(n: int, h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("kind", ["depth", "canny", "tracks"])
def test_reference_reaches_the_pipeline_at_the_reference_size_with_its_lora(backend, calls, kind):
    from server.backends.base import Reference

    ref = Reference(kind=kind, frames=_video(17, 64, 128, seed=1), strength=0.7)
    clip = backend.generate(_request(references=[ref]), lambda p: None, lambda: False)

    (call,) = calls
    (cond,) = call["reference_conditions"]
    assert call["reference_downscale_factor"] == 2  # the tiny IC-LoRAs are ..._ref0.5
    assert len(cond.frames) == 17 and {f.size for f in cond.frames} == {(64, 32)}
    adapter = backend.ic[kind].adapter
    assert call["_active"] == [adapter]
    assert clip.applied["references"] == [
        {
            "kind": kind,
            "frames": 17,
            "width": 64,
            "height": 32,
            "strength": 0.7,
            "lora": backend.ic[kind].source,
            "downscale": 2,
        }
    ]
    assert clip.frames.shape == (17, 64, 128, 3)


def test_keyframes_and_video_conditions_go_in_at_their_indices(backend, calls):
    from PIL import Image

    from server.backends.base import Keyframe, VideoCondition

    from server.backends.ltx2 import condition_frames

    # diffusers reads LTX2VideoCondition.index as a latent index: pixel frame 9 starts latent 2.
    assert condition_frames(17) == [0, 1, 9] and backend.condition_index(16, 17) == 9
    key = Keyframe(Image.fromarray(_video(1, 64, 128, seed=2)[0]), frame_index=9, strength=0.9)
    tail = VideoCondition(frames=_video(9, 64, 128, seed=3), frame_index=0, strength=1.0)
    backend.generate(_request(keyframes=[key], video_conditions=[tail]), lambda p: None, lambda: False)

    (call,) = calls
    conds = call["conditions"]
    assert [(c.index, c.strength) for c in conds] == [(2, 0.9), (0, 1.0)]
    assert len(conds[1].frames) == 9
    assert call["reference_conditions"] is None and call["_active"] == []


def test_a_job_without_adapters_after_one_with_them_matches_a_fresh_pipeline(backend, tiny_ltx2_dir):
    from server.backends.base import Reference

    plain = backend.generate(_request(), lambda p: None, lambda: False).frames
    ref = Reference(kind="depth", frames=_video(17, 64, 128, seed=1))
    backend.generate(_request(references=[ref], camera_lora="Jib-Up"), lambda p: None, lambda: False)
    after = backend.generate(_request(), lambda p: None, lambda: False).frames

    from diffusers import LTX2InContextPipeline

    fresh = LTX2InContextPipeline.from_pretrained(str(tiny_ltx2_dir))
    fresh.set_progress_bar_config(disable=True)
    backend_pipe, backend.pipe = backend.pipe, fresh
    backend._embeds.clear()
    try:
        expected = backend.generate(_request(), lambda p: None, lambda: False).frames
    finally:
        backend.pipe = backend_pipe
        backend._embeds.clear()
    assert np.array_equal(plain, expected)
    assert np.array_equal(after, expected)


def test_text_encoder_offload_gives_the_same_clip(backend, tiny_ltx2_dir, tmp_path):
    from server.backends.ltx2 import LTX2Backend

    offloaded = LTX2Backend(str(tiny_ltx2_dir), device="cpu", data_dir=tmp_path, text_encoder_offload=True)
    offloaded.load()
    assert offloaded.capabilities()["text_encoder_offload"] is True
    req = _request(guidance_scale=3.0)
    expected = backend.generate(req, lambda p: None, lambda: False)
    got = offloaded.generate(req, lambda p: None, lambda: False)
    assert np.array_equal(got.frames, expected.frames)
    assert np.array_equal(got.audio, expected.audio) and got.audio_rate == 16000


def test_loras_of_another_family_are_listed_not_applied(tiny_ltx2_dir, tmp_path):
    import shutil

    from server.backends.ltx2 import LTX2Backend

    cams = tmp_path / "cams"
    shutil.copytree(tiny_ltx2_dir / "loras" / "camera" / "Dolly-In", cams / "Dolly-In")
    (cams / "family.json").write_text('{"family": "ltx-2-19b"}')
    b = LTX2Backend(str(tiny_ltx2_dir), device="cpu", data_dir=tmp_path, camera_loras=str(cams))
    b.load()
    assert "camera_lora" not in b.capability_list() and "control_depth" in b.capability_list()
    (spec,) = [lo for lo in b.loras() if lo["role"] == "camera"]
    assert spec["usable"] is False and "ltx-2-19b" in spec["reason"] and "tiny-ltx2" in spec["reason"]
    record = b.choose_camera_lora("auto", 1.0, "dolly_in")
    assert record["name"] is None and "trained for ltx-2-19b" in record["reason"]
    clip = b.generate(_request(), lambda p: None, lambda: False)
    assert clip.frames.shape == (17, 64, 128, 3)
