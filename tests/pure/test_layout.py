"""The folders show the pipeline, and imports only go down its floors.

The add-on (``blender_ltx/bl/``): ``ui`` and ``cli`` (what a user drives) above ``flow`` (a take's way
from click to strip) above ``plan``, ``render``, ``edit`` and ``link`` (reading the scene, rendering
through its cameras, the VSE, the courier and the local server) above ``addon`` (registration,
properties, preferences, version shims) above ``core`` (no bpy). The server: ``api`` (HTTP) above
``queue`` (the store and the job runner: the only owner of job state) above ``generation``
(conditioning, chaining, clips, control) above ``backends`` and ``meter`` (model families; what a take
did) above ``fit`` (what a checkpoint needs on a card; the memory modes) above ``blender_ltx.core``.
A module may import its own package and any lower floor, never a higher floor nor a sibling on its own
floor: an upward import is a circle waiting to happen, a sideways one a step hidden in the wrong room.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

ADDON_FLOORS = {
    "core": 0,
    "addon": 1,
    "plan": 2,
    "render": 2,
    "edit": 2,
    "link": 2,
    "flow": 3,
    "ui": 4,
    "cli": 4,
}
SERVER_FLOORS = {"core": 0, "fit": 1, "backends": 2, "meter": 2, "generation": 3, "queue": 4, "api": 5}


def _imported_modules(path: Path, package: list[str]) -> list[tuple[int, list[str]]]:
    """Every module ``path`` imports (nested imports too), as absolute dotted parts, with its line."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = base + (node.module.split(".") if node.module else [])
            for alias in node.names:  # ``from pkg import module`` imports pkg.module
                out.append((node.lineno, mod + [alias.name]))
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, a.name.split(".")) for a in node.names)
    return out


def _floor_of(parts: list[str], root: list[str], floors: dict[str, int]) -> str | None:
    if parts[:2] == ["blender_ltx", "core"]:
        return "core"
    if parts[: len(root)] == root and len(parts) > len(root) and parts[len(root)] in floors:
        return parts[len(root)]
    return None


def _violations(root: list[str], floors: dict[str, int], repo: Path = REPO) -> list[str]:
    bad = []
    top = repo.joinpath(*root)
    for path in sorted(top.rglob("*.py")):
        rel = list(path.relative_to(top).with_suffix("").parts)
        if len(rel) < 2 or rel[0] not in floors:
            continue  # the package's own __init__ / __main__ wire the floors together
        package = root + rel[:-1] if rel[-1] != "__init__" else root + rel[:-1]
        mine = rel[0]
        for line, parts in _imported_modules(path, package):
            theirs = _floor_of(parts, root, floors)
            if theirs is None or theirs == mine:
                continue
            if floors[theirs] >= floors[mine]:
                where = f"{path.relative_to(repo).as_posix()}:{line}"
                bad.append(f"{where} ({mine}) imports {'.'.join(parts)} ({theirs})")
    return bad


@pytest.mark.parametrize(
    "root, floors",
    [(["blender_ltx", "bl"], ADDON_FLOORS), (["server"], SERVER_FLOORS)],
    ids=["addon", "server"],
)
def test_imports_only_go_down_the_floors(root, floors) -> None:
    assert _violations(root, floors) == []


def test_every_module_lives_on_a_floor() -> None:
    # A new module dropped at the top of bl/ or server/ would escape the check above.
    loose = sorted(
        str(p.relative_to(REPO))
        for top, allowed in (
            (REPO / "blender_ltx" / "bl", {"__init__.py"}),
            (REPO / "server", {"__init__.py", "__main__.py"}),
        )
        for p in top.glob("*.py")
        if p.name not in allowed
    )
    assert loose == []
    for top, floors in ((REPO / "blender_ltx" / "bl", ADDON_FLOORS), (REPO / "server", SERVER_FLOORS)):
        packages = {p.name for p in top.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
        assert packages <= set(floors), packages - set(floors)


def test_the_check_sees_upward_and_sideways_imports(tmp_path) -> None:
    # The check itself can fail: an edit/ module importing flow/ is reported.
    fake = tmp_path / "blender_ltx" / "bl"
    for pkg in ("edit", "flow"):
        (fake / pkg).mkdir(parents=True)
        (fake / pkg / "__init__.py").write_text("")
    (fake / "link").mkdir()
    (fake / "link" / "__init__.py").write_text("")
    (fake / "edit" / "strip.py").write_text(
        "from ...core import shots\nfrom ..flow import submit\n\ndef f():\n    from ..link import tick\n"
    )
    (fake / "flow" / "submit.py").write_text("from ..edit import strip\n")
    assert _violations(["blender_ltx", "bl"], ADDON_FLOORS, tmp_path) == [
        "blender_ltx/bl/edit/strip.py:2 (edit) imports blender_ltx.bl.flow.submit (flow)",
        "blender_ltx/bl/edit/strip.py:5 (edit) imports blender_ltx.bl.link.tick (link)",
    ]
