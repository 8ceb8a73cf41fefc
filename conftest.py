"""Root pytest configuration: applies to the unit tests and to the notebooks run by nbmake."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tools"))

import nbclient_patch

nbclient_patch.apply()
