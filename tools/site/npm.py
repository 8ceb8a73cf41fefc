"""Fetch pinned npm packages once into ``.cache/npm`` (registry only, no CDN).

    .venv/bin/python -m tools.site.npm pyodide@314.0.6   # prints the unpacked folder
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from tools.paths import CACHE

NPM_CACHE = CACHE / "npm"


def npm_package(name: str, version: str, cache: Path = NPM_CACHE) -> Path:
    """Return the unpacked ``package/`` folder of ``name@version`` from the npm registry.

    Args:
        name: npm package name, scoped names allowed (``@jupyter-widgets/html-manager``).
        version: an exact version (pins are checked by the callers).
        cache: download cache; a second call costs nothing.
    """
    slug = name.lstrip("@").replace("/", "-")
    target = cache / f"{slug}-{version}"
    if (target / "package" / "package.json").exists():
        return target / "package"
    if shutil.which("npm") is None:
        raise SystemExit("npm is missing: apt-get install -y npm (needed to fetch "
                         f"{name}@{version} from the npm registry)")
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / f"{slug}-{version}.tgz"
    if not tarball.exists():
        subprocess.run(["npm", "pack", "-q", f"{name}@{version}"], cwd=cache, check=True,
                       stdout=subprocess.DEVNULL)
    if not tarball.exists():
        raise SystemExit(f"npm pack did not produce {tarball.name}")
    tmp = target.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(tarball) as tf:
        tf.extractall(tmp, filter="data")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target / "package"


if __name__ == "__main__":
    for spec in sys.argv[1:]:
        pkg, _, ver = spec.rpartition("@")
        print(npm_package(pkg, ver))
