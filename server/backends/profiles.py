"""Model profiles: the sampling settings a checkpoint wants, derived once at load from its name and config.

Requests may leave ``num_inference_steps`` and ``guidance_scale`` out (or null); the profile fills them in,
and always adds the decode settings the model's VAE needs. The numbers follow the diffusers LTX-Video
notes and the 0.9.7 examples:

- Guidance-distilled checkpoints (``...-distilled``) run without classifier-free guidance
  (``guidance_scale`` 1.0, which also skips the negative pass: half the compute) on a short, fixed
  timestep schedule of 8 steps.
- Other checkpoints want guidance around 5.0 and more steps (30 in the 0.9.7-dev example).
- A timestep-aware VAE (0.9.1 and later: ``vae.config.timestep_conditioning``) decodes at a small
  timestep with a little noise (``decode_timestep`` 0.05, ``decode_noise_scale`` 0.025) and wants
  conditioning images noised less than the pipeline's 0.15 (``image_cond_noise_scale`` 0.025). Without
  one the pipeline ignores the decode settings, so none are passed.
- The built-in tiny model is not distilled; it takes few steps so that tests and the demo stay fast.

No heavy imports here: the unit tests build profiles from plain config dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

#: --profile choices; "auto" decides from the model's name (and the tiny model's marker).
KINDS = ("auto", "distilled", "standard", "tiny")

#: The first-pass schedule of the 0.9.7-distilled example in the diffusers docs (steps = its length).
DISTILLED_TIMESTEPS = (1000.0, 993.0, 987.0, 981.0, 975.0, 909.0, 725.0, 0.03)

#: Decode settings for timestep-aware VAEs (diffusers LTX-Video notes).
TIMESTEP_VAE_KWARGS = {"decode_timestep": 0.05, "decode_noise_scale": 0.025, "image_cond_noise_scale": 0.025}

#: Pipeline arguments a profile may set besides steps and guidance (the backend passes only these).
PIPELINE_KEYS = (
    "timesteps",
    "decode_timestep",
    "decode_noise_scale",
    "image_cond_noise_scale",
    # LTX-2
    "sigmas",
    "stg_scale",
    "audio_guidance_scale",
    "modality_scale",
    "audio_modality_scale",
)

#: LTX-2 distilled checkpoints: the 8-sigma schedule of diffusers' ltx2 utils (DISTILLED_SIGMA_VALUES)
#: and Lightricks' distilled pipeline, run without any guidance (CFG, STG and modality guidance off).
LTX2_DISTILLED_SIGMAS = (1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875)
LTX2_NO_GUIDANCE = {
    "stg_scale": 0.0,
    "audio_guidance_scale": 1.0,
    "modality_scale": 1.0,
    "audio_modality_scale": 1.0,
}
#: LTX-2 dev checkpoints: Lightricks' one-stage defaults (40 steps, video CFG 3.0, audio CFG 7.0, STG 1.0,
#: modality guidance 3.0; the last three are also the pipeline's defaults, so they are passed as such).
LTX2_DEV = {"stg_scale": 1.0, "audio_guidance_scale": 7.0, "modality_scale": 3.0, "audio_modality_scale": 3.0}
_LTX2_STEPS = {"distilled": len(LTX2_DISTILLED_SIGMAS), "standard": 40, "tiny": 4}
_LTX2_GUIDANCE = {"distilled": 1.0, "standard": 3.0, "tiny": 3.0}
_LTX2_NAMES = {"distilled": "ltx2-distilled", "standard": "ltx2", "tiny": "tiny-ltx2"}

_STEPS = {"distilled": len(DISTILLED_TIMESTEPS), "standard": 30, "tiny": 4}
_GUIDANCE = {"distilled": 1.0, "standard": 5.0, "tiny": 5.0}
_NAMES = {"distilled": "ltx-distilled", "standard": "ltx", "tiny": "tiny"}


@dataclass(frozen=True)
class Profile:
    name: str
    distilled: bool
    timestep_vae: bool
    num_inference_steps: int
    guidance_scale: float
    timesteps: tuple[float, ...] | None = None
    decode: dict[str, float] = field(default_factory=dict)
    #: LTX-2: the distilled sigma schedule (used when the step count is its length) and guidance settings.
    sigmas: tuple[float, ...] | None = None
    guidance: dict[str, float] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        return {"num_inference_steps": self.num_inference_steps, "guidance_scale": self.guidance_scale}

    def pipeline_kwargs(self, num_inference_steps: int) -> dict[str, Any]:
        """Extra pipeline arguments for a run of ``num_inference_steps``: the decode settings, and the
        fixed schedule only when the step count is the one it was distilled for (other counts use the
        pipeline's own schedule)."""
        out: dict[str, Any] = dict(self.decode)
        if self.timesteps is not None and num_inference_steps == len(self.timesteps):
            out["timesteps"] = list(self.timesteps)
        if self.sigmas is not None and num_inference_steps == len(self.sigmas):
            out["sigmas"] = list(self.sigmas)
        out.update(self.guidance)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distilled": self.distilled,
            "timestep_vae": self.timestep_vae,
            **self.defaults(),
            "timesteps": list(self.timesteps) if self.timesteps else None,
            "decode": dict(self.decode),
            **({"sigmas": list(self.sigmas)} if self.sigmas else {}),
            **({"guidance": dict(self.guidance)} if self.guidance else {}),
        }


