"""The shot plan: plain data, no bpy.

Scene -> ShotPlan is built by ``blender_ltx.bl.plan.scene``; everything here is the data model and its
JSON form, which is the stable public interface (``ShotPlan.to_dict()`` / ``to_json()``) and what the
wire protocol carries to the server. ``from_dict`` tolerates unknown keys so that newer plans load
in older code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

PLAN_VERSION = 1

#: Motion vocabulary, in the camera's own frame (see core/motion.py for the definitions).
MOTION_KINDS = (
    "static",
    "dolly_in",
    "dolly_out",
    "truck_left",
    "truck_right",
    "pedestal_up",
    "pedestal_down",
    "pan_left",
    "pan_right",
    "tilt_up",
    "tilt_down",
    "roll_left",
    "roll_right",
    "zoom_in",
    "zoom_out",
    "orbit_left",
    "orbit_right",
)
SPEEDS = ("slow", "medium", "fast")
#: Projections the plan and the motion analysis model (Blender's Camera.type). Panoramic and custom
#: cameras are refused when planning: no video model is trained on their pictures.
CAMERA_TYPES = ("PERSP", "ORTHO")


def _known(cls, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class Trajectory:
    """Per scene frame camera samples. ``matrix_world[i]`` is row-major 4x4 as 16 floats.

    ``camera_type`` is one of CAMERA_TYPES. An orthographic camera's view size is ``ortho_scale`` (scene
    units across the sensor-fit direction, per frame) and its ``lens_mm`` is Blender's unused value; a
    perspective camera has no ``ortho_scale`` (empty).
    """

    frames: list[int] = field(default_factory=list)
    matrix_world: list[list[float]] = field(default_factory=list)
    lens_mm: list[float] = field(default_factory=list)
    sensor_width_mm: float = 36.0
    sensor_height_mm: float = 24.0
    sensor_fit: str = "AUTO"  # AUTO | HORIZONTAL | VERTICAL
    shift_x: float = 0.0
    shift_y: float = 0.0
    aspect: float = 16 / 9  # render width / height, pixel aspect included
    camera_type: str = "PERSP"
    ortho_scale: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frames)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Trajectory":
        return cls(**_known(cls, data))

    def slice(self, frame_start: int, frame_end: int) -> "Trajectory":
        """The samples whose scene frame lies in [frame_start, frame_end]."""
        idx = [i for i, f in enumerate(self.frames) if frame_start <= f <= frame_end]
        return Trajectory(
            frames=[self.frames[i] for i in idx],
            matrix_world=[self.matrix_world[i] for i in idx],
            lens_mm=[self.lens_mm[i] for i in idx],
            sensor_width_mm=self.sensor_width_mm,
            sensor_height_mm=self.sensor_height_mm,
            sensor_fit=self.sensor_fit,
            shift_x=self.shift_x,
            shift_y=self.shift_y,
            aspect=self.aspect,
            camera_type=self.camera_type,
            ortho_scale=[self.ortho_scale[i] for i in idx] if self.ortho_scale else [],
        )


@dataclass
class Segment:
    """A piece of a shot that is generated as one clip (shots longer than the model's maximum split)."""

    frame_start: int  # scene frame, inclusive
    frame_end: int  # scene frame, inclusive
    num_frames: int  # 8k+1 >= frame_end - frame_start + 1

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Segment":
        return cls(**_known(cls, data))


@dataclass
class GenerationGrid:
    """What the model is asked for. ``num_frames`` is the first segment's (the only one for most shots)."""

    num_frames: int
    width: int
    height: int
    frame_rate: float
    segments: list[Segment] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GenerationGrid":
        d = _known(cls, data)
        d["segments"] = [Segment.from_dict(s) for s in d.get("segments", [])]
        return cls(**d)


@dataclass
class MotionSegment:
    kinds: list[str]
    speed: str
    frame_start: int  # scene frame, inclusive
    frame_end: int  # scene frame, inclusive

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MotionSegment":
        return cls(**_known(cls, data))


@dataclass
class Shot:
    name: str
    camera: str
    frame_start: int  # inclusive
    frame_end: int  # inclusive
    generation: GenerationGrid
    trajectory: Trajectory
    motion: list[MotionSegment] = field(default_factory=list)
    script: str = ""
    #: The camera the shot's own marker binds ("" when unbound); kept after that camera is deleted.
    marker_camera: str = ""
    #: The camera the shot was filmed through until it was deleted ("" normally; ``core/cuts.py``).
    lost_camera: str = ""

    @property
    def length(self) -> int:
        return self.frame_end - self.frame_start + 1

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Shot":
        d = _known(cls, data)
        d["generation"] = GenerationGrid.from_dict(d["generation"])
        d["trajectory"] = Trajectory.from_dict(d["trajectory"])
        d["motion"] = [MotionSegment.from_dict(m) for m in d.get("motion", [])]
        return cls(**d)


@dataclass
class ShotPlan:
    scene: str
    fps: float
    shots: list[Shot] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    version: int = PLAN_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ShotPlan":
        d = _known(cls, data)
        d["shots"] = [Shot.from_dict(s) for s in d.get("shots", [])]
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "ShotPlan":
        return cls.from_dict(json.loads(text))

    def shot(self, name: str) -> Shot:
        for s in self.shots:
            if s.name == name:
                return s
        raise KeyError(f"no shot named {name!r}; the plan has {[s.name for s in self.shots]}")
