"""How a checkpoint fits a card: every component built at its real configuration on the meta device (no
weights), its parameters and bytes counted, and the memory mode chosen for a card of V GiB.

The peak is predicted per phase of one job, and the job's peak is the largest of them:

    peak = max(encode, denoise, decode) + RESERVE_GIB
    encode  = weights on the GPU + text encoder working set (0 when it runs on the CPU)
    denoise = weights on the GPU + transformer working set
    decode  = weights on the GPU + VAE decode working set

    weights on the GPU (per mode):
      resident          every component in bf16
      fp8               the transformer's Linear/Conv weights in fp8 (layerwise casting), the rest bf16
      text-encoder-cpu  every component but the text encoder, bf16
      fp8+text-encoder-cpu  both of the above
      group-offload     per component: what lives outside its block list + 2 blocks (the one running, the one
                        prefetched on a CUDA stream)
      sequential        the largest single leaf module (accelerate moves one at a time)
    a GGUF transformer (``--model FILE.gguf``): its Linear weights at the quantization's bytes per parameter
                        (Q8_0 34/32, Q4_K 144/256, ...), the rest bf16; no fp8 mode on top of it. For a bf16
                        checkpoint whose best mode offloads, fit also names the first GGUF quantization
                        (Q8_0, Q6_K, Q5_K, Q4_K) that fits resident or with the text encoder on the CPU.
    transformer working set = guidance batch x latent tokens x hidden x 2 bytes x (6 + ff multiple)
                              (one block's hidden states in and out, q, k, v, attention out, feed-forward;
                              attention itself through SDPA, no tokens^2 matrix)
    latent tokens           = ((frames - 1) / t + 1) x (height / s) x (width / s) / transformer patch volume
                              (t, s: the VAE's temporal and spatial compression)
    VAE decode working set  = frames x (height / p) x (width / p) x first decoder channels x 2 bytes x 4
                              (the decoder's last, full-resolution level before unpatchify; 4 live tensors);
                              with VAE tiling the frame and pixel extents shrink to one tile's
    text encoder working set = 2 prompts x tokens x hidden x 2 bytes x (layers + 1 when every layer's hidden
                              state is kept, as LTX-2 does; else 4)

It is an estimate made to choose a mode, not a measurement: bench/gpu_check.sh measures the real peak.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import files

CONFIGS = Path(__file__).with_name("configs")
GIB = 2**30
#: CUDA context, cuDNN/cuBLAS workspaces and allocator fragmentation.
RESERVE_GIB = 1.5
CARDS_GIB = (16, 24, 48, 80)
#: The published setting every family is planned for (and the family's own default next to it).
PUBLISHED_JOB = {"frames": 121, "width": 768, "height": 512}
#: Best first: each later mode costs speed (or, for fp8, a little fidelity).
MODES = ("resident", "fp8", "text-encoder-cpu", "fp8+text-encoder-cpu", "group-offload", "sequential")
#: Block lists group offload moves one at a time.
_BLOCK_LISTS = ("transformer_blocks", "single_transformer_blocks", "blocks", "layers", "block")
_VAE_TILE = {"frames": 24, "pixels": 512}  # diffusers' LTX tile sizes: 16 frames + overlap, 512 px


class FitError(ValueError):
    """A model argument fit cannot read; the message says what to pass instead."""


@dataclass
class Component:
    name: str
    library: str
    cls: str
    params: int = 0
    bf16_bytes: int = 0
    fp8_bytes: int = 0  # under layerwise casting (transformer only; else = bf16_bytes)
    offload_bytes: int = 0  # resident under group offload: outside the block list + 2 blocks
    largest_leaf_bytes: int = 0
    linear_params: int = 0  # weights of its Linear layers (what GGUF quantizes)
    dims: dict[str, Any] = field(default_factory=dict)
    stored: dict[str, dict[str, int]] = field(default_factory=dict)  # a single file's: dtype -> params, bytes
    quant: str | None = None  # the GGUF quantization it is stored and kept in
    quant_bytes: int = 0  # its bytes on the device when kept in ``quant``

    def bytes_in(self, quant: str | None) -> int:
        """Bytes with its Linear weights at ``quant``'s bytes per parameter (bf16 when None)."""
        if quant is None:
            return self.bf16_bytes
        return int(
            self.bf16_bytes - 2 * self.linear_params + self.linear_params * files.BYTES_PER_PARAM[quant]
        )


