"""The one-line summary of a generation run, for the command line, the operators' reports and scripts.

It says what happened to each shot: a shot that failed is listed once, with the reason its job gave
(not as "submitted X; failed X"), and shots whose clips are not in yet are named with what to do.
"""

from __future__ import annotations

from typing import Any, Mapping

NOTHING_TO_DO = "Nothing to generate: every shot is up to date (use force)."
#: Listed in this order, each as "<word> A, B".
_LISTS = ("submitted", "attached", "unchanged", "imported")


def summary(result: Mapping[str, Any]) -> str:
    """``result`` has lists of shot names (submitted, attached, unchanged, imported, failed, waiting),
    per shot its last message under ``shots[name]["message"]``, and ``warnings``: sentences about
    shots that went all the same (a camera deleted since the last plan), said after the rest."""
    failed = list(result.get("failed") or [])
    parts = []
    for key in _LISTS:
        names = [n for n in result.get(key) or [] if n not in failed]
        if names:
            parts.append(f"{key} {', '.join(names)}")
    shots = result.get("shots") or {}
    for name in failed:
        reason = str((shots.get(name) or {}).get("message") or "").rstrip(".")
        parts.append(f"failed {name}" + (f" ({reason})" if reason else ""))
    waiting = list(result.get("waiting") or [])
    if waiting:
        parts.append(
            f"not imported yet: {', '.join(waiting)} (their jobs are saved in the file: generate again "
            "with --wait, or open it in Blender, to bring the clips in)"
        )
    line = "; ".join(parts) + "." if parts else NOTHING_TO_DO
    return " ".join([line, *(result.get("warnings") or [])])


def failed(result: Mapping[str, Any]) -> bool:
    """True when a shot failed or, waited for, is still not imported."""
    return bool(result.get("failed") or result.get("waiting"))
