"""Where the tools read and write: the work tree, its build intermediates and download cache."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"  # intermediates: lite, notebooks, vendor, wheels
CACHE = ROOT / ".cache"  # downloads and derived artefacts, kept between builds