@dataclass
class Checkpoint:
    name: str
    source: str
    pipeline: str
    family: str
    components: dict[str, Component]
    default_job: dict[str, int]
    text_tokens: int
    notes: list[str] = field(default_factory=list)
    published: dict[str, float] = field(default_factory=dict)

    def total_params(self) -> int:
        return sum(c.params for c in self.components.values())

    @property
    def quant(self) -> str | None:
        tr = self.components.get("transformer")
        return tr.quant if tr is not None else None

    def modes(self) -> tuple[str, ...]:
        """The modes that apply: no fp8 casting on top of a GGUF-quantized transformer."""
        return tuple(m for m in MODES if not (self.quant and m.startswith("fp8")))


# -- reading a checkpoint ---------------------------------------------------------------------------
def releases() -> dict[str, dict[str, Any]]:
    return json.loads((CONFIGS / "releases.json").read_text())


def resolve(model: str) -> tuple[Path, dict[str, Any] | None, str]:
    """(folder with model_index.json, the known release or None, where it came from)."""
    known = releases()
    by_id = {hub.lower(): key for key, r in known.items() for hub in r["hub_ids"]}
    if model in known:
        return CONFIGS / model, known[model], f"configuration kept for {known[model]['name']}"
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise FitError(f"{path} has no model_index.json; give a diffusers-format checkpoint folder.")
        return path, None, str(path)
    cached = _from_hf_cache(model)
    release = known.get(by_id.get(model.lower(), ""))
    if cached is not None:
        return cached, release, f"{model} (local Hugging Face cache)"
    if release is not None:
        key = by_id[model.lower()]
        return (
            CONFIGS / key,
            release,
            f"{model} is not in the local cache; configuration kept for {release['name']}",
        )
    raise FitError(
        f"{model!r} is not a folder, not in the local Hugging Face cache and not a known release; give a "
        f"checkpoint folder or one of: {', '.join(known)}."
    )


def _from_hf_cache(model: str) -> Path | None:
    if model.count("/") != 1 or model.startswith((".", "/", "~")):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(model, "model_index.json")
    except Exception:  # not a valid repo id
        return None
    return Path(hit).parent if isinstance(hit, str) else None


def load_checkpoint(model: str, components: str | None = None) -> Checkpoint:
    """The checkpoint at ``model`` counted on the meta device; a single file's own tensors are counted from
    its header (other parts from ``components``, or the family's known release)."""
    if files.is_single_file(model):
        return _single_file_checkpoint(model, components)
    folder, release, source = resolve(model)
    index = json.loads((folder / "model_index.json").read_text())
    components: dict[str, Component] = {}
    notes = list((release or {}).get("notes", []))
    for name, spec in index.items():
        if name.startswith("_") or not isinstance(spec, list) or spec[0] is None:
            continue
        library, cls = spec[0], spec[1]
        config_file = folder / name / "config.json"
        if cls.endswith(("Tokenizer", "TokenizerFast", "Scheduler", "Processor")):
            continue  # no parameters
        if not config_file.is_file():
            notes.append(f"{name}: no {name}/config.json in {folder}, so it is not counted")
            continue
        components[name] = measure(name, library, cls, json.loads(config_file.read_text()))
    family = (release or {}).get("family") or _family_of(index.get("_class_name", ""))
    return Checkpoint(
        name=(release or {}).get("name") or model,
        source=source,
        pipeline=index.get("_class_name", "?"),
        family=family,
        components=components,
        default_job=(release or {}).get("default_job") or _default_job(family),
        text_tokens=(release or {}).get("text_tokens") or {"ltx2": 1024, "ltx-video": 256}.get(family, 512),
        notes=notes,
        published=(release or {}).get("published", {}),
    )


