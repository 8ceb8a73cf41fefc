"""Fixtures for the site tests: one strict build of the site, reused when it is fresh.

``make test`` builds the site first (``make site``); the session fixture reuses that build
when ``site/.build-stamp.json`` matches the current inputs, and otherwise builds it again
with ``tools/build_site.py`` (strict). ``SITE_TEST_NOTEBOOKS=DIR`` builds from another
notebook folder; ``SITE_TEST_REUSE=1`` reuses any stamped build (both for developing the
site while the package and notebooks change under it); ``SITE_TEST_DIR=DIR`` uses (or builds)
the site in another folder than ``./site``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the site tests import the build's modules as tools.…
    sys.path.insert(0, str(ROOT))

from tools.site.browser import chromium_path
from tools.site.stamp import is_fresh

NOTEBOOKS = Path(os.environ.get("SITE_TEST_NOTEBOOKS", ROOT / "notebooks"))
SITE = Path(os.environ.get("SITE_TEST_DIR", ROOT / "site"))
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def notebooks() -> list[Path]:
    found = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert found, f"no notebooks in {NOTEBOOKS}"
    return found


@pytest.fixture(scope="session")
def site(notebooks) -> Path:
    """The built site folder (strict build of the current inputs)."""
    reuse = os.environ.get("SITE_TEST_REUSE") == "1" and (SITE / ".build-stamp.json").exists()
    if not reuse and not is_fresh(SITE, NOTEBOOKS):
        done = subprocess.run([sys.executable, str(ROOT / "tools" / "build_site.py"),
                               "--notebooks", str(NOTEBOOKS), "--site-dir", str(SITE)],
                              cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, f"site build failed:\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    assert reuse or is_fresh(SITE, NOTEBOOKS), "the build did not stamp the site"
    return SITE


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; skipped with the reason when it is missing (failed on CI)."""
    path = chromium_path()
    if path is None:
        reason = ("chromium is not installed (/usr/bin/chromium): `apt-get install -y "
                  "chromium`, which `make test` does")
        if os.environ.get("CI"):
            pytest.fail(reason + " -- on CI the browser tests must run")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
