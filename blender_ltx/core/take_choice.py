"""Which of a shot's takes follows its camera best, and the words the shot panel shows for a take's motion.

Pure. A take's motion is what the server's meter reported for its job (``motion`` in the job status,
see server/meter/job_motion.py), stored on the take's strip; ``{"unavailable": SENTENCE}`` stands for
a take whose motion never came (a server without the meter, or no answer in time).
"""

from __future__ import annotations

from typing import Any

from .motion_compare import mismatch_text, summary_text


def score(motion: dict[str, Any] | None) -> float | None:
    """The take's agreement with the plan (0..1), or None when it has none to compare."""
    if not motion or not motion.get("measurable"):
        return None
    agree = motion.get("agreement") or {}
    value = agree.get("score")
    return float(value) if isinstance(value, (int, float)) else None


def motion_lines(motion: dict[str, Any] | None) -> list[str]:
    """The panel's lines for a take: its summary ("follows the plan 0.91: dolly in, pan left"), then
    the mismatch in words ("planned dolly in, measured zoom in") when there is one."""
    if motion and motion.get("unavailable"):
        return [f"motion not measured: {motion['unavailable']}"]
    if motion and motion.get("measurable") is False:
        # summary_text says "motion not measurable: REASON"; the panel words it the way.
        return [f"not measurable: {motion.get('reason') or 'no reason given'}"]
    lines = [summary_text(motion)]
    agree = (motion or {}).get("agreement") or {}
    mismatch = mismatch_text(agree.get("segments") or [])
    if mismatch:
        lines.append(mismatch)
    return lines


def _why_not(motion: dict[str, Any] | None) -> str:
    if not motion or motion.get("unavailable"):
        return (motion or {}).get("unavailable") or "no measurement came"
    if not motion.get("measurable"):
        return f"not measurable: {motion.get('reason') or 'no reason given'}"
    return "measured without a plan to hold it against"


def best_take(motions: list[tuple[int, dict[str, Any] | None]]) -> tuple[int, str]:
    """(the take to make active, one sentence why) of ``[(take, motion)]`` in submission order: the take
    with the highest agreement (the earlier one on a tie); the first take when none has an agreement."""
    if not motions:
        raise ValueError("best_take needs at least one take")
    scored = [(t, s) for t, m in motions if (s := score(m)) is not None]
    if not scored:
        first, motion = motions[0]
        return first, (
            f"Kept take {first} (the first of {len(motions)}): no take's motion could be held against the "
            f"plan ({_why_not(motion).rstrip('.')})."
        )
    best, top = max(scored, key=lambda ts: ts[1])  # max keeps the first of equals
    others = ", ".join(f"take {t} {s:.2f}" for t, s in scored if t != best)
    unscored = [t for t, _ in motions if t not in dict(scored)]
    tail = f"; takes {', '.join(map(str, unscored))} not measured" if unscored else ""
    return best, (
        f"Kept take {best}, the best agreement with the plan: {top:.2f}"
        + (f" (against {others}{tail})." if others or tail else ".")
    )