#: The known release whose configuration stands in for a single file's other parts, by its layout.
_LAYOUT_RELEASE = {"ltx2": "ltx-2-19b", "ltx2.3": "ltx-2.3-22b", "ltx-video": "ltx-video-0.9.7-13b"}


def _single_file_checkpoint(path: str, components: str | None) -> Checkpoint:
    try:
        tensors = files.read_tensors(path)
    except ValueError as exc:
        raise FitError(str(exc)) from None
    layout = files.layout(tensors)
    if layout not in _LAYOUT_RELEASE:
        raise FitError(f"{path} has none of the LTX-2 or LTX-Video key names; give a checkpoint folder.")
    ckpt = load_checkpoint(components or _LAYOUT_RELEASE[layout])
    parts: dict[str, dict[str, files.Tensor]] = {}
    for key, t in tensors.items():
        parts.setdefault(files.part_of(key), {})[key] = t
    for name, held in parts.items():
        comp = ckpt.components.get(name)
        if comp is None:
            ckpt.notes.append(f"{name}: in the file but not in the configuration, so it is not counted")
            continue
        counted = comp.params
        comp.params = sum(t.params for t in held.values())
        if counted and abs(comp.params - counted) > 0.05 * counted:
            ckpt.notes.append(
                f"{name}: the file holds {comp.params:,} parameters but {components or ckpt.name}'s "
                f"configuration {counted:,}; pass the folder of the file's own release as --components"
            )
        comp.stored = files.summary(held)
        scale = comp.params / counted if counted else 1.0
        comp.bf16_bytes = 2 * comp.params
        comp.linear_params = int(comp.linear_params * scale)
        comp.quant = files.quantization(held)
        if comp.quant:
            # Quantized tensors stay as stored; the rest are held in the compute dtype (bf16).
            plain = sum(t.params for t in held.values() if t.dtype in files.PLAIN)
            comp.quant_bytes = sum(t.nbytes for t in held.values() if t.dtype not in files.PLAIN) + 2 * plain
    ckpt.notes.insert(
        0,
        f"counted from {Path(path).name}'s header: {', '.join(sorted(parts))}; the other parts and every "
        f"configuration from {components or ckpt.name}",
    )
    ckpt.name, ckpt.source = Path(path).name, f"{path} (single file, {layout} layout)"
    return ckpt


def _family_of(pipeline: str) -> str:
    for prefix, family in (("LTX2", "ltx2"), ("LTX", "ltx-video"), ("SanaWM", "sana-wm"), ("Flux2", "flux2")):
        if pipeline.startswith(prefix):
            return family
    return "other"


def _default_job(family: str) -> dict[str, int]:
    return {
        "ltx-video": {"frames": 161, "width": 704, "height": 512},
        "sana-wm": {"frames": 161, "width": 1280, "height": 704},
        "flux2": {"frames": 1, "width": 1024, "height": 1024},
    }.get(family, dict(PUBLISHED_JOB))


# -- counting on the meta device --------------------------------------------------------------------
def build_on_meta(library: str, cls: str, config: dict[str, Any]):
    """The module at ``config`` with every parameter on the meta device (no memory, no weights)."""
    from accelerate import init_empty_weights

    with init_empty_weights(include_buffers=True):
        return build(library, cls, config)


def build(library: str, cls: str, config: dict[str, Any], dtype=None):
    """The module at ``config`` with random weights, built on the current default device (or on meta inside
    ``init_empty_weights``); ``library`` is "transformers", "diffusers" or a pipeline's own module."""
    if library != "transformers":  # "diffusers", or a pipeline's own module ("ltx2" for its connectors)
        import importlib

        import diffusers

        klass = getattr(diffusers, cls, None)
        if klass is None:
            module = "ltx2" if library == "diffusers" else library
            klass = getattr(importlib.import_module(f"diffusers.pipelines.{module}"), cls)
        model = klass.from_config({k: v for k, v in config.items() if not k.startswith("_")})
        return model if dtype is None else model.to(dtype)
    import transformers

    settings = dict(config)
    settings.pop("architectures", None)
    settings.pop("torch_dtype", None)
    model_type = settings.pop("model_type")
    cfg = transformers.AutoConfig.for_model(model_type, **settings)
    kwargs = {} if dtype is None else {"torch_dtype": dtype}
    return getattr(transformers, cls)._from_config(cfg, **kwargs)


