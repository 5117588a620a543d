"""blender-ltx: Blender previs -> LTX-Video image-to-video, cut back into the VSE.

This module imports without bpy: bpy is touched only inside ``register()``/``unregister()`` and the
``bl`` sub-package, so ``blender_ltx.core`` is usable (and tested) anywhere, the server included.
"""

from __future__ import annotations

__version__ = "0.1.0"


def plan_scene(scene, **options):
    """Read ``scene`` (a ``bpy.types.Scene``) as a :class:`~blender_ltx.core.shots.ShotPlan`."""
    from .bl.plan.scene import plan_scene as _plan_scene

    return _plan_scene(scene, **options)


def register() -> None:
    from .bl import register as _register

    _register()


def unregister() -> None:
    from .bl import unregister as _unregister

    _unregister()
