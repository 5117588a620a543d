"""Model backends, one module per family; ``make_backend`` picks one for the settings."""

from __future__ import annotations

from .base import Backend


def make_backend(settings) -> Backend:
    """The backend for ``settings.model`` (not loaded yet)."""
    from .ltx import LTXBackend

    return LTXBackend(
        settings.model,
        device=settings.device,
        dtype=settings.dtype,
        data_dir=settings.data_dir,
        vae_tiling=settings.vae_tiling,
        cpu_offload=settings.cpu_offload,
        profile=settings.profile,
    )