def measure(name: str, library: str, cls: str, config: dict[str, Any]) -> Component:
    import torch

    model = build_on_meta(library, cls, config)
    seen: set[int] = set()
    params = 0
    for p in model.parameters():  # tied weights (embeddings/LM heads) count once
        if id(p) not in seen:
            seen.add(id(p))
            params += p.numel()
    comp = Component(name, library, cls, params=params, bf16_bytes=2 * params)
    comp.fp8_bytes = _fp8_bytes(model) if name == "transformer" else comp.bf16_bytes
    comp.linear_params = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    comp.offload_bytes = _offload_bytes(model, comp.bf16_bytes)
    comp.largest_leaf_bytes = max(
        (2 * sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules()), default=0
    )
    comp.dims = _dims(name, config, torch)
    return comp


def _fp8_bytes(model) -> int:
    from diffusers.hooks._common import _GO_LC_SUPPORTED_PYTORCH_LAYERS as castable
    from diffusers.hooks.layerwise_casting import DEFAULT_SKIP_MODULES_PATTERN

    skip = tuple(DEFAULT_SKIP_MODULES_PATTERN) + tuple(
        getattr(model, "_skip_layerwise_casting_patterns", None) or ()
    )
    cast = 0
    for mod_name, module in model.named_modules():
        if isinstance(module, castable) and not any(re.search(s, mod_name) for s in skip):
            cast += sum(p.numel() for p in module.parameters(recurse=False))
    return 2 * sum(p.numel() for p in model.parameters()) - cast  # cast weights: 1 byte instead of 2


def _offload_bytes(model, total: int) -> int:
    import torch

    lists = [m for n, m in model.named_modules() if n.split(".")[-1] in _BLOCK_LISTS]
    lists = [m for m in lists if isinstance(m, torch.nn.ModuleList) and len(m) > 1]
    if not lists:
        return total
    in_lists = sum(2 * p.numel() for m in lists for p in m.parameters())
    largest = max(2 * sum(p.numel() for p in block.parameters()) for m in lists for block in m)
    return total - in_lists + 2 * largest


def _dims(name: str, config: dict[str, Any], torch) -> dict[str, Any]:
    """The few numbers the working-set formulas need, read from the component's configuration."""
    if name == "transformer":
        heads = config.get("num_attention_heads", 1)
        hidden = config.get("hidden_size") or heads * config.get("attention_head_dim", 64)
        patch = config.get("patch_size", 1)
        patch = patch if isinstance(patch, list) else [config.get("patch_size_t", 1), patch, patch]
        return {
            "hidden": hidden,
            "ff_mult": config.get("mlp_ratio", 4.0),
            "patch_volume": patch[0] * patch[1] * patch[2],
        }
    if name == "vae":
        first = (config.get("decoder_block_out_channels") or config.get("block_out_channels"))[0]
        p = config.get("patch_size", 1)
        # LTX VAEs without the ratios in their config: one halving per scaling level, as diffusers derives
        levels = sum(bool(x) for x in config.get("spatio_temporal_scaling", ()))
        ltx = "spatio_temporal_scaling" in config
        return {
            "t": config.get("temporal_compression_ratio")
            or (config.get("patch_size_t", 1) << levels if ltx else 1),
            # FLUX.2's VAE is 8x and its latents are packed 2x2 (patch_size) into tokens.
            "s": config.get("spatial_compression_ratio")
            or (p << levels if ltx else 8 * (p[0] if isinstance(p, list) else 1)),
            "decoder_channels": first,
            "pixel_patch": p if isinstance(p, int) else 1,
        }
    if name == "text_encoder":
        text = config.get("text_config", config)
        return {
            "hidden": text.get("hidden_size") or text.get("d_model"),
            "layers": text.get("num_hidden_layers") or text.get("num_layers"),
        }
    return {}


