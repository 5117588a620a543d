"""blender-ltx generation server: ``python -m server --model tiny``. Runs in its own environment (torch,
diffusers), never inside Blender."""

__version__ = "0.1.0"
