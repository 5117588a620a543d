"""The server's trajectory schema (server/api/schemas.py ``TrajectoryIn``) field by field against the plan's
``core.shots.Trajectory``: a field added, renamed or re-defaulted on one side fails here."""

from __future__ import annotations

from dataclasses import MISSING, asdict, fields

import pytest

# The server stack is not in the bpy-only venvs (bpy 4.2, 5.3), which run the Blender tests only.
pytest.importorskip("pydantic")

from blender_ltx.core.shots import Trajectory  # noqa: E402
from server.api.schemas import TrajectoryIn  # noqa: E402

PLAN_FIELDS = {f.name: f for f in fields(Trajectory)}


def test_the_same_fields_in_the_same_order():
    assert list(TrajectoryIn.model_fields) == list(PLAN_FIELDS)


@pytest.mark.parametrize("name", list(PLAN_FIELDS))
def test_each_field_has_the_same_default(name):
    plan, server = PLAN_FIELDS[name], TrajectoryIn.model_fields[name]
    if plan.default is MISSING:  # a per-frame list: empty in a new plan; on the wire required, or
        # optional and empty by default too (ortho_scale: perspective cameras have none)
        assert plan.default_factory() == []
        assert server.is_required() or server.get_default(call_default_factory=True) == []
    else:
        assert not server.is_required() and server.default == plan.default


def test_a_planned_trajectory_passes_the_server_schema_unchanged():
    traj = Trajectory(
        frames=[1, 2],
        matrix_world=[[float(i == j * 5) for i in range(16)] for j in range(2)],
        lens_mm=[35.0, 36.5],
        sensor_width_mm=30.0,
        sensor_height_mm=20.0,
        sensor_fit="VERTICAL",
        shift_x=0.1,
        shift_y=-0.2,
        aspect=2.39,
    )
    assert TrajectoryIn.model_validate(asdict(traj)).model_dump() == asdict(traj)
