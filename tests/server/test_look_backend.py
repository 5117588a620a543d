"""The look model in this process: the tiny FLUX.2 klein written by ``make-tiny-model --family look`` and
read back by the loader that reads a real checkpoint, making candidate stills from a prompt, a layout
image and references."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def backend(tiny_look_dir, tmp_path_factory):
    from server.backends.look import LookBackend

    torch.set_num_threads(1)
    b = LookBackend(str(tiny_look_dir), device="cpu", data_dir=tmp_path_factory.mktemp("look"))
    b.load()
    return b


def _image(seed: int, w: int = 96, h: int = 64):
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8))


def _request(**overrides):
    from server.backends.look import LookImage

    base = dict(
        prompt="a woman walks down a red street",
        width=96,
        height=64,
        seed=7,
        count=2,
        num_inference_steps=2,
        guidance_scale=1.0,
        layout=LookImage(_image(1), "depth"),
        references=[LookImage(_image(2), "character", "Ana")],
    )
    return base | overrides


def _make(backend, **overrides):
    from server.backends.look import LookRequest

    return backend.generate(LookRequest(**_request(**overrides)), lambda p: None, lambda: False)


def test_the_real_loader_reads_the_tiny_klein(backend, tiny_look_dir):
    assert type(backend.pipe).__name__ == "Flux2KleinPipeline"
    assert backend.kind == "tiny" and backend.defaults() == {"num_inference_steps": 4, "guidance_scale": 1.0}
    assert backend.size_multiple == 16
    assert (tiny_look_dir / "model_index.json").is_file()


def test_count_stills_of_the_asked_size_each_with_its_seed(backend):
    out = _make(backend, count=3, width=112, height=48)
    assert len(out.stills) == 3 and out.seeds == [7, 8, 9]
    assert all(s.shape == (48, 112, 3) and s.dtype == np.uint8 for s in out.stills)
    assert not np.array_equal(out.stills[0], out.stills[1])  # candidates differ
    roles = [(i["index"], i["role"], i["kind"]) for i in out.applied["images"]]
    assert roles == [(1, "layout", "depth"), (2, "reference", "character")]
    assert "Image 2 shows Ana (character)" in out.applied["prompt_used"]


def test_the_same_seed_gives_the_same_still_whatever_the_count(backend):
    one = _make(backend, count=1, seed=8)
    two = _make(backend, count=2, seed=7)
    np.testing.assert_array_equal(one.stills[0], two.stills[1])


def test_references_and_the_layout_change_the_still(backend):
    base = _make(backend, count=1).stills[0].astype(int)
    other_ref = _make(backend, count=1, references=[_make_ref(3)]).stills[0].astype(int)
    no_ref = _make(backend, count=1, references=[]).stills[0].astype(int)
    no_layout = _make(backend, count=1, layout=None).stills[0].astype(int)
    for changed in (other_ref, no_ref, no_layout):
        assert np.abs(changed - base).max() > 0


def _make_ref(seed: int):
    from server.backends.look import LookImage

    return LookImage(_image(seed), "character", "Ana")


def test_a_size_off_the_grid_is_refused_with_the_sentence(backend):
    with pytest.raises(ValueError, match="multiples of 16 but are 100 and 64"):
        _make(backend, width=100)


def test_cancel_stops_at_the_next_step(backend):
    from server.backends.base import Cancelled
    from server.backends.look import LookRequest

    seen = []
    with pytest.raises(Cancelled):
        backend.generate(LookRequest(**_request(count=3)), seen.append, lambda: len(seen) >= 1)
    assert len(seen) == 1
