"""``python -m blender_ltx COMMAND ...``: the extension's command line where bpy is a Python module.

The same code as ``blender -b -c ltx COMMAND ...`` (see ``bl/cli/commands.py``).
"""

from __future__ import annotations

import sys

from .bl.cli.commands import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python -m blender_ltx"))
