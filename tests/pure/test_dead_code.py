"""No dead code in the core and the server (issue 15 item 8): every public top-level function and class of
``blender_ltx/core`` and ``server/`` is used by product code (the add-on, the server, bench, scripts), not
only by tests. A use is what Python resolves: ``from module import name``, ``module.name`` through an
imported module, or the name in its own module; a word in a docstring or a method of the same name on
another object does not count."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("blender_ltx", "server", "bench", "scripts")
CHECKED = ("blender_ltx/core/", "server/")

#: Public names that product code need not use, each with why.
ALLOWED = {
    # The mp4 reader the tests check clips with; the server's own answers describe clips it wrote.
    ("server.generation.video", "probe_mp4"),
    # The whole-video form of normalize_depth that the bl layer applies frame by frame.
    ("blender_ltx.core.depth", "depth_video"),
    # The session reset the tests' ``fresh`` fixture calls (issue 15 item 7 gathers session state).
    ("blender_ltx.core.server_info", "forget"),
    # Writes a tiny LTX-2 transformer in Lightricks' original single-file key layout: the tests' proof
    # that a single-file checkpoint loads (no real one can be downloaded here).
    ("server.backends.single_file", "write_ltx2_single_file"),
}


def _module(path: Path) -> list[str]:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _uses(path: Path) -> set[tuple[str, str]]:
    """(module, name) pairs ``path`` uses."""
    tree = ast.parse(path.read_text(), str(path))
    me = _module(path)
    package = me if path.name == "__init__.py" else me[:-1]
    aliases: dict[str, str] = {}  # local name -> module it binds
    out: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + (node.module.split(".") if node.module else []))
            for alias in node.names:
                out.add((mod, alias.name))
                aliases[alias.asname or alias.name] = f"{mod}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            out.add((aliases[node.value.id], node.attr))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            dotted = []
            value: ast.expr = node.value
            while isinstance(value, ast.Attribute):
                dotted.insert(0, value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in aliases:
                out.add((".".join([aliases[value.id], *dotted]), node.attr))
    own = ".".join(me)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            out.add((own, node.id))
    return out


def _public_definitions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    # A decorated definition is used by its decorator (a route registered on its router, say).
    names = [
        n.name
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not n.decorator_list
    ]
    return [n for n in names if not n.startswith("_")]


def _product_files() -> list[Path]:
    return sorted(p for top in PRODUCT for p in (REPO / top).rglob("*.py"))


def test_every_public_function_of_core_and_server_is_used_by_product_code():
    files = _product_files()
    used: dict[str, set[str]] = defaultdict(set)
    for path in files:
        for mod, name in _uses(path):
            used[mod].add(name)
    unused = []
    for path in files:
        rel = path.relative_to(REPO).as_posix()
        if not rel.startswith(CHECKED):
            continue
        mod = ".".join(_module(path))
        for name in _public_definitions(path):
            if name not in used[mod] and (mod, name) not in ALLOWED:
                unused.append(f"{mod}.{name}")
    assert not unused, f"defined but never used by the add-on or the server: {', '.join(unused)}"


def test_a_use_is_an_import_or_a_module_attribute():
    """The checker itself: it sees imports and module attributes (``control.settle(...)``)."""
    uses = _uses(REPO / "blender_ltx" / "core" / "courier.py")
    assert ("blender_ltx.core.courier", "probe_health") in uses
    assert ("blender_ltx.core.control", "settle") in uses  # control.settle(...) through the module
