"""The main-thread tick: what Blender's timer does while generation has work in flight.

Each tick, on Blender's main thread and within a small time budget: watch the local server this Blender
started (``server_process``), pump the courier link (``courier_link``), run the flow's hooks (the staged
control renders, ``flow/staged.poll``), and apply the courier's messages through the handler the flow
installs (``flow/clips.apply_message``), each imported clip its own undo step.

A ``bpy.app.timers`` callback (``on_timer``) runs the tick in a running Blender. Timers never fire with
bpy as a module, so ``drain()`` is also called directly by ``generate.wait``, tests and benchmarks: the
same code path either way.
"""

from __future__ import annotations

import time
from typing import Callable

import bpy

from . import server_process
from .courier_link import Downloaded, Message, get

#: Main-thread budget per timer tick, and how often the timer runs while there is work.
DRAIN_BUDGET_S = 0.003
TICK_BUSY_S = 0.1

_handler: Callable[[Message], None] | None = None
_told_server_gone = False
#: Work of the flow that each tick also advances (``staged.poll``): returns how much is left.
_hooks: list[Callable[[], int]] = []
_hook_work = 0


def set_handler(handler: Callable[[Message], None]) -> None:
    """``handler(message)`` applies one message on the main thread (generate.py installs it)."""
    global _handler
    _handler = handler


def add_hook(hook: Callable[[], int]) -> None:
    """Run ``hook()`` on every tick (and every ``drain``) while it returns work left (> 0); the timer
    keeps ticking for it. The flow's other main-thread waits (``staged.py``) use this one timer."""
    if hook not in _hooks:
        _hooks.append(hook)
    ensure_timer()


def _run_hooks() -> None:
    global _hook_work
    work = 0
    for hook in list(_hooks):
        try:
            left = hook()
        except Exception as exc:  # a bug in one hook must not stop the timer for the courier's answers
            print(f"blender_ltx: tick hook {getattr(hook, '__name__', hook)} failed: {exc!r}")
            left = 0
        if left:
            work += left
        else:
            _hooks.remove(hook)
    _hook_work = work


def _check_local_server() -> None:
    global _told_server_gone
    if server_process.exited() and not _told_server_gone:
        _told_server_gone = True
        get().server_gone(server_process.exit_sentence())
    elif server_process.is_running():
        _told_server_gone = False


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
        if _handler is not None:
            # Ctrl+Z after a background import undoes that import and nothing else: a step for the
            # state just before it (progress, job ids), and one with the imported take.
            importing = undo and isinstance(message, Downloaded)
            if importing:
                _undo_push(f"LTX: {message.key[1]} generated")
            try:
                _handler(message)
            except Exception as exc:  # a bug in applying one message must not stop the timer for all
                print(f"blender_ltx: could not apply {type(message).__name__}: {exc!r}")
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
    drain(undo=True)
    return TICK_BUSY_S if get().busy() or _hook_work else None


def ensure_timer() -> None:
    if not bpy.app.timers.is_registered(on_timer):
        bpy.app.timers.register(on_timer, first_interval=TICK_BUSY_S, persistent=True)


def register() -> None:
    pass


def unregister() -> None:
    if bpy.app.timers.is_registered(on_timer):
        bpy.app.timers.unregister(on_timer)