def ltx_profile(
    name_hint: str, vae_config: Mapping[str, Any], *, tiny: bool = False, kind: str = "auto"
) -> Profile:
    """The profile of an LTX-Video 0.9.x checkpoint.

    ``name_hint``: the model id and/or its local path (a name containing "distilled" means a
    guidance-distilled checkpoint, as Lightricks names them); ``vae_config``: the VAE's config;
    ``tiny``: the built-in tiny model; ``kind``: one of KINDS, to override what the name says.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown profile {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "auto":
        kind = "tiny" if tiny else ("distilled" if "distilled" in name_hint.lower() else "standard")
    timestep_vae = bool(vae_config.get("timestep_conditioning", False))
    distilled = kind == "distilled"
    return Profile(
        name=_NAMES[kind],
        distilled=distilled,
        timestep_vae=timestep_vae,
        num_inference_steps=_STEPS[kind],
        guidance_scale=_GUIDANCE[kind],
        timesteps=DISTILLED_TIMESTEPS if distilled else None,
        decode=dict(TIMESTEP_VAE_KWARGS) if timestep_vae else {},
    )


def ltx2_profile(name_hint: str, *, tiny: bool = False, kind: str = "auto") -> Profile:
    """The profile of an LTX-2 checkpoint (LTX-2 19B, 2.3, 2.5): "distilled" in the name (as Lightricks and
    diffusers name them) gets the distilled schedule without guidance, others the dev settings. The tiny
    model turns STG and modality guidance off: in a 2-layer model they only cost extra passes."""
    if kind not in KINDS:
        raise ValueError(f"unknown profile {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "auto":
        kind = "tiny" if tiny else ("distilled" if "distilled" in name_hint.lower() else "standard")
    guidance = {"distilled": LTX2_NO_GUIDANCE, "standard": LTX2_DEV, "tiny": LTX2_NO_GUIDANCE}[kind]
    return Profile(
        name=_LTX2_NAMES[kind],
        distilled=kind == "distilled",
        timestep_vae=False,
        num_inference_steps=_LTX2_STEPS[kind],
        guidance_scale=_LTX2_GUIDANCE[kind],
        sigmas=LTX2_DISTILLED_SIGMAS if kind == "distilled" else None,
        guidance=dict(guidance),
    )


def resolve(request: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """Fill the request's absent or null defaults from the profile (in place); returns the record of it
    for ``applied.sampling``: the profile's name, which fields came from it, the extra pipeline arguments."""
    from_profile = []
    for key, value in profile.defaults().items():
        if request.get(key) is None:
            request[key] = value
            from_profile.append(key)
    return {
        "profile": profile.name,
        "from_profile": from_profile,
        "pipeline_kwargs": profile.pipeline_kwargs(request["num_inference_steps"]),
    }


#: SANA-WM (Efficient-Large-Model/SANA-WM_bidirectional-diffusers): the pipeline's and the model card's
#: 60 steps at guidance 5.0; the tiny model a few steps (it is noise either way).
_SANA_WM_STEPS = {"standard": 60, "tiny": 3}
_SANA_WM_GUIDANCE = {"standard": 5.0, "tiny": 3.0}


def sana_wm_profile(*, tiny: bool = False, kind: str = "auto") -> Profile:
    """The profile of a SANA-WM checkpoint. No distilled release exists, so "distilled" is refused."""
    if kind not in KINDS:
        raise ValueError(f"unknown profile {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "distilled":
        raise ValueError("SANA-WM has no distilled checkpoint; use --profile auto, standard or tiny")
    if kind == "auto":
        kind = "tiny" if tiny else "standard"
    return Profile(
        name="tiny-sana-wm" if kind == "tiny" else "sana-wm",
        distilled=False,
        timestep_vae=False,
        num_inference_steps=_SANA_WM_STEPS[kind],
        guidance_scale=_SANA_WM_GUIDANCE[kind],
    )
