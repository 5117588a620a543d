"""``python -m server fit``: parameter counts from the real configurations on the meta device match the
published sizes, every known release gets a mode that fits 16, 24, 48 and 80 GiB cards, and a folder, a
cached hub id and a bad argument are each read (or refused) as a user would give them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def plans():
    from server.fit import plan

    return {key: plan.plan(key) for key in plan.releases()}


def _run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "server", "fit", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": REPO, **(env or {})},
        timeout=300,
    )


def test_parameter_counts_match_the_published_sizes(plans):
    checked = 0
    for key, result in plans.items():
        comps = result["components"]
        for names, published in result["published"].items():
            counted = sum(comps[n]["params"] for n in names.split("+"))
            assert abs(counted - published) / published < 0.02, (key, names, counted, published)
            checked += 1
    assert checked >= 7
    ltx2 = plans["ltx-2-19b"]["components"]
    assert round(ltx2["transformer"]["params"] / 1e9, 1) == 18.9
    assert round(plans["sana-wm"]["components"]["transformer"]["params"] / 1e9, 2) == 2.66
    assert round(ltx2["text_encoder"]["params"] / 1e9, 1) == 12.2  # Gemma 3 12B with its vision tower


def test_ltx_video_13b_is_48_layers_of_32_heads_of_128_with_4096_cross_attention():
    from server.fit.plan import CONFIGS

    cfg = json.loads((CONFIGS / "ltx-video-0.9.7-13b" / "transformer" / "config.json").read_text())
    assert (cfg["num_layers"], cfg["num_attention_heads"], cfg["attention_head_dim"]) == (48, 32, 128)
    assert cfg["cross_attention_dim"] == 4096


def test_every_release_gets_a_mode_that_fits_every_card(plans):
    from server.fit.plan import CARDS_GIB, MODES

    for key, result in plans.items():
        order = []
        for card in CARDS_GIB:
            for job, choice in result["cards"][f"{card:g}"].items():
                assert choice["fits"], (key, card, job, choice["why"])
                assert choice["peak_gib"] <= card, (key, card, job)
                assert choice["mode"] in MODES
            order.append(MODES.index(result["cards"][f"{card:g}"]["published"]["mode"]))
        assert order == sorted(order, reverse=True), (key, order)  # a bigger card never gets a slower mode


def test_the_big_models_need_more_than_resident_on_a_24_gib_card(plans):
    from server.fit import plan

    ckpt = plan.load_checkpoint("ltx-2.3-22b")
    resident = plan.predict_peak(ckpt, "resident", plan.PUBLISHED_JOB, vae_tiling=False)["peak_gib"]
    assert resident > 60  # 35 GiB of transformer + 23 GiB of Gemma 3 in bf16
    assert plans["ltx-2.3-22b"]["cards"]["24"]["published"]["mode"] not in ("resident", "fp8")
    assert plans["ltx-2.3-22b"]["cards"]["80"]["published"]["mode"] == "resident"
    # fp8 storage halves the transformer's Linear weights and nothing else
    tr = plans["ltx-2-19b"]["components"]["transformer"]
    assert 0.5 < tr["fp8_bytes"] / tr["bf16_bytes"] < 0.52


def test_what_could_not_be_found_is_said(plans):
    notes = " ".join(plans["ltx-2.5"]["notes"])
    assert "Gemma 4" in notes and "not found" in notes
    assert any("VAE" in n for n in plans["sana-wm"]["notes"])


def test_a_checkpoint_folder_counts_what_from_pretrained_loads(tiny_ltx2_dir):
    from diffusers import LTX2InContextPipeline

    from server.fit import plan

    ckpt = plan.load_checkpoint(str(tiny_ltx2_dir))
    pipe = LTX2InContextPipeline.from_pretrained(str(tiny_ltx2_dir))
    for name, comp in ckpt.components.items():
        loaded = {id(p): p.numel() for p in getattr(pipe, name).parameters()}
        assert comp.params == sum(loaded.values()), name
    assert set(ckpt.components) >= {"transformer", "vae", "text_encoder", "connectors"}


def test_cli_prints_the_table_and_writes_json(tmp_path):
    out = tmp_path / "plan.json"
    proc = _run("--model", "ltx-2-19b", "--vram", "24", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "18.88 B" in proc.stdout and "why:" in proc.stdout
    data = json.loads(out.read_text())
    assert list(data["cards"]) == ["24"]
    assert data["cards"]["24"]["published"]["fits"]


def test_a_hub_id_is_read_from_the_local_cache(tiny_ltx2_dir, tmp_path):
    snap = tmp_path / "hub" / "models--someone--tiny-ltx2" / "snapshots" / ("0" * 40)
    for f in tiny_ltx2_dir.rglob("*.json"):
        target = snap / f.relative_to(tiny_ltx2_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, target)
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text("0" * 40)
    env = {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    proc = _run("--model", "someone/tiny-ltx2", "--vram", "16", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "local Hugging Face cache" in proc.stdout and "LTX2VideoTransformer3DModel" in proc.stdout


def test_bad_arguments_get_one_sentence():
    proc = _run("--model", "nobody/nothing-here", env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2
    assert "not a folder, not in the local Hugging Face cache and not a known release" in proc.stderr
    proc = _run("--model", "ltx-2-19b", "--vram", "0")
    assert proc.returncode == 2 and "--vram" in proc.stderr


def test_gpu_check_plans_every_release_on_the_meta_device_and_runs_a_tiny_config(
    tiny_ltx2_dir, tiny_sana_wm_dir, tiny_look_dir, tmp_path
):
    """bench/gpu_check.sh's CPU-runnable parts: its arguments, every release built on meta (--dry-run), and
    the GPU code path (random weights from its configs, the mode applied, one job timed): tiny LTX-2, tiny
    SANA-WM along a dolly-in's poses and the tiny FLUX.2 klein making a look frame from two references."""
    out = tmp_path / "rows.json"
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", "bench/gpu_check.sh", "--dry-run", "--vram", "24", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())
    assert len(rows) == 6 and all(r["status"] == "plan only" for r in rows)
    assert all(r["predicted_gib"] <= 24 for r in rows)
    assert "| LTX-2 19B | 33.83 | group-offload |" in proc.stdout
    tiny = subprocess.run(
        [
            "bash",
            "bench/gpu_check.sh",
            "--model",
            str(tiny_ltx2_dir),
            "--model",
            str(tiny_sana_wm_dir),
            "--model",
            str(tiny_look_dir),
            "--device",
            "cpu",
            "--memory-mode",
            "group-offload",
            "--frames",
            "17",
            "--width",
            "96",
            "--height",
            "64",
            "--steps",
            "1",
            "--json",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert tiny.returncode == 0, tiny.stderr
    rows = json.loads(out.read_text())
    assert len(rows) == 3, rows
    for row in rows:
        assert row["status"] == "ok" and row["mode"] == "group-offload" and row["job_s"] > 0, row
    bad = subprocess.run(
        ["bash", "bench/gpu_check.sh", "--frames", "120"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2 and "8k+1" in bad.stderr
