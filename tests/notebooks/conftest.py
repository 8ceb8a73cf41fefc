"""Notebook tests: mark every process started while notebooks run, to find leftovers.

Loaded during collection, i.e. before any notebook executes, so kernels started by nbmake
(``pytest --nbmake notebooks/ tests/notebooks/``) and the servers they start inherit
``LESSON_NOTEBOOK_SESSION``; ``test_no_leftovers.py`` then looks for survivors.
"""

from __future__ import annotations

import os
import uuid

os.environ.setdefault("LESSON_NOTEBOOK_SESSION", uuid.uuid4().hex)
