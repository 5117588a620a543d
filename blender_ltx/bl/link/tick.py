"""The main-thread tick: what Blender's timer does while generation has work in flight.

Each tick, on Blender's main thread and within a small time budget: watch the local server this Blender
started (``server_process``), pump the courier link (``courier_link``), run the flow's hooks (the staged
control renders, ``flow/staged.poll``), and apply the courier's messages through the handler the flow
installs (``flow/clips.apply_message``), each imported clip its own undo step.

Nothing raised on the tick is lost: the traceback goes to the log (Blender's console), and the failure
callback the raiser came with (the handler's, a hook's) ends what waited on it with a sentence, so no
shot stays "importing" and no ``generate --wait`` waits forever.

A ``bpy.app.timers`` callback (``on_timer``) runs the tick in a running Blender. Timers never fire with
bpy as a module, so ``drain()`` is also called directly by ``generate.wait``, tests and benchmarks: the
same code path either way.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import bpy

from . import server_process
from .courier_link import Downloaded, Key, Message, get

log = logging.getLogger(__name__)

#: Main-thread budget per timer tick, and how often the timer runs while there is work.
DRAIN_BUDGET_S = 0.003
TICK_BUSY_S = 0.1


@dataclass
class TickState:
    """What the tick keeps between ticks (part of the session's live state, see ``flow/session.py``)."""

    #: Applies one message on the main thread (``flow/clips.apply_message``, installed at register).
    handler: Callable[[Message], None] | None = None
    #: Called with the message's key, job id and a sentence when ``handler`` raised (``clips.fail_run``).
    on_failure: Callable[[Key, str, str], None] | None = None
    #: Work of the flow that each tick also advances (``staged.poll``): each returns how much is left,
    #: and comes with what to call with a sentence when it raises (``staged.fail_all``).
    hooks: dict[Callable[[], int], Callable[[str], None]] = field(default_factory=dict)
    hook_work: int = 0
    told_server_gone: bool = False


state = TickState()


def set_handler(handler: Callable[[Message], None], on_failure: Callable[[Key, str, str], None]) -> None:
    """``handler(message)`` applies one message on the main thread (generate.py installs it);
    ``on_failure(key, job_id, sentence)`` ends the message's run when ``handler`` raised."""
    state.handler, state.on_failure = handler, on_failure


def reset() -> None:
    """Forget the hooks (the handler stays installed; the local server is watched as before)."""
    state.hooks.clear()
    state.hook_work = 0


def add_hook(hook: Callable[[], int], on_failure: Callable[[str], None]) -> None:
    """Run ``hook()`` on every tick (and every ``drain``) while it returns work left (> 0); the timer
    keeps ticking for it. When it raises, ``on_failure(sentence)`` ends what it was doing and it is
    dropped. The flow's other main-thread waits (``staged.py``) use this one timer."""
    state.hooks[hook] = on_failure
    ensure_timer()


def failure_sentence(what: str, exc: BaseException) -> str:
    """Log ``exc`` with its traceback; the sentence for the shot it cost."""
    log.error("blender_ltx: %s failed", what, exc_info=exc)
    return (
        f"The add-on failed while {what} ({type(exc).__name__}: {exc}); the traceback is in Blender's "
        "console. Generate the shot again; report it if it happens again."
    )


def _run_hooks() -> None:
    work = 0
    for hook, on_failure in list(state.hooks.items()):
        try:
            left = hook()
        except Exception as exc:  # one hook's bug ends its own work, never the courier's answers
            left = 0
            _call_failure(on_failure, failure_sentence(f"running {getattr(hook, '__name__', hook)}", exc))
        if left:
            work += left
        else:
            state.hooks.pop(hook, None)
    state.hook_work = work


def _call_failure(on_failure: Callable[..., None] | None, *args) -> None:
    """Tell the flow; should that raise too, its traceback is logged (the tick goes on)."""
    if on_failure is None:
        return
    try:
        on_failure(*args)
    except Exception as exc:
        log.error("blender_ltx: ending the failed work failed too", exc_info=exc)


def _check_local_server() -> None:
    server_process.watch_stopping()
    if server_process.exited() and not state.told_server_gone:
        state.told_server_gone = True
        get().server_gone(server_process.exit_sentence())
    elif server_process.is_running():
        state.told_server_gone = False


def drain(max_seconds: float = DRAIN_BUDGET_S, *, undo: bool = False) -> int:
    """Read the courier and apply waiting messages on the main thread until none is left or
    ``max_seconds`` is used.

    At least one message is applied per call (a slow one must not starve the queue). Messages from a
    previous file (older epoch) are dropped. With ``undo`` (the timer in a running Blender), each
    imported clip becomes its own undo step. Returns how many were applied.
    """
    start = time.perf_counter()
    link = get()
    _check_local_server()
    link.pump()
    _run_hooks()
    applied = 0
    inbox = link.inbox
    while inbox:
        message = inbox.popleft()
        if message.epoch != link.epoch:
            continue
        if state.handler is not None:
            # Ctrl+Z after a background import undoes that import and nothing else: a step for the
            # state just before it (progress, job ids), and one with the imported take.
            importing = undo and isinstance(message, Downloaded)
            if importing:
                _undo_push(f"LTX: {message.key[1]} generated")
            try:
                state.handler(message)
            except Exception as exc:  # the message's run ends with why; the others go on
                what = f"applying the server's {type(message).__name__} answer for shot {message.key[1]}"
                job_id = getattr(message, "job_id", "")
                _call_failure(state.on_failure, message.key, job_id, failure_sentence(what, exc))
            if importing:
                _undo_push(f"LTX: import {message.key[1]}")
        applied += 1
        if time.perf_counter() - start >= max_seconds:
            break
    return applied


def _undo_push(message: str) -> bool:
    """Make what was just applied its own undo step, where Blender has a window to hold the undo stack
    (not with bpy as a module or in background mode: there the poll fails and nothing is pushed)."""
    try:
        if bpy.ops.ed.undo_push.poll():
            bpy.ops.ed.undo_push(message=message)
            return True
    except RuntimeError:
        pass
    return False


# -- the timer (a running Blender; with bpy as a module nothing fires and callers pump drain()) -------
def on_timer() -> float | None:
    """What Blender's timer calls: one tick, and when to come again (None: nothing left to do)."""
    try:
        drain(undo=True)
    except Exception as exc:  # Blender would drop the timer, and every answer after it, for good
        log.error("blender_ltx: the tick failed", exc_info=exc)
    return TICK_BUSY_S if get().busy() or state.hook_work else None


def ensure_timer() -> None:
    if not bpy.app.timers.is_registered(on_timer):
        bpy.app.timers.register(on_timer, first_interval=TICK_BUSY_S, persistent=True)


def register() -> None:
    pass


def unregister() -> None:
    if bpy.app.timers.is_registered(on_timer):
        bpy.app.timers.unregister(on_timer)
