"""Which inputs a site build was made from: lets tests and benchmarks reuse a fresh build.

``tools/site/build.py`` writes ``<site>/.build-stamp.json`` after a successful strict build;
:func:`is_fresh` says whether the site in a folder was built from the current work tree.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tools.paths import ROOT

STAMP_NAME = ".build-stamp.json"
INPUT_GLOBS = ["pyproject.toml", "mkdocs.yml", "lite/*.json", "docs/**/*", "lesson/**/*.py",
               "lesson/**/*.proto", "lesson/**/*.json", "tools/**/*"]


def inputs_digest(notebooks: Path) -> str:
    """sha256 over every file the site is built from (the notebooks included)."""
    digest = hashlib.sha256()
    paths = {p for pattern in INPUT_GLOBS for p in ROOT.glob(pattern)}
    paths |= set(notebooks.glob("*.ipynb"))
    for path in sorted(p for p in paths if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def write_stamp(site_dir: Path, notebooks: Path, timings: dict[str, float]) -> None:
    """Record a successful build of the current inputs into ``site_dir``."""
    stamp = {"inputs": inputs_digest(notebooks), "notebooks": str(notebooks),
             "timings_s": {k: round(v, 1) for k, v in timings.items()}}
    (site_dir / STAMP_NAME).write_text(json.dumps(stamp, indent=1))


def is_fresh(site_dir: Path, notebooks: Path) -> bool:
    """True when ``site_dir`` holds a strict build of the current inputs."""
    path = site_dir / STAMP_NAME
    if not path.exists():
        return False
    return json.loads(path.read_text()).get("inputs") == inputs_digest(notebooks)
