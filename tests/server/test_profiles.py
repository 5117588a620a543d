"""Model profiles: the sampling defaults a checkpoint gets, and requests that leave steps/guidance out."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from PIL import Image
from support.server import REPO, SERVER_PYTHON, job_request, run_server, wait_for

from blender_ltx.core import job_request as ext_request
from blender_ltx.core.shots import GenerationGrid, Segment, Shot, Trajectory
from server.backends import profiles

DISTILLED_KWARGS = {
    "timesteps": [1000.0, 993.0, 987.0, 981.0, 975.0, 909.0, 725.0, 0.03],
    "decode_timestep": 0.05,
    "decode_noise_scale": 0.025,
    "image_cond_noise_scale": 0.025,
}


# -- profiles from config dicts (no model needed) -------------------------------------------------------
def test_distilled_checkpoint_with_timestep_vae_gets_the_documented_numbers():
    p = profiles.ltx_profile("Lightricks/LTX-Video-0.9.7-distilled", {"timestep_conditioning": True})
    assert (p.name, p.distilled, p.timestep_vae) == ("ltx-distilled", True, True)
    assert p.defaults() == {"num_inference_steps": 8, "guidance_scale": 1.0}
    assert p.pipeline_kwargs(8) == DISTILLED_KWARGS
    # Another step count: the pipeline's own schedule, the decode settings still apply.
    assert p.pipeline_kwargs(6) == {k: v for k, v in DISTILLED_KWARGS.items() if k != "timesteps"}


def test_name_of_a_local_snapshot_counts():
    hint = "/data/hf/models--Lightricks--LTX-Video-0.9.8-13B-Distilled/snapshots/abc"
    assert profiles.ltx_profile(hint, {"timestep_conditioning": True}).distilled


@pytest.mark.parametrize("timestep_vae", [True, False])
def test_standard_checkpoint_uses_guidance_and_more_steps(timestep_vae):
    p = profiles.ltx_profile("Lightricks/LTX-Video-0.9.7-dev", {"timestep_conditioning": timestep_vae})
    assert (p.name, p.distilled, p.timestep_vae) == ("ltx", False, timestep_vae)
    assert p.defaults() == {"num_inference_steps": 30, "guidance_scale": 5.0}
    decode = {k: v for k, v in DISTILLED_KWARGS.items() if k != "timesteps"}
    assert p.pipeline_kwargs(30) == (decode if timestep_vae else {})
    assert p.pipeline_kwargs(8) == p.pipeline_kwargs(30)  # never the distilled schedule


def test_tiny_model_is_fast_and_its_vae_decides_the_decode_settings():
    p = profiles.ltx_profile("/tmp/x/tiny-model", {"timestep_conditioning": False}, tiny=True)
    assert (p.name, p.distilled) == ("tiny", False)
    assert p.num_inference_steps <= 4 and p.pipeline_kwargs(p.num_inference_steps) == {}
    p = profiles.ltx_profile("tiny", {"timestep_conditioning": True}, tiny=True)
    assert p.pipeline_kwargs(p.num_inference_steps)["decode_timestep"] == 0.05


def test_profile_can_be_forced_and_unknown_kinds_are_refused():
    p = profiles.ltx_profile("/models/ltx", {}, kind="distilled")
    assert p.defaults() == {"num_inference_steps": 8, "guidance_scale": 1.0}
    assert profiles.ltx_profile("x-distilled", {}, kind="standard").guidance_scale == 5.0
    with pytest.raises(ValueError, match="distilled"):
        profiles.ltx_profile("x", {}, kind="fast")


def test_resolve_fills_only_what_is_missing():
    p = profiles.ltx_profile("LTX-Video-0.9.7-distilled", {"timestep_conditioning": True})
    req = {"num_inference_steps": None}
    record = profiles.resolve(req, p)
    assert req == {"num_inference_steps": 8, "guidance_scale": 1.0}
    assert record == {
        "profile": "ltx-distilled",
        "from_profile": ["num_inference_steps", "guidance_scale"],
        "pipeline_kwargs": DISTILLED_KWARGS,
    }
    req = {"num_inference_steps": 5, "guidance_scale": 0.0}
    record = profiles.resolve(req, p)
    assert req == {"num_inference_steps": 5, "guidance_scale": 0.0} and record["from_profile"] == []
    assert "timesteps" not in record["pipeline_kwargs"]


# -- over HTTP: the shared tiny server --------------------------------------------------------------------
_OMIT = object()


def _submit(http, server, **fields) -> dict:
    req = job_request(**fields)
    for key in [k for k, v in fields.items() if v is _OMIT]:
        del req[key]
    r = http.post(server.url + "/v1/jobs", json=req)
    assert r.status_code == 202, r.text
    return r.json()


def test_health_reports_the_profile_and_its_defaults(server, http):
    health = http.get(server.url + "/v1/health").json()
    assert health["profile"]["name"] == "tiny" and health["profile"]["distilled"] is False
    assert health["profile"]["timestep_vae"] is False
    assert health["defaults"] == {"num_inference_steps": 4, "guidance_scale": 5.0}


@pytest.mark.parametrize("missing", [_OMIT, None], ids=["absent", "null"])
def test_missing_steps_and_guidance_come_from_the_profile(server, http, missing):
    job = _submit(http, server, num_inference_steps=missing, guidance_scale=missing)
    # Filled in at submit: the queued job already says what it will run with.
    assert job["request"]["num_inference_steps"] == 4 and job["request"]["guidance_scale"] == 5.0
    done = wait_for(http, server.url, job["id"])
    assert done["status"] == "succeeded", done
    assert done["request"]["num_inference_steps"] == 4 and done["request"]["guidance_scale"] == 5.0
    assert done["applied"]["sampling"] == {
        "profile": "tiny",
        "from_profile": ["num_inference_steps", "guidance_scale"],
        "pipeline_kwargs": {},
    }


def test_explicit_values_win(server, http):
    job = _submit(http, server, num_inference_steps=2, guidance_scale=1.0)
    done = wait_for(http, server.url, job["id"])
    assert done["status"] == "succeeded", done
    assert (done["request"]["num_inference_steps"], done["request"]["guidance_scale"]) == (2, 1.0)
    assert done["applied"]["sampling"]["from_profile"] == []
    job = _submit(http, server, num_inference_steps=3, guidance_scale=_OMIT)
    assert (job["request"]["num_inference_steps"], job["request"]["guidance_scale"]) == (3, 5.0)
    assert job["applied"]["sampling"]["from_profile"] == ["guidance_scale"]
    assert wait_for(http, server.url, job["id"])["status"] == "succeeded"


def test_extension_zero_means_the_server_default(server, http, tmp_path):
    """The shot settings' 0 steps / 0 guidance reach the server as null and get the profile's values."""
    eye = [1.0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    traj = Trajectory(frames=list(range(1, 10)), matrix_world=[eye] * 9, lens_mm=[50.0] * 9)
    grid = GenerationGrid(num_frames=9, width=64, height=64, frame_rate=24.0, segments=[Segment(1, 9, 9)])
    shot = Shot("SH010", "Cam", 1, 9, grid, traj, [], "")
    png = tmp_path / "first.png"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(png)
    settings = {"prompt": "a lighthouse", "negative_prompt": "", "seed": 3, "steps": 0, "guidance": 0.0}
    req = ext_request.build_request(shot, settings, [(0, str(png))])
    assert req["num_inference_steps"] is None and req["guidance_scale"] is None
    r = http.post(server.url + "/v1/jobs", json=req)
    assert r.status_code == 202, r.text
    done = wait_for(http, server.url, r.json()["id"])
    assert done["status"] == "succeeded", done
    assert (done["request"]["num_inference_steps"], done["request"]["guidance_scale"]) == (4, 5.0)


# -- a timestep-aware VAE under the distilled profile -------------------------------------------------------
@pytest.fixture(scope="module")
def tvae_model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tvae") / "tiny-tvae"
    subprocess.run(
        [SERVER_PYTHON, "-m", "server", "make-tiny-model", str(out), "--timestep-vae"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return out


def test_distilled_profile_runs_its_schedule_and_decode_settings(tvae_model_dir, tmp_path, http):
    with run_server(tmp_path / "srv", str(tvae_model_dir), ("--profile", "distilled")) as srv:
        health = http.get(srv.url + "/v1/health").json()
        assert health["profile"]["name"] == "ltx-distilled" and health["profile"]["timestep_vae"] is True
        assert health["defaults"] == {"num_inference_steps": 8, "guidance_scale": 1.0}
        job = _submit(http, srv, num_inference_steps=_OMIT, guidance_scale=_OMIT)
        done = wait_for(http, srv.url, job["id"])
        assert done["status"] == "succeeded", done
        assert (done["request"]["num_inference_steps"], done["request"]["guidance_scale"]) == (8, 1.0)
        assert done["applied"]["sampling"]["pipeline_kwargs"] == DISTILLED_KWARGS
        assert done["progress"] == 1.0


def test_decode_settings_reach_the_pipeline(tvae_model_dir):
    """Same job with the profile's decode settings and with none: a timestep-aware VAE decodes differently."""
    from server.backends.base import GenerateRequest
    from server.backends.ltx import LTXBackend

    backend = LTXBackend(str(tvae_model_dir), device="cpu")
    backend.load()
    assert backend.profile().name == "tiny" and backend.profile().timestep_vae

    def run(sampling):
        req = GenerateRequest(
            prompt="a car",
            negative_prompt="",
            seed=1,
            num_frames=9,
            width=64,
            height=64,
            frame_rate=24.0,
            num_inference_steps=2,
            guidance_scale=1.0,
            sampling=sampling,
        )
        return backend.generate(req, lambda p: None, lambda: False).frames

    with_profile, plain = run(None), run({})
    assert with_profile.shape == plain.shape == (9, 64, 64, 3)
    assert not np.array_equal(with_profile, plain)
    assert np.array_equal(with_profile, run(backend.profile().pipeline_kwargs(2)))


