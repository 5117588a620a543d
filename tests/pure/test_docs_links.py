"""Every relative link in the README and the docs leads somewhere: the file exists, and a ``#section``
names a heading of that file (GitHub's anchors). The README is the front door, so every guide in docs/
must be reachable from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", REPO / "BENCHMARKS.md", *sorted((REPO / "docs").rglob("*.md"))]

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _prose(path: Path) -> str:
    """The file without its fenced code blocks (a link inside one is an example, not a link)."""
    return _FENCE.sub("", path.read_text(encoding="utf-8"))


def links(path: Path) -> list[str]:
    return [m.group(1) for m in _LINK.finditer(_prose(path))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in _HEADING.findall(_prose(path)):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken(path: Path, root: Path = REPO) -> list[str]:
    """A sentence per link of ``path`` (a file under ``root``) that leads nowhere."""
    out = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(root)} links to {target!r}"
        if not dest.exists():
            out.append(
                f"{where}, but {dest.relative_to(root) if dest.is_relative_to(root) else dest} is missing"
            )
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            out.append(f"{where}, but {dest.name} has no heading with the anchor #{anchor}")
    return out


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(path: Path) -> None:
    assert path.is_file()
    assert broken(path) == []


def test_every_guide_is_reachable_from_the_readme() -> None:
    reached, todo = set(), [REPO / "README.md"]
    while todo:
        page = todo.pop()
        if page in reached or not page.is_file():
            continue
        reached.add(page)
        for target in links(page):
            file_part = target.partition("#")[0]
            if file_part.endswith(".md") and "://" not in file_part:
                todo.append((page.parent / file_part).resolve())
    unreached = [str(p.relative_to(REPO)) for p in DOCS if p.resolve() not in reached]
    assert unreached == [], f"not linked from README.md or a page it links to: {unreached}"


def test_a_broken_link_and_a_missing_anchor_are_found(tmp_path: Path) -> None:
    """The checker itself: it must see a missing file and a missing section, and pass good links."""
    (tmp_path / "README.md").write_text("# Front\n\n## Two commands\n", encoding="utf-8")
    page = tmp_path / "docs" / "probe.md"
    page.parent.mkdir()
    page.write_text(
        "# Probe\n\n## Motion: the `meter`\n\n[ok](#motion-the-meter) [ok](../README.md#two-commands) "
        "[gone](nowhere.md) [bad](../README.md#no-such-section) [web](https://example.com/x.md)\n"
        "```\n[in code](ignored.md)\n```\n",
        encoding="utf-8",
    )
    found = broken(page, tmp_path)
    assert len(found) == 2, found
    assert "nowhere.md" in found[0] and "is missing" in found[0]
    assert "#no-such-section" in found[1]
