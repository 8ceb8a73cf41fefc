"""Shared pytest set-up (kept minimal: each test folder owns its own fixtures)."""

from __future__ import annotations

import pathlib

#: The repository root (tests may need it to find notebooks, docs or the package).
ROOT = pathlib.Path(__file__).resolve().parent.parent
