"""Build the whole site into ``site/``: the entry ``make site`` runs.

    .venv/bin/python tools/build_site.py [--notebooks DIR] [--site-dir DIR] [--reuse-notebooks] [--overlap-lite]

The build itself is :mod:`tools.site.build` (``python -m tools.site.build`` is the same).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, sys.path[0] is tools/: import the tools as a package from the root.
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    from tools.site.build import main

    main()