def test_ltx2_guidance_defaults_come_from_the_dev_profile(monkeypatch):
    """The LTX-2 backend fills guidance the request's profile left out from profiles.LTX2_DEV, the one
    place those numbers live (issue 15 item 6: ltx2.py had its own copies)."""
    from server.backends import ltx2

    changed = {
        "stg_scale": 0.5,
        "audio_guidance_scale": 4.0,
        "modality_scale": 2.0,
        "audio_modality_scale": 2.5,
    }
    monkeypatch.setattr(profiles, "LTX2_DEV", changed)
    assert ltx2.guidance_kwargs(3.0, {}) == changed
    off = ltx2.guidance_kwargs(1.0, {})  # guidance off: every kind of it, and no STG block
    assert {k: off[k] for k in changed} == profiles.LTX2_NO_GUIDANCE
    assert off["spatio_temporal_guidance_blocks"] == [0]
    assert ltx2.guidance_kwargs(3.0, {"stg_scale": 2.0})["stg_scale"] == 2.0  # the profile's own wins


def test_the_smallest_side_follows_the_vae_config(tiny_ltx2_dir, tiny_model_dir):
    """vae_min_side from the saved configs: the tiny LTX-2's decoder pads by reflection (64, as tried:
    32 fails in F.pad), the tiny LTX-Video's by zeros (32 runs)."""
    import json

    from server.backends.pipeline import vae_min_side

    ltx2 = json.loads((tiny_ltx2_dir / "vae" / "config.json").read_text())
    ltx = json.loads((tiny_model_dir / "vae" / "config.json").read_text())
    assert vae_min_side(ltx2) == 64 and vae_min_side(ltx) == 32
    assert vae_min_side({**ltx2, "spatial_compression_ratio": 16}) == 32
