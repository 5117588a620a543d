"""Every rule is checked before anything is queued: 422 with the field and the rule in one sentence."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from support.server import SHARED_BODY_LIMIT as BODY_LIMIT
from PIL import Image
from support.server import job_request, png_b64


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _encoded(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def _trajectory(n: int) -> dict:
    return {
        "frames": list(range(1, n + 1)),
        "matrix_world": [np.eye(4).ravel().tolist()] * n,
        "lens_mm": [35.0] * n,
    }


def _cond(image: str, frame_index: int = 0, **extra) -> list[dict]:
    return [{"frame_index": frame_index, "image": image, **extra}]


BIG_IMAGE = Image.new("RGB", (5000, 4000), (10, 20, 30))  # 20 Mpx, a few KB as PNG
CASES = {
    # name: (request overrides, field, words the sentence must contain)
    "frames_not_8k1": ({"num_frames": 16}, "num_frames", "8k+1"),
    "frames_above_max": ({"num_frames": 1033}, "num_frames", "maximum of 1025"),
    "frames_string": ({"num_frames": "9"}, "num_frames", "integer"),
    "frames_float": ({"num_frames": 9.5}, "num_frames", "integer"),  # 9.0 is the integer 9
    "width_not_32": ({"width": 100}, "width", "multiple of 32"),
    "height_zero": ({"height": 0}, "height", "multiple of 32"),
    "over_budget": ({"width": 1280, "height": 768}, "width", "pixel budget"),
    "steps_zero": ({"num_inference_steps": 0}, "num_inference_steps", "greater than or equal to 1"),
    "steps_above": ({"num_inference_steps": 201}, "num_inference_steps", "limit of 200"),
    "rate_zero": ({"frame_rate": 0}, "frame_rate", "from 1 to 240"),
    "rate_tiny": ({"frame_rate": 0.0004}, "frame_rate", "from 1 to 240 frames per second"),
    "rate_denormal": ({"frame_rate": 1e-300}, "frame_rate", "from 1 to 240"),
    "rate_above": ({"frame_rate": 240.5}, "frame_rate", "from 1 to 240"),
    "strength_above_1": (
        {"conditions": _cond(png_b64(), strength=1.5)},
        "conditions[0].strength",
        "less than",
    ),
    "index_outside": ({"conditions": _cond(png_b64(), 9)}, "conditions[0].frame_index", "0..8"),
    "index_negative": ({"conditions": _cond(png_b64(), -1)}, "conditions[0].frame_index", "outside"),
    "bad_base64": ({"conditions": _cond("not base64 at all!")}, "conditions[0].image", "base64"),
    "not_png": (
        {"conditions": _cond(_b64(_encoded(Image.new("RGB", (64, 64)), "JPEG")))},
        "conditions[0].image",
        "not a PNG",
    ),
    "truncated_png": (
        {"conditions": _cond(_b64(base64.b64decode(png_b64(64, 64))[:200]))},
        "conditions[0].image",
        "does not decode",
    ),
    "image_too_large": (
        {"conditions": _cond(_b64(_encoded(BIG_IMAGE, "PNG")))},
        "conditions[0].image",
        "5000x4000",
    ),
    "unknown_field": ({"sed": 3}, "sed", "not a known field"),
    "unknown_condition_field": (
        {"conditions": _cond(png_b64(), frame=3)},
        "conditions[0].frame",
        "known field",
    ),
    "traj_lens_short": (
        {"trajectory": {**_trajectory(5), "lens_mm": [35.0] * 4}},
        "trajectory.lens_mm",
        "4 entries but trajectory.frames has 5",
    ),
    "traj_matrix_15": (
        {"trajectory": {**_trajectory(2), "matrix_world": [[1.0] * 15, [1.0] * 16]}},
        "trajectory.matrix_world[0]",
        "16 floats",
    ),
    # Checked by the shared motion analysis when the motion prompt is compiled (was a 500).
    "traj_frames_not_increasing": (
        {"trajectory": {**_trajectory(3), "frames": [1, 1, 2]}},
        "trajectory.frames",
        "strictly increasing",
    ),
    "traj_lens_zero": (
        {"trajectory": {**_trajectory(3), "lens_mm": [35.0, 0.0, 35.0]}},
        "trajectory.lens_mm",
        "positive",
    ),
    "traj_panoramic": (
        {"trajectory": {**_trajectory(3), "camera_type": "PANO"}},
        "trajectory.camera_type",
        "'PERSP' or 'ORTHO'",
    ),
    "traj_ortho_scale_short": (
        {"trajectory": {**_trajectory(3), "camera_type": "ORTHO", "ortho_scale": [6.0]}},
        "trajectory.ortho_scale",
        "has 1 entries but trajectory.frames has 3",
    ),
    "traj_ortho_scale_zero": (
        {"trajectory": {**_trajectory(3), "camera_type": "ORTHO", "ortho_scale": [6.0, 0.0, 6.0]}},
        "trajectory.ortho_scale",
        "positive",
    ),
    "traj_longer_than_clip": ({"trajectory": _trajectory(12)}, "trajectory.frames", "only 9 frames"),
    "prompt_missing": ({"prompt": None}, "prompt", "is required"),
    "prompt_not_string": ({"prompt": 5}, "prompt", "string"),
    "tags_not_strings": ({"tags": {"take": 3}}, "tags.take", "string"),
    "tags_too_many": ({"tags": {str(i): "v" for i in range(33)}}, "tags", "at most 32 items"),
    "tag_key_long": ({"tags": {"k" * 65: "v"}}, "tags", "at most 64 characters"),
    "tag_value_long": ({"tags": {"take": "v" * 1001}}, "tags.take", "at most 1000 characters"),
    "traj_too_many_samples": ({"trajectory": _trajectory(4098)}, "trajectory.frames", "at most 4097"),
    "traj_sensor_fit": (
        {"trajectory": {**_trajectory(2), "sensor_fit": "X" * 9}},
        "trajectory.sensor_fit",
        "AUTO",
    ),
}


def _newest_id(http, url):
    jobs = http.get(url + "/v1/jobs", params={"limit": 1}).json()["jobs"]
    return jobs[0]["id"] if jobs else None


@pytest.mark.parametrize("name", list(CASES))
def test_rule_rejected_before_queueing(server, http, name):
    overrides, field, words = CASES[name]
    before = _newest_id(http, server.url)
    req = job_request(**overrides)
    req = {k: v for k, v in req.items() if v is not None}
    r = http.post(server.url + "/v1/jobs", json=req)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == field, body
    assert body["detail"].startswith(field + ": ") and words in body["detail"], body
    assert _newest_id(http, server.url) == before


@pytest.mark.parametrize(
    "token,path",
    [("NaN", "frame_rate"), ("Infinity", "guidance_scale"), ("-Infinity", "trajectory.lens_mm[1]")],
)
def test_nan_and_infinity_tokens_rejected(server, http, token, path):
    req = job_request(trajectory=_trajectory(3))
    text = json.dumps(req)
    if path == "frame_rate":
        text = text.replace('"frame_rate": 24.0', f'"frame_rate": {token}')
    elif path == "guidance_scale":
        text = text.replace('"guidance_scale": 3.0', f'"guidance_scale": {token}')
    else:
        text = text.replace('"lens_mm": [35.0, 35.0, 35.0]', f'"lens_mm": [35.0, {token}, 35.0]')
    assert token in text
    r = http.post(server.url + "/v1/jobs", data=text, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == path and "finite" in r.json()["detail"]


@pytest.mark.parametrize(
    "path,digits",
    [("num_frames", 5_000), ("seed", 4_301), ("trajectory.lens_mm[1]", 20_000)],
)
def test_numbers_of_thousands_of_digits_are_422(server, http, path, digits):
    # Python refuses to convert integers above 4,300 digits (a ValueError that was a 500).
    text = json.dumps(job_request(trajectory=_trajectory(3)))
    huge = "7" * digits
    if path == "trajectory.lens_mm[1]":
        text = text.replace('"lens_mm": [35.0, 35.0, 35.0]', f'"lens_mm": [35.0, {huge}, 35.0]')
    else:
        text = text.replace(f'"{path}": ', f'"{path}": {huge}, "_": ', 1)
    assert huge in text
    r = http.post(server.url + "/v1/jobs", data=text, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == path and f"{digits} digits" in r.json()["detail"]


def test_millions_of_values_are_refused_before_parsing(server, http):
    # A million numbers: parsing and walking them cost seconds of CPU (health waited 6 s) before this rule.
    req = job_request(trajectory={**_trajectory(1), "lens_mm": [35.5] * 1_000_000})
    r = http.post(server.url + "/v1/jobs", json=req)
    assert r.status_code == 422 and r.json()["field"] == "body" and "values" in r.json()["detail"]
    assert len(r.text) < 500


def test_trajectory_schema_matches_the_shot_plan_field_by_field():
    import dataclasses

    from blender_ltx.core.shots import Trajectory
    from server.api.schemas import TrajectoryIn

    plan = {f.name: f.default for f in dataclasses.fields(Trajectory)}
    assert set(TrajectoryIn.model_fields) == set(plan)
    for name, info in TrajectoryIn.model_fields.items():
        if plan[name] is not dataclasses.MISSING:
            assert info.default == plan[name], name


def test_trajectory_extra_fields_are_not_stored(server, http):
    def stored_bytes() -> int:
        return sum(p.stat().st_size for p in server.data_dir.glob("jobs.sqlite3*"))

    before = stored_bytes()
    traj = {**_trajectory(3), "notes": "x" * 400_000}
    r = http.post(server.url + "/v1/jobs", json=job_request(trajectory=traj, num_inference_steps=1))
    assert r.status_code == 202, r.text
    assert stored_bytes() - before < 100_000


@pytest.mark.parametrize(
    "body,words",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        # Deeper than Python's recursion limit (was a 500 from json.loads).
        (b'{"prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    ],
)
def test_body_must_be_a_json_object(server, http, body, words):
    r = http.post(server.url + "/v1/jobs", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "body" and words in r.json()["detail"]


def test_body_size_limit_is_413(server, http):
    before = _newest_id(http, server.url)
    req = job_request(prompt="x", conditions=_cond("A" * (BODY_LIMIT + 16)))
    r = http.post(server.url + "/v1/jobs", json=req)
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    assert _newest_id(http, server.url) == before


def test_openapi_documents_the_request(server, http):
    schema = http.get(server.url + "/openapi.json").json()
    ref = schema["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert body["additionalProperties"] is False and "num_frames" in body["required"]


# -- the document and the validator agree (issue 15 item 17) -------------------------------------------


def _checked(**overrides):
    from server.api.schemas import check_request
    from server.api.settings import Settings

    return check_request(json.dumps(job_request(**overrides)).encode(), Settings())


@pytest.mark.parametrize("value", [True, "1", None])
def test_camera_lora_scale_is_a_number_as_audio_is_a_boolean(value):
    from blender_ltx.core.protocol import ProtocolError

    with pytest.raises(ProtocolError) as err:
        _checked(camera_lora_scale=value)
    assert err.value.field == "camera_lora_scale"
    assert _checked(camera_lora_scale=1).data["camera_lora_scale"] == 1.0  # an integer is a number


def test_a_whole_number_written_with_a_fraction_is_an_integer():
    checked = _checked(width=1152.0, height=640.0, num_frames=9.0, seed=7.0)
    assert (checked.data["width"], checked.data["height"], checked.data["num_frames"]) == (1152, 640, 9)
    assert type(checked.data["width"]) is int
    from blender_ltx.core.protocol import ProtocolError

    with pytest.raises(ProtocolError) as err:
        _checked(width=1152.5)
    assert err.value.field == "width"


@pytest.mark.parametrize(("token", "shown"), [("Infinity", "inf"), ("-Infinity", "-inf"), ("NaN", "nan")])
def test_a_non_finite_token_is_reported_as_itself(token, shown):
    from blender_ltx.core.protocol import ProtocolError
    from server.api.schemas import parse_json

    with pytest.raises(ProtocolError) as err:
        parse_json(b'{"guidance_scale": %s}' % token.encode())
    assert (err.value.field, err.value.message) == ("guidance_scale", f"must be a finite number, got {shown}")


def test_num_frames_minimum_is_what_the_validator_accepts():
    from server.api.schemas import JobRequest

    schema = JobRequest.model_json_schema()["properties"]["num_frames"]
    assert schema["minimum"] == 1
    assert _checked(num_frames=1).data["num_frames"] == 1  # a still: 8k+1 with k = 0


def test_the_asset_path_parameter_has_the_stores_pattern(server, http):
    import re

    doc = http.get(server.url + "/openapi.json").json()
    for path, operations in doc["paths"].items():
        if "{sha256}" not in path:
            continue
        for operation in operations.values():
            [param] = [p for p in operation["parameters"] if p["name"] == "sha256"]
            pattern = re.compile(param["schema"]["pattern"])
            assert pattern.match("0" * 64) and not pattern.match("0" * 63) and not pattern.match("A" * 64)