# -- the plan ---------------------------------------------------------------------------------------
def latent_tokens(ckpt: Checkpoint, frames: int, width: int, height: int) -> int:
    vae = ckpt.components["vae"].dims
    tr = ckpt.components["transformer"].dims
    lat_frames = (frames - 1) // vae["t"] + 1 if vae["t"] > 1 else frames
    return lat_frames * (height // vae["s"]) * (width // vae["s"]) // tr["patch_volume"]


def working_sets(ckpt: Checkpoint, frames: int, width: int, height: int, vae_tiling: bool) -> dict[str, int]:
    """Bytes each phase needs on top of the weights (the formulas in the module docstring)."""
    tr = ckpt.components["transformer"].dims
    batch = 1 if ckpt.family == "flux2" else 2  # klein is distilled: one pass a step; the rest use CFG
    tokens = latent_tokens(ckpt, frames, width, height)
    denoise = int(batch * tokens * tr["hidden"] * 2 * (6 + tr["ff_mult"]))
    vae = ckpt.components["vae"].dims
    f, w, h = frames, width, height
    if vae_tiling:
        f, w, h = min(f, _VAE_TILE["frames"]), min(w, _VAE_TILE["pixels"]), min(h, _VAE_TILE["pixels"])
    p = vae["pixel_patch"]
    decode = f * (h // p) * (w // p) * vae["decoder_channels"] * 2 * 4
    te = ckpt.components.get("text_encoder")
    encode = 0
    if te is not None:
        keeps_all = ckpt.family == "ltx2"
        encode = 2 * ckpt.text_tokens * te.dims["hidden"] * 2 * ((te.dims["layers"] + 1) if keeps_all else 4)
    return {"encode": encode, "denoise": denoise, "decode": decode, "latent_tokens": tokens}


def gpu_weights(ckpt: Checkpoint, mode: str, quant: str | None = None) -> dict[str, int]:
    """Bytes of each component on the GPU during a job in ``mode`` (0: kept on the CPU); ``quant``: as if
    the transformer were a GGUF file of that quantization."""
    out = {}
    for name, c in ckpt.components.items():
        full = c.bf16_bytes
        if name == "transformer" and (quant or c.quant):
            full = c.bytes_in(quant) if quant else c.quant_bytes
        shrink = full / c.bf16_bytes if c.bf16_bytes else 1.0
        if mode == "sequential":
            out[name] = int(c.largest_leaf_bytes * shrink)
        elif mode == "group-offload":
            out[name] = int(c.offload_bytes * shrink)
        elif name == "text_encoder" and "text-encoder-cpu" in mode:
            out[name] = 0
        elif name == "transformer" and mode.startswith("fp8"):
            out[name] = c.fp8_bytes
        else:
            out[name] = full
    if mode == "sequential":  # one leaf at a time across the whole pipeline
        return {k: (v if v == max(out.values()) else 0) for k, v in out.items()}
    return out


def predict_peak(
    ckpt: Checkpoint, mode: str, job: dict[str, int], vae_tiling: bool, quant: str | None = None
) -> dict[str, float]:
    weights = sum(gpu_weights(ckpt, mode, quant).values())
    ws = working_sets(ckpt, job["frames"], job["width"], job["height"], vae_tiling)
    encode = 0 if "text-encoder-cpu" in mode else ws["encode"]
    phases = {"encode": encode, "denoise": ws["denoise"], "decode": ws["decode"]}
    peak = weights + max(phases.values())
    return {
        "weights_gib": round(weights / GIB, 2),
        **{f"{k}_gib": round(v / GIB, 2) for k, v in phases.items()},
        "latent_tokens": ws["latent_tokens"],
        "peak_gib": round(peak / GIB + RESERVE_GIB, 2),
    }


def choose_mode(ckpt: Checkpoint, vram_gib: float, job: dict[str, int] | None = None) -> dict[str, Any]:
    """The first mode (MODES order; without VAE tiling, then with it) whose predicted peak fits the card."""
    job = job or dict(PUBLISHED_JOB)
    tried = []
    for mode in ckpt.modes():
        for tiling in (False, True):
            peak = predict_peak(ckpt, mode, job, tiling)
            tried.append((mode, tiling, peak["peak_gib"]))
            if peak["peak_gib"] <= vram_gib:
                return {
                    "vram_gib": vram_gib,
                    "mode": mode,
                    "vae_tiling": tiling,
                    "fits": True,
                    **peak,
                    "why": _why(mode, tiling, vram_gib, peak["peak_gib"], tried),
                    "gguf": None if mode in _NO_OFFLOAD else gguf_choice(ckpt, vram_gib, job),
                }
    mode, tiling, peak_gib = tried[-1]
    return {
        "vram_gib": vram_gib,
        "mode": "sequential",
        "vae_tiling": True,
        "fits": False,
        **predict_peak(ckpt, "sequential", job, True),
        "why": f"even sequential offload with VAE tiling needs about {peak_gib:.1f} GiB, more than "
        f"{vram_gib:g} GiB; use a smaller size or fewer frames.",
        "gguf": gguf_choice(ckpt, vram_gib, job),
    }


#: Modes that keep every weight it uses on the GPU (no offload): a GGUF file is worth suggesting only
#: where the bf16 checkpoint needs more than these.
_NO_OFFLOAD = ("resident", "fp8", "text-encoder-cpu", "fp8+text-encoder-cpu")


def gguf_choice(ckpt: Checkpoint, vram_gib: float, job: dict[str, int]) -> dict[str, Any] | None:
    """The best GGUF quantization of the transformer (files.GGUF_CHOICES order) that runs without offload
    (resident, else the text encoder on the CPU; VAE tiling where needed) on the card; None when the
    checkpoint is already quantized or none fits."""
    if ckpt.quant or "transformer" not in ckpt.components:
        return None
    for quant in files.GGUF_CHOICES:
        for mode in ("resident", "text-encoder-cpu"):
            for tiling in (False, True):
                peak = predict_peak(ckpt, mode, job, tiling, quant)
                if peak["peak_gib"] <= vram_gib:
                    return {"quant": quant, "mode": mode, "vae_tiling": tiling, "peak_gib": peak["peak_gib"]}
    return None


def _why(mode: str, tiling: bool, vram: float, peak: float, tried: list) -> str:
    before = [f"{m}{' + VAE tiling' if t else ''} {p:.1f}" for m, t, p in tried[:-1] if not t]
    head = (
        f"{mode}{' with VAE tiling' if tiling else ''} is predicted to peak at {peak:.1f} GiB of {vram:g} GiB"
    )
    return head + (f" (needed, GiB: {'; '.join(before)})" if before else "")


def plan(model: str, cards: tuple[float, ...] = CARDS_GIB, components: str | None = None) -> dict[str, Any]:
    """Everything ``fit`` prints, as a dict (also what --json writes)."""
    ckpt = load_checkpoint(model, components)
    jobs = {"published": dict(PUBLISHED_JOB), "default": dict(ckpt.default_job)}
    if ckpt.family == "flux2":  # a still model: one picture at the published size
        jobs["published"]["frames"] = 1
    return {
        "model": ckpt.name,
        "source": ckpt.source,
        "pipeline": ckpt.pipeline,
        "family": ckpt.family,
        "quantization": ckpt.quant,
        "components": {n: asdict(c) for n, c in ckpt.components.items()},
        "total_params": ckpt.total_params(),
        "published": ckpt.published,
        "notes": ckpt.notes,
        "jobs": jobs,
        "cards": {f"{v:g}": {name: choose_mode(ckpt, v, job) for name, job in jobs.items()} for v in cards},
        "formula": __doc__.split("\n\n", 2)[1].strip(),
    }
