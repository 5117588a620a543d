"""This Blender session's live state (never saved in the .blend), and the one call that resets it.

What the add-on holds between clicks, by owner:

- ``session.runs``: the takes in flight, ``runs.Run`` by (scene session_uid, shot name);
- ``session.staged``: the runs that wait for their control frames (``staged.Staged``);
- ``session.looks``: the look jobs in flight, ``look_jobs.LookRun`` by (scene session_uid, shot name);
- the courier link (``link/courier_link.get()``): its child process lives as long as Blender, its jobs
  and epoch belong to the open file;
- the tick (``link/tick.py``): the hooks it runs (the message handler stays installed);
- the server override (``link/connection.set_server``: the command line's ``--server``) and what each
  server said it can do (``core/server_info``): the session's, kept when another file loads;
- the local server this Blender started (``link/server_process``): runs until it is stopped.

``reset()`` drops everything that belongs to the open file (load_pre: another .blend comes in, whose own
jobs re-attach on load_post); ``reset(servers=True)`` also forgets the servers (unregister, and tests
that start from nothing). Main thread only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core import server_info
from ..link import connection, courier_link, tick

if TYPE_CHECKING:
    from .look_jobs import LookRun
    from .runs import Run
    from .staged import Staged


class Session:
    """The flow's live state; its containers are cleared in place, never replaced (the flow modules
    hold them by name)."""

    def __init__(self) -> None:
        self.runs: dict[tuple[int, str], Run] = {}
        self.staged: list[Staged] = []
        self.looks: dict[tuple[int, str], LookRun] = {}

    def drop_staged(self) -> None:
        """Stop every staged render and look layout render and remove the file copies (a file loads, the
        add-on goes, Blender quits)."""
        while self.staged:
            self.staged.pop().stop()
        for run in self.looks.values():
            if run.layout is not None:
                run.layout.cancel()
            if run.copy is not None:
                run.copy.discard()
            run.layout = run.copy = None

    def reset(self, *, servers: bool = False) -> None:
        self.drop_staged()
        self.runs.clear()
        self.looks.clear()
        courier_link.get().reset()  # answers still on their way belong to the file being closed
        tick.reset()
        if servers:
            connection.set_server(None)
            server_info.forget()


session = Session()


def reset(*, servers: bool = False) -> None:
    """Drop this session's jobs (``servers``: and what it knows of servers); see the module docstring."""
    session.reset(servers=servers)
