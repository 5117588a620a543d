"""The motion meter's command line (``python -m server analyze-motion``) on bad input: one sentence that
says what to change and exit 1, each checked before the measurement runs (issue 15 item 15); and the
turn-and-zoom fit that overflowed on a tiny LTX-2 clip's noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

import server.meter
from server.generation.video import write_mp4
from server.meter import geometry
from server.meter.cli import main


@pytest.fixture()
def clip(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (9, 64, 96, 3), dtype=np.uint8)
    return write_mp4(frames, tmp_path / "take.mp4", 24.0)


@pytest.fixture()
def no_measuring(monkeypatch):
    """A check that runs up front never reaches the measurement."""

    def refuse(*_a, **_k):
        raise AssertionError("the measurement ran before the input was checked")

    monkeypatch.setattr(server.meter, "measure_clip", refuse)


def _run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    return code, err


LENS = ("--lens-mm", "35", "--sensor-width-mm", "36")


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (
            ("--lens-mm", "inf", "--sensor-width-mm", "36"),
            "--lens-mm is inf; pass a positive number of millimetres",
        ),
        (
            ("--lens-mm", "0", "--sensor-width-mm", "36"),
            "--lens-mm is 0; pass a positive number of millimetres",
        ),
        (
            ("--lens-mm", "35", "--sensor-width-mm", "0"),
            "--sensor-width-mm is 0; pass a positive number of millimetres",
        ),
        ((*LENS, "--fps", "0"), "--fps is 0; pass a positive number of frames per second (or leave it out)"),
        (
            (*LENS, "--fps", "nan"),
            "--fps is nan; pass a positive number of frames per second (or leave it out)",
        ),
        (
            (*LENS, "--fps", "-24"),
            "--fps is -24; pass a positive number of frames per second (or leave it out)",
        ),
    ],
)
def test_a_number_that_is_no_length_or_rate_is_refused(capsys, clip, no_measuring, args, sentence):
    code, err = _run(capsys, clip, *args)
    assert code == 1 and err.startswith(f"error: {sentence}"), err
    assert err.count("\n") == 0  # one line, no traceback


def test_an_unwritable_json_path_is_refused_before_measuring(capsys, clip, tmp_path, no_measuring):
    code, err = _run(capsys, clip, *LENS, "--json", tmp_path / "missing" / "out.json")
    assert code == 1 and "the folder" in err and "does not exist; create it or pick another" in err
    code, err = _run(capsys, clip, *LENS, "--json", tmp_path)
    assert code == 1 and err.endswith("is a folder; pass a file name (or '-' for stdout)")


def test_an_audio_only_mp4_is_refused(capsys, tmp_path, no_measuring):
    import av

    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w") as box:
        stream = box.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            box.mux(packet)
    code, err = _run(capsys, path, *LENS)
    assert (code, err) == (1, f"error: {path} has no video stream (audio only?); pass the mp4 of the take")


def test_a_corrupt_file_is_refused(capsys, tmp_path, no_measuring):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    code, err = _run(capsys, path, *LENS)
    assert code == 1 and err.startswith(f"error: {path} is not a video PyAV can read (")
    assert err.endswith("; pass the mp4 of the take") and err.count("\n") == 0


def test_a_good_call_still_measures_and_writes_json(capsys, clip, tmp_path):
    out = tmp_path / "motion.json"
    code = main([str(clip), *LENS, "--json", str(out)])
    assert code == 0 and out.read_text().startswith("{")


def test_a_diverging_turn_and_zoom_fit_is_no_measurement():
    """Points no turn and zoom explains (a tiny LTX-2 clip's noise) sent Gauss-Newton's log zoom past
    709 and math.exp raised OverflowError; now the pair is left unmeasured."""
    k = np.array([[100.0, 0, 48], [0, 100.0, 32], [0, 0, 1]])
    rng = np.random.default_rng(0)
    x1 = rng.normal(0, 0.01, (20, 2))
    p2 = rng.normal(0, 1e3, (20, 2)) + [48, 32]
    assert geometry._refine(np.eye(3), 0.0, x1, p2, k) is None
    # A sane pair still refines: the points of a 10 % zoom give back the zoom.
    x = rng.normal(0, 0.2, (40, 2))
    rot, log_zoom = geometry._refine(np.eye(3), 0.0, x, 100.0 * 1.1 * x + [48, 32], k)
    assert math.exp(log_zoom) == pytest.approx(1.1, rel=1e-6)
