"""LTX-2 LoRAs the server loads once: the official camera-control LoRAs and IC-LoRAs (control videos).

Pure bookkeeping, no torch: where each LoRA comes from, its adapter name, the checkpoint family it was
trained for, an IC-LoRA's reference downscale factor, and which camera LoRA a shot's motion picks.
ltx2.py does the loading and switching.

Official camera LoRAs (Lightricks/LTX-2-19b-LoRA-Camera-Control-*): trained on LTX-2 19B. Dolly moves
the camera along its view axis (In/Out) or sideways (Left/Right), Jib raises or lowers it, Static holds
it still; each matches one move of our motion analysis.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from blender_ltx.core.control import KINDS

CAMERA_NAMES = ("Dolly-In", "Dolly-Out", "Dolly-Left", "Dolly-Right", "Jib-Up", "Jib-Down", "Static")
#: The control kinds an IC-LoRA can serve: the one list in blender_ltx.core.control.
IC_KINDS = KINDS

#: Motion analysis kind (blender_ltx.core.motion) -> official camera LoRA name. Nothing else matches.
MOVE_TO_CAMERA_LORA = {
    "dolly_in": "Dolly-In",
    "dolly_out": "Dolly-Out",
    "truck_left": "Dolly-Left",
    "truck_right": "Dolly-Right",
    "pedestal_up": "Jib-Up",
    "pedestal_down": "Jib-Down",
    "static": "Static",
}

#: The family the official camera LoRAs were trained for (their model cards: LTX-2 19B).
OFFICIAL_CAMERA_FAMILY = "ltx-2-19b"
#: A file next to a LoRA (or in its folder's parent) may name its family: {"family": "..."}.
FAMILY_FILE = "family.json"

_REF = re.compile(r"ref(\d+(?:\.\d+)?)", re.IGNORECASE)


@dataclass
class LoraSpec:
    adapter: str  # the adapter name in the pipeline
    source: str  # local file/folder or hub id
    role: str  # "camera" or "ic"
    kinds: list[str]  # camera: [name]; ic: the control kinds it serves
    family: str | None  # the checkpoint family it was trained for; None: not known
    downscale: int = 1  # IC-LoRA: the reference is generated size // downscale
    scale: float = 1.0
    usable: bool = True
    reason: str = ""  # why it is not usable

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _key(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def camera_name(text: str) -> str | None:
    """The official name a file, folder or hub id stands for ('ltx-2-19b-lora-camera-control-dolly-in')."""
    key = _key(re.sub(r"\.safetensors$", "", text, flags=re.IGNORECASE))
    # Longest names first: "dollyin" must not claim "dollyinward"-like texts of other names.
    for name in sorted(CAMERA_NAMES, key=len, reverse=True):
        if key.endswith(_key(name)):
            return name
    return None


def family_from_name(text: str) -> str | None:
    lowered = text.lower()
    if "ltx-2-19b" in lowered or "ltx2-19b" in lowered:
        return OFFICIAL_CAMERA_FAMILY
    if "ltx-2.3" in lowered or "ltx-2-3" in lowered or "ltx2.3" in lowered:
        return "ltx-2.3"
    if "ltx-2.5" in lowered or "ltx-2-5" in lowered:
        return "ltx-2.5"
    return None


def _family_file(path: Path) -> str | None:
    for folder in (path if path.is_dir() else path.parent, path.parent):
        f = folder / FAMILY_FILE
        if f.is_file():
            return json.loads(f.read_text()).get("family")
    return None


def lora_family(source: str) -> str | None:
    path = Path(source).expanduser()
    if path.exists():
        return _family_file(path) or family_from_name(str(path))
    if "camera-control" in source.lower():  # an official hub id
        return family_from_name(source) or OFFICIAL_CAMERA_FAMILY
    return family_from_name(source)


def _safetensors_metadata(source: str) -> dict[str, str]:
    path = Path(source).expanduser()
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else [path]
    for f in files:
        if f.suffix == ".safetensors" and f.is_file():
            from safetensors import safe_open

            with safe_open(str(f), framework="np") as fh:
                return dict(fh.metadata() or {})
    return {}


def downscale_factor(source: str) -> int:
    """The reference downscale of an IC-LoRA: ``ref0.5`` in its name (reference at half size) -> 2, else
    its safetensors metadata (``reference_downscale_factor``), else 1."""
    match = _REF.search(Path(source).name) or _REF.search(source)
    if match:
        scale = float(match.group(1))
        if 0 < scale <= 1:
            return max(1, round(1 / scale))
    meta = _safetensors_metadata(source)
    for key in ("reference_downscale_factor", "ref_downscale_factor"):
        if key in meta:
            return max(1, int(float(meta[key])))
    return 1


def camera_specs(arg: str) -> list[LoraSpec]:
    """``--camera-loras DIR_OR_IDS``: comma-separated folders (each holding one LoRA per sub-folder or
    .safetensors file) or hub ids; every entry must name one of the official moves."""
    specs: list[LoraSpec] = []
    for item in (s.strip() for s in arg.split(",") if s.strip()):
        path = Path(item).expanduser()
        entries = [item]
        if path.is_dir() and camera_name(path.name) is None:
            entries = [str(p) for p in sorted(path.iterdir()) if p.is_dir() or p.suffix == ".safetensors"]
        for entry in entries:
            name = camera_name(entry)
            if name is None:
                raise ValueError(
                    f"--camera-loras: {entry!r} does not name a camera move; its name must end in one of "
                    f"{', '.join(CAMERA_NAMES)}."
                )
            if any(s.adapter == name for s in specs):
                continue
            specs.append(LoraSpec(name, entry, "camera", [name], lora_family(entry)))
    return specs


def ic_specs(args: list[str]) -> list[LoraSpec]:
    """``--ic-lora KIND=PATH_OR_ID`` (repeatable); one file given for several kinds is loaded once."""
    by_source: dict[str, LoraSpec] = {}
    for arg in args:
        kind, sep, source = arg.partition("=")
        kind = kind.strip().lower()
        if not sep or kind not in IC_KINDS or not source.strip():
            raise ValueError(
                f"--ic-lora {arg!r}: write KIND=PATH_OR_ID with KIND one of {', '.join(IC_KINDS)}."
            )
        source = source.strip()
        spec = by_source.get(source)
        if spec is None:
            spec = LoraSpec(
                f"ic-{len(by_source)}", source, "ic", [], lora_family(source), downscale_factor(source)
            )
            by_source[source] = spec
        if kind not in spec.kinds:
            spec.kinds.append(kind)
    return list(by_source.values())


def tiny_specs(model_dir: Path) -> tuple[list[LoraSpec], list[LoraSpec]]:
    """The LoRAs make-tiny-model --family ltx2 wrote next to the tiny model (none elsewhere)."""
    camera_dir = model_dir / "loras" / "camera"
    ic_dir = model_dir / "loras" / "ic"
    camera = camera_specs(str(camera_dir)) if camera_dir.is_dir() else []
    folders = sorted(p for p in ic_dir.iterdir() if p.is_dir()) if ic_dir.is_dir() else []
    ic = ic_specs([f"{p.name.split('_')[0]}={p}" for p in folders])
    return camera, ic


def dominant_move(segments: list[Any]) -> str | None:
    """The motion kind covering the most frames of the shot (None without segments)."""
    frames: dict[str, int] = {}
    for seg in segments:
        length = seg.frame_end - seg.frame_start + 1
        for kind in seg.kinds:
            frames[kind] = frames.get(kind, 0) + length
    if not frames:
        return None
    return max(frames.items(), key=lambda kv: kv[1])[0]
